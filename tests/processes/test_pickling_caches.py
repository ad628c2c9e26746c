"""An auth object with a cache crosses to other processes (a spawned pool pickles it) when its
cache can: a FileCache as its directory, a RedisCache from a URL as the URL and its options. A
cache that cannot says so, and what to use instead."""

from __future__ import annotations

import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
import redis

from leanix_auth import FileCache, LeanIXAuth, MemoryCache, RedisCache, TokenCache
from leanix_auth.testing import LeanIXServer

from .test_caches import redis_url  # noqa: F401  (the fixture: one real redis-server)


def token_in_a_worker(auth: LeanIXAuth) -> str:
    return auth.get_token()


@pytest.mark.parametrize("where", ["file", "redis"])
def test_an_auth_object_with_a_shared_cache_works_in_spawned_workers(
    where: str, leanix_server: LeanIXServer, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    cache: TokenCache
    if where == "file":
        cache = FileCache(tmp_path / "shared")
    else:
        url = request.getfixturevalue("redis_url")
        cache = RedisCache.from_url(url, prefix=f"{tmp_path.name}:")
    auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url, cache=cache)
    token = auth.get_token()
    spawn = multiprocessing.get_context("spawn")  # as on macOS and Windows: all by pickle
    with ProcessPoolExecutor(2, mp_context=spawn) as pool:
        taken = list(pool.map(token_in_a_worker, [auth, auth]))
    assert taken == [token, token]  # from the shared cache the pickle named
    assert len(leanix_server.token_requests) == 1


@pytest.mark.parametrize("cluster", [False, True])
def test_a_redis_cache_from_a_url_pickles_as_its_url_and_options(cluster: bool) -> None:
    cache = RedisCache.from_url("redis://127.0.0.1:1/3", timeout=0.25, prefix="p:", cluster=cluster)
    clone = pickle.loads(pickle.dumps(cache))
    assert clone.prefix == "p:"
    if cluster:  # a cluster client asks its node for the others when made: refused at port 1
        with pytest.raises(redis.exceptions.RedisClusterException):
            clone.client  # noqa: B018
        return
    pool = clone.client.connection_pool.connection_kwargs
    assert (pool["port"], pool["db"], pool["socket_timeout"]) == (1, 3, 0.25)
    assert pool["socket_connect_timeout"] == 0.25


def test_a_redis_cache_on_a_client_object_says_to_use_from_url() -> None:
    cache = RedisCache(redis.Redis(host="127.0.0.1", port=1))
    auth = LeanIXAuth("api-token", subdomain="acme", cache=cache)
    with pytest.raises(TypeError, match=r"RedisCache\.from_url"):
        pickle.dumps(auth)


def test_a_memory_cache_says_it_cannot_cross_processes_and_what_can() -> None:
    auth = LeanIXAuth("api-token", subdomain="acme", cache=MemoryCache())
    with pytest.raises(TypeError, match="MemoryCache") as raised:
        pickle.dumps(auth)
    assert "FileCache" in str(raised.value)
    assert "RedisCache" in str(raised.value)
