"""Single flight: any number of threads or tasks that need a token at once cause one exchange."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

import anyio
import httpx
import requests

from leanix_auth import LeanIXAuth, LeanIXHttpxAuth, MemoryCache
from leanix_auth.testing import LeanIXServer

from ..clients import in_tasks


def test_64_threads_on_requests_share_one_exchange(leanix_server: LeanIXServer) -> None:
    leanix_server.token_delay = 0.2  # a slow endpoint widens the window for a stampede
    auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url)

    def work(_: int) -> list[int]:
        with requests.Session() as session:
            session.auth = auth
            return [
                session.get(leanix_server.base_url + "/services/a/v1").status_code for _ in range(3)
            ]

    with ThreadPoolExecutor(64) as pool:
        statuses = [s for batch in pool.map(work, range(64)) for s in batch]
    assert statuses == [200] * 192
    assert len(leanix_server.token_requests) == 1


def test_threads_on_one_httpx_client_share_one_exchange(leanix_server: LeanIXServer) -> None:
    leanix_server.token_delay = 0.2
    auth = LeanIXHttpxAuth(leanix_server.api_token, base_url=leanix_server.base_url)
    limits = httpx.Limits(max_connections=40)
    with httpx.Client(auth=auth, limits=limits) as client, ThreadPoolExecutor(32) as pool:
        statuses = list(
            pool.map(
                lambda _: client.get(leanix_server.base_url + "/services/a/v1").status_code,
                range(96),
            )
        )
    assert statuses == [200] * 96
    assert len(leanix_server.token_requests) == 1


def test_100_tasks_share_one_exchange(leanix_server: LeanIXServer, backend: str) -> None:
    # 100 tasks prove single flight as well as 500 do; benchmarks/ keeps the 500.
    leanix_server.token_delay = 0.2
    auth = LeanIXHttpxAuth(leanix_server.api_token, base_url=leanix_server.base_url)

    async def main() -> list[int]:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(auth=auth, limits=limits, timeout=30) as client:
            answers = await in_tasks(
                100, lambda: client.get(leanix_server.base_url + "/services/a/v1")
            )
        return [a.status_code for a in answers]

    assert anyio.run(main, backend=backend) == [200] * 100
    assert len(leanix_server.token_requests) == 1


def test_waiters_share_the_failure_instead_of_retrying_one_by_one(
    leanix_server: LeanIXServer,
) -> None:
    leanix_server.token_delay = 0.2
    leanix_server.api_token = "changed-on-the-server"  # so every exchange is refused
    auth = LeanIXAuth("the-old-token", base_url=leanix_server.base_url)

    def work(_: int) -> str:
        try:
            return auth.get_token()
        except Exception as exc:
            return type(exc).__name__

    with ThreadPoolExecutor(16) as pool:
        outcomes = set(pool.map(work, range(16)))
    assert outcomes == {"LeanIXCredentialsError"}
    assert len(leanix_server.token_requests) == 1


def test_many_401s_after_a_revocation_cause_one_new_exchange(leanix_server: LeanIXServer) -> None:
    auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url)
    auth.get_token()
    leanix_server.revoke_tokens()
    leanix_server.token_delay = 0.2

    def work(_: int) -> int:
        with requests.Session() as session:
            session.auth = auth
            return session.get(leanix_server.base_url + "/services/a/v1").status_code

    with ThreadPoolExecutor(16) as pool:
        assert list(pool.map(work, range(16))) == [200] * 16
    assert len(leanix_server.token_requests) == 2


def test_50_tasks_with_a_memory_cache_share_one_exchange(
    leanix_server: LeanIXServer, backend: str
) -> None:
    leanix_server.token_delay = 0.2
    cache = MemoryCache()
    auths = [
        LeanIXHttpxAuth(leanix_server.api_token, base_url=leanix_server.base_url, cache=cache)
        for _ in range(2)
    ]

    async def main() -> list[int]:
        async with (
            httpx.AsyncClient(auth=auths[0]) as one,
            httpx.AsyncClient(auth=auths[1]) as two,
        ):
            clients = itertools.cycle([one, two])  # two auth objects, one cache, all at once
            answers = await in_tasks(
                50, lambda: next(clients).get(leanix_server.base_url + "/services/a/v1")
            )
        return [a.status_code for a in answers]

    assert anyio.run(main, backend=backend) == [200] * 50
    assert len(leanix_server.token_requests) == 1
