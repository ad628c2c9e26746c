"""A cold process that calls LeanIX once through a shared cache; the cache tests start many.

    python tests/cache_worker.py {requests|httpx} CACHE [--twice]

CACHE is `file DIR`, `redis URL` (a redis:// or valkey:// URL), `cluster URL` (any one node's)
or `sentinel HOST:PORT,... NAME` (the master that the sentinels name).

It prints the status of its call, or "error" and the LeanIXAuthError's message. With --twice it
then prints "ready", waits for a line on standard input, calls again and prints that status: how
the tests line processes up behind a revocation.
"""

from __future__ import annotations

import os
import sys
from typing import Any, cast

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
from leanix_auth._clock import HandClock


def shared_cache(cache_kind: str, target: str) -> TokenCache:
    if cache_kind == "file":
        return FileCache(target)
    if cache_kind == "sentinel":
        return sentinel_cache(target.split(","), sys.argv[4])
    return RedisCache.from_url(target, cluster=cache_kind == "cluster")


def sentinel_cache(addresses: list[str], name: str) -> TokenCache:
    """As the README says: the master the sentinels name, with retries that span a failover."""
    from redis import Sentinel
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError, TimeoutError
    from redis.retry import Retry

    hosts = [(host, int(port)) for host, _, port in (a.rpartition(":") for a in addresses)]
    sentinel = cast(Any, Sentinel)(hosts, socket_timeout=0.5)  # untyped in redis-py
    client = sentinel.master_for(
        name,
        socket_timeout=0.5,
        retry=Retry(ExponentialBackoff(cap=0.5), retries=20),
        retry_on_error=[ConnectionError, TimeoutError],
    )
    return RedisCache(client)


def main() -> None:
    if os.environ.get("WORKER_HAND_CLOCK"):  # pauses (back-off, Retry-After) taken at once
        with HandClock().install():
            run()
    else:
        run()


def run() -> None:
    kind, cache_kind, target = sys.argv[1:4]
    cache = shared_cache(cache_kind, target)
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
