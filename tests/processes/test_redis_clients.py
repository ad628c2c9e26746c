"""What RedisCache takes: synchronous Redis and Valkey clients, and the URLs it names. A wrong one
is a LeanIXConfigError when the cache is made, not a warning on every call later. No server is
needed: nothing here connects."""

from __future__ import annotations

import sys
from typing import Any

import pytest
import redis
import redis.asyncio

from leanix_auth import LeanIXConfigError, RedisCache


def test_an_asyncio_client_is_refused_at_once() -> None:
    client = redis.asyncio.Redis()
    with pytest.raises(LeanIXConfigError, match=r"synchronous client.*off the event loop"):
        RedisCache(client)


def test_a_valkey_asyncio_client_is_refused_at_once() -> None:
    import valkey.asyncio

    with pytest.raises(LeanIXConfigError, match="synchronous client"):
        RedisCache(valkey.asyncio.Valkey())


class CoroutineClient:
    """Not from redis.asyncio, but its methods are coroutines all the same."""

    async def get(self, name: str) -> Any: ...
    async def set(self, name: str, value: str, px: int) -> Any: ...
    async def pttl(self, name: str) -> Any: ...
    async def eval(self, script: str, numkeys: int, *args: str) -> Any: ...
    def pipeline(self) -> Any: ...
    def lock(self, name: str) -> Any: ...


def test_a_client_whose_methods_are_coroutines_is_refused() -> None:
    with pytest.raises(LeanIXConfigError, match="synchronous client"):
        RedisCache(CoroutineClient())


def test_a_url_or_a_stranger_in_place_of_a_client_is_refused() -> None:
    with pytest.raises(LeanIXConfigError, match=r"RedisCache\.from_url"):
        RedisCache("redis://cache:6379/0")
    with pytest.raises(LeanIXConfigError, match="without get, set, pttl, pipeline, eval, lock"):
        RedisCache(object())


@pytest.mark.parametrize("url", ["http://:s3cret@cache:6379", "cache:6379", "memcached://cache"])
def test_an_unknown_scheme_names_the_ones_taken_and_never_the_password(url: str) -> None:
    with pytest.raises(LeanIXConfigError) as raised:
        RedisCache.from_url(url)
    message = str(raised.value)
    for scheme in ("redis://", "rediss://", "unix://", "valkey://", "valkeys://"):
        assert scheme in message
    assert "s3cret" not in message


def test_each_url_builds_the_client_of_its_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    import valkey

    assert type(RedisCache.from_url("redis://cache:6379/0").client) is redis.Redis
    assert type(RedisCache.from_url("valkeys://cache:6379/0").client) is valkey.Valkey
    built: list[tuple[type, str]] = []  # a cluster client would connect: note what is built

    def record(kind: type, /, url: str, **options: object) -> object:
        built.append((kind, url))
        return kind

    for kind in (redis.RedisCluster, valkey.ValkeyCluster):
        monkeypatch.setattr(kind, "from_url", classmethod(record))
    for url in ("redis://cache:7000", "valkey://cache:7000"):
        assert RedisCache.from_url(url, cluster=True).client is not None
    assert built == [
        (redis.RedisCluster, "redis://cache:7000"),
        (valkey.ValkeyCluster, "valkey://cache:7000"),
    ]


def test_a_valkey_url_goes_through_redis_py_where_valkey_py_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "valkey", None)
    client = RedisCache.from_url("valkeys://cache:6379/0").client
    assert type(client) is redis.Redis
    assert client.connection_pool.connection_class is redis.SSLConnection


def test_a_cluster_url_connects_when_first_used_not_when_the_cache_is_made() -> None:
    cache = RedisCache.from_url("redis://127.0.0.1:1", cluster=True, timeout=0.1)  # nobody there
    with pytest.raises(redis.exceptions.RedisClusterException, match="cannot be connected"):
        cache.load("key")


def test_a_valkey_url_with_neither_client_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "valkey", None)
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ImportError, match=r'pip install "leanix-auth\[valkey\]"'):
        RedisCache.from_url("valkey://cache:6379/0")


def test_a_malformed_url_is_a_config_error() -> None:
    with pytest.raises(LeanIXConfigError, match="from_url"):
        RedisCache.from_url("redis://cache:6379/0?socket_timeout=soon")
