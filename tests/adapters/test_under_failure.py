"""Under sustained failure the library stays bounded: a wrong API token or an API that refuses
every token costs a few exchanges, not one per call. Time moves by hand (`clock.advance`)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from leanix_auth import (
    CacheLock,
    LeanIXAuth,
    LeanIXCredentialsError,
    LeanIXHttpxAuth,
    LeanIXTokenError,
    MemoryCache,
    SharedToken,
    api_token_file,
)
from leanix_auth._clock import HandClock
from leanix_auth._keeper import FAILED_EXCHANGE_BACKOFF, REFUSED_FRESH_COOL_DOWN, backoff
from leanix_auth.testing import LeanIXServer

from ..clients import Callers, until

SYNC_KINDS = ["requests", "httpx"]


def test_the_pause_after_failures_grows_and_stays_capped_whatever_the_count() -> None:
    low, high = FAILED_EXCHANGE_BACKOFF
    assert [backoff(n) for n in (1, 2, 3)] == [low, 2 * low, 4 * low]
    assert backoff(1_025) == backoff(10**9) == high  # once 2.0 ** 1024 overflowed here


@pytest.mark.parametrize("kind", SYNC_KINDS)
def test_a_wrong_api_token_for_1100_calls_backs_off_and_heals_when_its_source_changes(
    kind: str, leanix_server: LeanIXServer, make_caller: Callers, clock: HandClock
) -> None:
    source = ["not-the-right-one"]
    call, _ = make_caller(kind, leanix_server, api_token=lambda: source[0])
    url = leanix_server.base_url + "/services/a/v1"
    errors = []
    for _ in range(1_100):
        with pytest.raises(LeanIXCredentialsError) as caught:
            call(url)
        errors.append(caught.value)
        clock.advance(1)
    assert all("rejected the API token" in str(error) for error in errors)
    # Exchanges at 0, 1, 3, 7, 15, 31 and 63 s, then one a minute (the cap) up to 1,099 s.
    assert len(leanix_server.token_requests) == 6 + len(range(63, 1_100, 60))
    assert clock.slept == []  # no call waited: inside a pause, the last error at once
    source[0] = leanix_server.api_token  # rotated: the pause ends at once
    assert call(url) == 200


@pytest.mark.parametrize("kind", SYNC_KINDS)
def test_200_calls_to_a_route_that_always_refuses_make_two_exchanges(
    kind: str, leanix_server: LeanIXServer, make_caller: Callers, clock: HandClock
) -> None:
    leanix_server.add("GET", "/services/a/v1/forbidden", status=401)
    call, _ = make_caller(kind, leanix_server)
    statuses = [call(leanix_server.base_url + "/services/a/v1/forbidden") for _ in range(200)]
    assert statuses == [401] * 200
    # The first 401 is healed with a new token; that one is refused at once too: the API refuses
    # fresh tokens, so their 401s pass through for the cool-down.
    assert len(leanix_server.token_requests) == 2
    clock.advance(REFUSED_FRESH_COOL_DOWN)
    assert call(leanix_server.base_url + "/services/a/v1/forbidden") == 401
    assert len(leanix_server.token_requests) == 3  # the cool-down is over: one more try


@pytest.mark.parametrize("kind", SYNC_KINDS)
def test_16_threads_on_a_route_that_always_refuses_make_at_most_3_exchanges(
    kind: str, leanix_server: LeanIXServer, make_caller: Callers, clock: HandClock
) -> None:
    leanix_server.add("GET", "/services/a/v1/forbidden", status=401)
    call, _ = make_caller(kind, leanix_server)
    statuses: list[int] = []

    def worker() -> None:
        statuses.extend(
            call(leanix_server.base_url + "/services/a/v1/forbidden") for _ in range(13)
        )

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [401] * 16 * 13
    assert len(leanix_server.token_requests) <= 3


@pytest.mark.parametrize("kind", SYNC_KINDS)
def test_a_token_accepted_after_a_refusal_heals_its_revocation_at_once(
    kind: str, leanix_server: LeanIXServer, make_caller: Callers, clock: HandClock
) -> None:
    leanix_server.add("GET", "/services/a/v1/forbidden", status=401)
    call, _ = make_caller(kind, leanix_server)
    assert call(leanix_server.base_url + "/services/a/v1/forbidden") == 401
    assert call(leanix_server.base_url + "/services/a/v1") == 200  # the fresh token is good
    leanix_server.revoke_tokens()
    assert call(leanix_server.base_url + "/services/a/v1") == 200  # healed on the first call
    assert len(leanix_server.token_requests) == 3


class _BusyElsewhere:
    """A lock another process holds for the whole budget, storing its token meanwhile."""

    def __init__(self, meanwhile: Callable[[], None]) -> None:
        self._meanwhile = meanwhile

    def acquire(self, *, timeout: float) -> bool:
        self._meanwhile()
        return False

    def release(self) -> None:
        raise AssertionError("never held, never released")


class LockedElsewhere(MemoryCache):
    def __init__(self, stored_meanwhile: str) -> None:
        super().__init__()
        self.loads = 0
        self._value = stored_meanwhile

    def load(self, key: str) -> SharedToken | None:
        self.loads += 1
        return super().load(key)

    def lock(self, key: str, ttl: float) -> CacheLock:
        return _BusyElsewhere(lambda: self.store(key, SharedToken(self._value, 3600, 3599)))


def test_a_lock_busy_for_the_whole_budget_sends_the_waiter_to_the_cache_not_to_leanix(
    leanix_server: LeanIXServer,
) -> None:
    theirs = leanix_server.issue_token()  # as if another process had exchanged
    cache = LockedElsewhere(stored_meanwhile=theirs)
    auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url, cache=cache)
    assert auth.get_token() == theirs
    assert cache.loads == 2  # before the lock, and again after waiting for it
    assert leanix_server.token_requests == []


class _Down:
    def __init__(self, cache: Outage, lock: CacheLock) -> None:
        self._cache, self._lock = cache, lock

    def acquire(self, *, timeout: float) -> bool:
        self._cache.check()
        return self._lock.acquire(timeout=timeout)

    def release(self) -> None:
        self._cache.check()
        self._lock.release()


class Outage(MemoryCache):
    """A cache whose server is down until `down` is False; `lock()` does no I/O, as Redis's."""

    down = True

    def check(self) -> None:
        if self.down:
            raise ConnectionError("connection refused")

    def load(self, key: str) -> SharedToken | None:
        self.check()
        return super().load(key)

    def store(self, key: str, token: SharedToken) -> None:
        self.check()
        super().store(key, token)

    def lock(self, key: str, ttl: float) -> CacheLock:
        return _Down(self, super().lock(key, ttl))


def test_a_cache_outage_is_one_warning_when_it_starts_and_one_line_when_it_ends(
    leanix_server: LeanIXServer, all_logs: list[logging.LogRecord]
) -> None:
    cache = Outage()
    auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url, cache=cache)
    for _ in range(3):
        auth.refresh()
    said = [(r.levelname, r.getMessage()) for r in all_logs if "cache" in r.getMessage()]
    assert [level for level, _ in said] == ["WARNING"]
    assert "token cache unavailable" in said[0][1]
    cache.down = False
    auth.refresh()
    said = [(r.levelname, r.getMessage()) for r in all_logs if "cache" in r.getMessage()]
    assert said[1:] == [("INFO", "token cache answers again")]
    assert len(leanix_server.token_requests) == 4


def test_a_sync_call_on_the_loop_that_exchanges_fails_at_once_and_harms_no_task(
    leanix_server: LeanIXServer, backend: str
) -> None:
    leanix_server.token_delay = 0.3  # the task's exchange is under way while the sync call comes
    auth = LeanIXHttpxAuth(leanix_server.api_token, base_url=leanix_server.base_url)
    tokens: list[str] = []

    async def exchanging() -> None:
        tokens.append(await auth.aget_token())

    async def main() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(exchanging)
            await until(lambda: leanix_server.token_requests)
            with pytest.raises(LeanIXTokenError, match=r"await auth.aget_token\(\)"):
                auth.get_token()  # blocking this loop would stall `exchanging` for good

    anyio.run(main, backend=backend)
    assert tokens == leanix_server.issued_tokens
    assert len(leanix_server.token_requests) == 1


def test_a_source_that_never_answers_fails_calls_within_the_budget_and_strands_no_threads(
    leanix_server: LeanIXServer, clock: HandClock
) -> None:
    release = threading.Event()

    def vault_read() -> str:  # a secrets manager that hangs
        release.wait()
        return leanix_server.api_token

    auth = LeanIXAuth(vault_read, base_url=leanix_server.base_url, timeout=0.5)
    threads_before = threading.active_count()
    errors: list[LeanIXCredentialsError] = []

    def call() -> None:
        with pytest.raises(LeanIXCredentialsError) as caught:
            auth.get_token()
        errors.append(caught.value)

    callers = [threading.Thread(target=call) for _ in range(20)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=30)
    for _ in range(20):  # inside the pause: the last error at once, the reader still hung
        call()
    assert len(errors) == 40
    assert all("vault_read" in str(e) and "no answer within 0.5 s" in str(e) for e in errors)
    assert threading.active_count() <= threads_before + 1  # the one hung read, no more
    release.set()  # the source answers at last: once the pause is over, the next call heals
    clock.advance(FAILED_EXCHANGE_BACKOFF[0])
    assert auth.get_token() in leanix_server.issued_tokens


def test_a_fifo_without_a_writer_blocks_no_construction(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    source = api_token_file(fifo)  # returns: read when an exchange is due, within its budget
    assert repr(source) == f"api_token_file({str(fifo)!r})"
