"""One token for the whole fleet: real processes sharing a FileCache or a real redis-server."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
import requests

from leanix_auth import (
    CacheLock,
    FileCache,
    LeanIXAuth,
    LeanIXConfigError,
    LeanIXHttpxAuth,
    MemoryCache,
    RedisCache,
    SharedToken,
    TokenCache,
)
from leanix_auth.testing import HandClock, LeanIXServer

from ..servers import (
    NO_SERVER,
    finish,
    free_port,
    server_binary,
    servers,
    start_single,
    start_workers,
)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = server_binary()
    if binary is None:
        pytest.skip(NO_SERVER)
    with servers(binary, tmp_path_factory.mktemp("redis")) as started:
        yield f"redis://127.0.0.1:{start_single(started)}/0"


@pytest.fixture
def redis_cache(redis_url: str) -> Iterator[RedisCache]:
    cache = RedisCache.from_url(redis_url)
    cache.client.flushdb()
    yield cache
    cache.client.close()


@pytest.fixture(params=["file", "redis"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> list[str]:
    """What the worker processes share: a cache directory, or a (flushed) Redis."""
    if request.param == "file":
        return ["file", str(tmp_path / "shared")]
    url = str(request.getfixturevalue("redis_url"))
    flusher = RedisCache.from_url(url)
    flusher.client.flushdb()
    flusher.client.close()
    return ["redis", url]


# Eight cold processes prove single flight across processes (without the lock, each of them
# exchanges); benchmarks/ runs the big fleets.


def test_8_cold_processes_make_one_exchange(
    shared: list[str], leanix_server: LeanIXServer, tmp_path: Path
) -> None:
    leanix_server.token_delay = 0.3  # a slow endpoint gives a stampede every chance
    outputs = finish(start_workers(leanix_server, 8, shared, tmp_path))
    assert [o.split() for o in outputs] == [["200"]] * 8
    assert len(leanix_server.token_requests) == 1


def test_a_429_storm_across_8_processes_still_makes_one_exchange(
    shared: list[str], leanix_server: LeanIXServer, tmp_path: Path
) -> None:
    # Workers' budget: 4 attempts of 2.4 s, and 2 s to spare. The first Retry-After fits in it;
    # the second does not, so that exchange ends, saying so, while the others still wait for
    # the lock: then one of them exchanges and the rest take its token. The workers' pauses
    # are on a hand clock: taken at once, as counted.
    leanix_server.fail_token_requests(429, times=2, retry_after=6)
    workers = start_workers(leanix_server, 8, shared, tmp_path, env={"WORKER_HAND_CLOCK": "1"})
    outputs = [o.strip() for o in finish(workers)]
    errors = [o for o in outputs if o.startswith("error")]
    assert outputs.count("200") == 7
    assert len(errors) == 1
    assert "LeanIX asked to be called again in 6 s" in errors[0]
    assert len(leanix_server.issued_tokens) == 1


def test_a_revocation_seen_by_8_processes_causes_one_exchange(
    shared: list[str], leanix_server: LeanIXServer, tmp_path: Path
) -> None:
    processes = start_workers(leanix_server, 8, shared, tmp_path, "--twice")
    for process in processes:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "200"
        assert process.stdout.readline().strip() == "ready"
    assert len(leanix_server.token_requests) == 1
    leanix_server.token_delay = 0.3
    leanix_server.revoke_tokens()
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    outputs = finish(processes)
    assert [o.strip() for o in outputs] == ["200"] * 8
    assert len(leanix_server.token_requests) == 2  # one refresh for all eight


def test_a_killed_lock_holder_stalls_nobody(
    shared: list[str], leanix_server: LeanIXServer, tmp_path: Path
) -> None:
    leanix_server.token_delay = 30  # the first process will hold the lock for ever
    quick = {"WORKER_TIMEOUT": "0.5"}  # a 4.4 s budget: how long a dead holder's lock lives
    [holder] = start_workers(leanix_server, 1, shared, tmp_path, env=quick)
    deadline = time.monotonic() + 10
    while not leanix_server.token_requests:  # now it holds the lock, mid-exchange
        assert time.monotonic() < deadline
        time.sleep(0.01)
    holder.send_signal(signal.SIGKILL)
    holder.communicate()
    leanix_server.token_delay = 0
    started = time.monotonic()
    [second] = start_workers(leanix_server, 1, shared, tmp_path, env=quick)
    assert finish([second]) == ["200\n"]
    assert len(leanix_server.token_requests) == 2
    if shared[0] == "file":
        # The OS released the lock at once: the second did not sit out the 4.4 s exchange
        # budget (with Redis it may: the lock lapses after its PX, that same budget).
        assert time.monotonic() - started < 4


def test_redis_holds_no_api_token_and_its_ttl_ends_before_exp(
    leanix_server: LeanIXServer, redis_cache: RedisCache
) -> None:
    auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url, cache=redis_cache)
    auth.get_token()
    keys = redis_cache.client.keys("*")
    assert keys
    for key in keys:
        assert leanix_server.api_token.encode() not in key
        value = redis_cache.client.get(key)
        assert value is None or leanix_server.api_token.encode() not in value
    [key] = [k for k in keys if not k.endswith(b":lock")]
    assert 3590_000 < redis_cache.client.pttl(key) < 3600_000


@pytest.mark.parametrize("broken", ["closed port", "hangs"])
def test_a_redis_that_is_down_or_hangs_costs_a_warning_not_the_integration(
    broken: str, leanix_server: LeanIXServer, all_logs: list[logging.LogRecord]
) -> None:
    listener = socket.create_server(("127.0.0.1", 0)) if broken == "hangs" else None
    port = listener.getsockname()[1] if listener is not None else free_port()
    try:
        cache = RedisCache.from_url(f"redis://127.0.0.1:{port}/0", timeout=0.3)
        auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url, cache=cache)
        assert auth.get_token() in leanix_server.issued_tokens
    finally:
        if listener is not None:
            listener.close()
        cache.client.close()
    warnings = [r.getMessage() for r in all_logs if r.levelno == logging.WARNING]
    assert any("token cache unavailable" in w for w in warnings)


def test_auth_objects_sharing_a_cache_refresh_once_per_lifetime(
    leanix_server: LeanIXServer, tmp_path: Path, clock: HandClock
) -> None:
    # Eight auth objects stand for eight processes: each has its own memory, they share a file.
    leanix_server.token_ttl = 5  # 4 s counted: refresh window from 3 s
    cache = FileCache(tmp_path / "shared")
    auths = [
        LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url, cache=cache)
        for _ in range(8)
    ]
    sessions = []
    for auth in auths:
        session = requests.Session()
        session.auth = auth
        sessions.append(session)
    try:
        for session in sessions:
            assert session.get(leanix_server.base_url + "/services/a/v1").status_code == 200
        clock.advance(3.2)  # into the refresh window
        for _ in range(3):
            for session in sessions:
                assert session.get(leanix_server.base_url + "/services/a/v1").status_code == 200
            clock.advance(0.2)
    finally:
        for session in sessions:
            session.close()
    assert len(leanix_server.token_requests) == 2  # the first, and one refresh for all eight


def test_a_memory_cache_shares_tokens_between_auth_objects(leanix_server: LeanIXServer) -> None:
    cache = MemoryCache()
    one = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url, cache=cache)
    two = LeanIXHttpxAuth(leanix_server.api_token, base_url=leanix_server.base_url, cache=cache)
    assert one.get_token() == two.get_token()
    assert len(leanix_server.token_requests) == 1


class ThreadRecordingCache(MemoryCache):
    """A user's own cache (any TokenCache will do) that notes which thread calls it."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[str] = set()

    def load(self, key: str) -> SharedToken | None:
        self.threads.add(threading.current_thread().name)
        return super().load(key)

    def lock(self, key: str, ttl: float) -> CacheLock:
        self.threads.add(threading.current_thread().name)
        return super().lock(key, ttl)


def test_async_clients_never_run_cache_io_on_the_event_loop(
    leanix_server: LeanIXServer, backend: str
) -> None:
    cache = ThreadRecordingCache()
    auth = LeanIXHttpxAuth(leanix_server.api_token, base_url=leanix_server.base_url, cache=cache)

    async def main() -> int:
        async with httpx.AsyncClient(auth=auth) as client:
            return (await client.get(leanix_server.base_url + "/services/a/v1")).status_code

    assert anyio.run(main, backend=backend) == 200
    assert cache.threads
    assert threading.main_thread().name not in cache.threads


def test_a_shared_token_outside_the_mandatory_window_is_used_as_it_is(
    leanix_server: LeanIXServer, tmp_path: Path
) -> None:
    cache = FileCache(tmp_path / "shared")
    first = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url, cache=cache)
    token = first.get_token()
    later = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url, cache=cache)
    assert later.get_token() == token
    assert len(leanix_server.token_requests) == 1


def test_a_file_cache_closes_a_directory_others_could_read(
    leanix_server: LeanIXServer, tmp_path: Path
) -> None:
    directory = tmp_path / "shared"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    auth = LeanIXAuth(
        leanix_server.api_token, base_url=leanix_server.base_url, cache=FileCache(directory)
    )
    auth.get_token()
    assert directory.stat().st_mode & 0o777 == 0o700
    assert all(entry.stat().st_mode & 0o777 == 0o600 for entry in directory.iterdir())


class DictCache:
    """A custom cache built from the public protocol only, as a user would write one."""

    def __init__(self) -> None:
        self.tokens: dict[str, SharedToken] = {}
        self.locks: dict[str, threading.Lock] = {}

    def load(self, key: str) -> SharedToken | None:
        return self.tokens.get(key)

    def store(self, key: str, token: SharedToken) -> None:
        self.tokens[key] = token

    def discard(self, key: str, value: str) -> None:
        if key in self.tokens and self.tokens[key].value == value:
            del self.tokens[key]

    def lock(self, key: str, ttl: float) -> CacheLock:
        return self.locks.setdefault(key, threading.Lock())


def test_a_custom_cache_from_the_public_protocol_shares_one_token(
    leanix_server: LeanIXServer,
) -> None:
    cache: TokenCache = DictCache()
    one = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url, cache=cache)
    two = LeanIXHttpxAuth(leanix_server.api_token, base_url=leanix_server.base_url, cache=cache)
    assert one.get_token() == two.get_token()
    assert len(leanix_server.token_requests) == 1
    leanix_server.revoke_tokens()
    with requests.Session() as session:
        session.auth = one
        assert session.get(leanix_server.base_url + "/services/a/v1").status_code == 200
    old = one.get_token()
    assert two.refresh() == old  # the token `one` stored after the 401 is new to `two`
    assert one.refresh() != old  # but not to `one`, which holds it: a forced refresh exchanges
    assert len(leanix_server.token_requests) == 3


def test_a_redis_cache_lock_is_redis_pys_own_on_our_protocol(redis_cache: RedisCache) -> None:
    import redis.lock

    one, two = redis_cache.lock("key", 10), redis_cache.lock("key", 10)
    assert isinstance(one, redis.lock.Lock)
    assert one.acquire(timeout=0)
    assert not two.acquire(timeout=0.1)  # held: waits its timeout, then says so
    one.release()
    assert two.acquire(timeout=0)
    two.release()


def test_a_redis_cache_lock_is_released_from_another_thread(redis_cache: RedisCache) -> None:
    # The async adapters run acquire and release as blocking calls, maybe on different threads.
    lock = redis_cache.lock("key", 10)
    thread = threading.Thread(target=lambda: lock.acquire(timeout=1))
    thread.start()
    thread.join()
    lock.release()
    assert redis_cache.client.keys("*") == []


def test_releasing_a_redis_cache_lock_that_lapsed_leaves_the_new_holders_alone(
    redis_cache: RedisCache,
) -> None:
    lapsed, taker = redis_cache.lock("key", 10), redis_cache.lock("key", 10)
    assert lapsed.acquire(timeout=0)
    [name] = redis_cache.client.keys("*:lock")
    redis_cache.client.delete(name)  # as when its PX ran out during a long exchange
    assert taker.acquire(timeout=0)
    lapsed.release()  # no error: what was stored stands, and nothing of ours is left
    assert redis_cache.client.exists(name)
    assert not redis_cache.lock("key", 10).acquire(timeout=0)  # still the taker's
    taker.release()


def test_a_file_cache_is_refused_where_there_are_no_posix_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(os, "name", "nt")
    with pytest.raises(LeanIXConfigError, match="POSIX"):
        FileCache(tmp_path)
