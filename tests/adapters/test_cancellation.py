"""Cancellation never fails bystanders, and no wait for another caller's exchange is unbounded."""

from __future__ import annotations

import asyncio
import threading

import anyio
import httpx
import pytest

from leanix_auth import CacheLock, LeanIXAuth, LeanIXHttpxAuth, LeanIXTokenError, MemoryCache
from leanix_auth.testing import LeanIXServer

from ..clients import until


def test_cancelling_the_exchanging_task_fails_none_of_its_99_waiters(
    leanix_server: LeanIXServer, backend: str
) -> None:
    leanix_server.token_delay = 0.5
    auth = LeanIXHttpxAuth(leanix_server.api_token, base_url=leanix_server.base_url)
    url = leanix_server.base_url + "/services/a/v1"
    statuses: list[int] = []

    async def main() -> None:
        exchanging = anyio.CancelScope()
        async with (
            httpx.AsyncClient(auth=auth, timeout=30) as client,
            anyio.create_task_group() as group,
        ):

            async def first() -> None:
                with exchanging:
                    await client.get(url)

            async def waiter() -> None:
                statuses.append((await client.get(url)).status_code)

            group.start_soon(first)
            await until(lambda: leanix_server.token_requests)  # its exchange is under way
            for _ in range(99):
                group.start_soon(waiter)
            await anyio.sleep(0.1)  # let the 99 line up behind it
            exchanging.cancel()

    anyio.run(main, backend=backend)
    assert statuses == [200] * 99
    assert len(set(leanix_server.issued_tokens)) <= 2
    assert len({r.bearer for r in leanix_server.api_requests}) == 1


def test_an_exchange_that_timed_out_is_a_timeout_for_every_waiter(
    leanix_server: LeanIXServer, backend: str
) -> None:
    leanix_server.token_delay = 1.0
    auth = LeanIXHttpxAuth(leanix_server.api_token, base_url=leanix_server.base_url, timeout=0.3)
    errors: list[str] = []

    async def main() -> None:
        async with httpx.AsyncClient(auth=auth) as client:

            async def one() -> None:
                try:
                    await client.get(leanix_server.base_url + "/services/a/v1")
                except LeanIXTokenError as error:
                    errors.append(str(error))

            async with anyio.create_task_group() as group:
                for _ in range(10):
                    group.start_soon(one)

    anyio.run(main, backend=backend)
    assert len(errors) == 10
    assert all("no answer within 0.3 s" in error for error in errors)


def test_a_waiter_gives_up_on_an_exchange_that_never_ends_and_the_next_call_exchanges(
    leanix_server: LeanIXServer,
) -> None:
    leanix_server.token_delay = 30  # the stalled exchange's request stays unanswered
    auth = LeanIXHttpxAuth(leanix_server.api_token, base_url=leanix_server.base_url, timeout=0.1)
    loop = asyncio.new_event_loop()
    stalled = loop.create_task(auth.aget_token())
    loop.run_until_complete(until(lambda: leanix_server.token_requests))
    # The loop stops with the exchange half done: its task is suspended, never resumed or closed.
    leanix_server.token_delay = 0
    try:
        with pytest.raises(LeanIXTokenError, match=r"did not finish within 2\.48 s"):
            auth.get_token()  # waits the exchange budget: 4 attempts of 0.12 s and 2 s to spare
        assert auth.get_token() in leanix_server.issued_tokens
    finally:
        stalled.cancel()
        loop.run_until_complete(asyncio.gather(stalled, return_exceptions=True))
        loop.close()


class LockRecordingCache(MemoryCache):
    def __init__(self) -> None:
        super().__init__()
        self.keys: list[str] = []

    def lock(self, key: str, ttl: float) -> CacheLock:
        self.keys.append(key)
        return super().lock(key, ttl)


def test_a_cache_lock_taken_for_a_cancelled_task_is_released(
    leanix_server: LeanIXServer, backend: str
) -> None:
    cache = LockRecordingCache()
    options = {"base_url": leanix_server.base_url, "cache": cache}
    value = LeanIXAuth(leanix_server.api_token, **options).get_token()  # type: ignore[arg-type]
    [key] = cache.keys
    cache.discard(key, value)
    blocker = cache.lock(key, 60)
    assert blocker.acquire(timeout=1)  # another holder: the task's worker thread must wait
    auth = LeanIXHttpxAuth(leanix_server.api_token, **options)  # type: ignore[arg-type]

    async def main() -> None:
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(auth.aget_token)
                await until(lambda: len(cache.keys) == 3)  # its worker thread waits for the lock
                await anyio.sleep(0.1)
                scope.cancel()

    anyio.run(main, backend=backend)
    blocker.release()  # the abandoned worker thread now gets the lock: it must give it back
    assert cache.lock(key, 60).acquire(timeout=5)
    assert len(leanix_server.token_requests) == 1


def test_threads_each_with_their_own_loop_share_one_exchange(leanix_server: LeanIXServer) -> None:
    leanix_server.token_delay = 0.3
    auth = LeanIXHttpxAuth(leanix_server.api_token, base_url=leanix_server.base_url)
    statuses: list[int] = []

    async def calls(count: int) -> None:
        async with httpx.AsyncClient(auth=auth) as client:
            for _ in range(count):
                statuses.append(
                    (await client.get(leanix_server.base_url + "/services/a/v1")).status_code
                )

    threads = [
        threading.Thread(target=anyio.run, args=(calls, 3), kwargs={"backend": backend})
        for backend in ["asyncio", "trio"] * 4
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 24
    assert len(leanix_server.token_requests) == 1
