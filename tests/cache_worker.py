"""A cold process that calls LeanIX once through a shared cache; tests/test_caches.py starts many.

    python tests/cache_worker.py {requests|httpx} {file DIR|redis URL} [--twice]

It prints the status of its call, or "error" and the LeanIXAuthError's message. With --twice it
then prints "ready", waits for a line on standard input, calls again and prints that status: how
the tests line processes up behind a revocation.
"""

from __future__ import annotations

import os
import sys

import httpx
import requests

from leanix_auth import (
    FileCache,
    LeanIXAuth,
    LeanIXAuthError,
    LeanIXHttpxAuth,
    RedisCache,
    TokenCache,
)


def main() -> None:
    kind, cache_kind, target = sys.argv[1:4]
    cache: TokenCache = FileCache(target) if cache_kind == "file" else RedisCache.from_url(target)
    timeout = float(os.environ.get("WORKER_TIMEOUT", "10"))
    url = os.environ["LEANIX_BASE_URL"] + "/services/pathfinder/v1/x"
    if kind == "requests":
        session = requests.Session()
        session.auth = LeanIXAuth(cache=cache, timeout=timeout)

        def get() -> int:
            return session.get(url, timeout=60).status_code

    else:
        client = httpx.Client(auth=LeanIXHttpxAuth(cache=cache, timeout=timeout), timeout=60)

        def get() -> int:
            return client.get(url).status_code

    def call() -> str:
        try:
            return str(get())
        except LeanIXAuthError as error:
            return f"error {error}"

    print(call(), flush=True)
    if "--twice" in sys.argv:
        print("ready", flush=True)
        sys.stdin.readline()
        print(call(), flush=True)


if __name__ == "__main__":
    main()
