"""`RedisCache`: machines share one token through Redis or Valkey: one server, a Cluster, or the
master a Sentinel names. Redis's TTL carries the token's remaining life; redis-py's own lock (or
valkey-py's, its fork) gives single flight. The client libraries are imported only when used.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from ._errors import LeanIXConfigError
from ._shared_token import SharedToken

if TYPE_CHECKING:
    from types import ModuleType

    from redis.lock import Lock as _UpstreamLock

    from ._shared import CacheLock
else:
    _UpstreamLock = object  # the real base is the client library's Lock: see _lock_class

_POLL = 0.04  # seconds between tries of a lock held elsewhere
_SCHEMES = ("redis", "rediss", "unix", "valkey", "valkeys")
# What each client library calls its clients: (one server or Sentinel's master, a cluster).
_CLIENTS = {"redis": ("Redis", "RedisCluster"), "valkey": ("Valkey", "ValkeyCluster")}
_USED = ("get", "set", "pttl", "pipeline", "eval", "lock")  # the client methods we call


class RedisCache:
    """Tokens shared through Redis or Valkey by any number of machines.

    `client` is a synchronous `redis.Redis`, `redis.RedisCluster`, `Sentinel(...).master_for(name)`,
    `valkey.Valkey` or `valkey.ValkeyCluster`. Give it short socket timeouts (`from_url` does), so
    that a Redis that hangs costs a warning and a local exchange, not an outage. A token's key and
    its lock's share one hash tag (`leanix-auth:{key}`, `leanix-auth:{key}:lock`): on a cluster
    they live in one slot, so a script may always touch both.

    Usage::

        >>> auth = LeanIXHttpxAuth(cache=RedisCache.from_url("redis://cache:6379/0"))
        >>> auth = LeanIXAuth(cache=RedisCache(redis.Redis(host="cache", socket_timeout=0.5)))
    """

    _DISCARD = (
        "local v = redis.call('get', KEYS[1]) "
        "if v and cjson.decode(v)['access_token'] == ARGV[1] then "
        "return redis.call('del', KEYS[1]) end return 0"
    )

    def __init__(self, client: Any, *, prefix: str = "leanix-auth:") -> None:
        """**Parameters:**

        * **client** - a synchronous Redis or Valkey client (see the class), used as it is.
        * **prefix** - put before every key. Default `"leanix-auth:"`.

        **Raises:** `LeanIXConfigError` for an asyncio client (pass the synchronous one), a URL
        (use `RedisCache.from_url`) or an object that is no Redis client.
        """
        self.prefix = prefix
        self._client: Any = _checked_client(client)
        self._build: Callable[[], Any] | None = None
        self._recipe: tuple[str, float, bool] | None = None  # from_url's: what a pickle carries

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        timeout: float = 0.5,
        prefix: str = "leanix-auth:",
        cluster: bool = False,
    ) -> RedisCache:
        """A cache on the server at `url`; nothing connects until the cache is first used.

        **Parameters:**

        * **url** - `redis://`, `rediss://`, `unix://`, `valkey://` or `valkeys://` (the
          `valkey` client if installed, else redis-py), with a database, user and password
          as the client library reads them.
        * **timeout** - seconds for the client's connect and socket operations, short so that
          a Redis that hangs costs a warning and a local exchange. Default 0.5.
        * **prefix** - put before every key. Default `"leanix-auth:"`.
        * **cluster** - True for a Redis or Valkey Cluster, with any one node's URL; the
          client asks that node for the others when first used, so a cluster that is down
          at start-up costs warnings, not the start. Default False.

        **Raises:** `LeanIXConfigError` for a scheme it does not know or a URL the client
        library cannot read; `ImportError` without the client library (`pip install
        "leanix-auth[redis]"`).

        Usage::

            >>> cache = RedisCache.from_url("rediss://:password@cache:6380/0")
            >>> cache = RedisCache.from_url("redis://node-1:7000", cluster=True)
        """
        build = _builder(url, timeout=timeout, cluster=cluster)
        if not cluster:
            cache = cls(build(), prefix=prefix)  # a plain client connects only when used
        else:
            cache = cls.__new__(cls)
            cache.prefix, cache._client, cache._build = prefix, None, build
        cache._recipe = (url, timeout, cluster)
        return cache

    @property
    def client(self) -> Any:
        """The Redis or Valkey client."""
        if self._client is None and self._build is not None:
            # Threads that race here build a client each and one is dropped: cheaper than a
            # lock that a fork could leave held.
            self._client = self._build()
        return self._client

    def __repr__(self) -> str:
        return f"RedisCache(prefix={self.prefix!r})"  # never the URL: it may hold a password

    def __reduce__(self) -> tuple[Callable[..., RedisCache], tuple[str, float, str, bool]]:
        """A pickle of a cache made by `from_url` is that call: the URL (its password included)
        and the options; each process connects on its own. A client object holds connections
        of this process: a TypeError, pickle's own contract for what cannot be pickled."""
        if self._recipe is None:
            raise TypeError(
                "a RedisCache made from a client object cannot be pickled, as its client and "
                "connections belong to this process: make it with RedisCache.from_url(url) to "
                "use it in other processes"
            )
        url, timeout, cluster = self._recipe
        return _from_url, (url, timeout, self.prefix, cluster)

    def load(self, key: str) -> SharedToken | None:
        with _cluster_hint():
            pipe = self.client.pipeline()
            pipe.get(self._name(key))
            pipe.pttl(self._name(key))
            raw, pttl = pipe.execute()
        if raw is None or not isinstance(pttl, int) or pttl <= 0:
            return None
        try:
            data = json.loads(raw)
            return SharedToken(str(data["access_token"]), float(data["lifetime"]), pttl / 1000)
        except (ValueError, KeyError, TypeError):
            return None

    def store(self, key: str, token: SharedToken) -> None:
        payload = json.dumps({"access_token": token.value, "lifetime": token.lifetime})
        # Redis's own TTL carries the remaining life: it ends before exp, on Redis's clock.
        self.client.set(self._name(key), payload, px=max(int(token.remaining * 1000), 1))

    def discard(self, key: str, value: str) -> None:
        self.client.eval(self._DISCARD, 1, self._name(key), value)

    def lock(self, key: str, ttl: float) -> CacheLock:
        # The client library's own lock: SET NX PX, so a holder that died stalls nobody longer
        # than `ttl`; released by a script only while it is still ours. Not thread-local: an
        # async adapter may acquire and release it on different worker threads.
        client = self.client
        lock: CacheLock = client.lock(
            self._name(key) + ":lock",
            timeout=max(ttl, 0.001),  # 0 would be a lock that never lapses
            sleep=_POLL,
            thread_local=False,
            lock_class=_lock_class(_library_of(client)),
        )
        return lock

    def _name(self, key: str) -> str:
        # The braces are the hash tag: only what is inside picks the cluster slot, so the token
        # and its lock (this name and ":lock") always fall in one slot.
        return f"{self.prefix}{{{key}}}"


def _from_url(url: str, timeout: float, prefix: str, cluster: bool) -> RedisCache:
    """What a pickled `RedisCache.from_url(...)` is made again by."""
    return RedisCache.from_url(url, timeout=timeout, prefix=prefix, cluster=cluster)


class _CacheLockMixin(_UpstreamLock):
    """Our CacheLock protocol on the client library's own `Lock`: `acquire(timeout=...)` is its
    `acquire(blocking=True, blocking_timeout=...)`, and releasing a lock that lapsed is no error."""

    not_owned: ClassVar[type[Exception]] = Exception  # the library's LockNotOwnedError

    def acquire(self, *args: Any, timeout: float | None = None, **kwargs: Any) -> bool:
        if timeout is not None:
            kwargs.update(blocking=True, blocking_timeout=timeout)
        return bool(super().acquire(*args, **kwargs))

    def release(self) -> None:
        # Not owned: it lapsed (it lives one exchange budget) and may be another's by now. The
        # token we stored stands and nothing of ours is left to release: the cache is not
        # broken, so this is no warning for the caller to log.
        with contextlib.suppress(self.not_owned):
            super().release()


@functools.cache
def _lock_class(library: str) -> type[Any]:
    """`library`'s own Lock (redis-py's, or valkey-py's for its clients) taught our protocol."""
    import importlib

    base = importlib.import_module(f"{library}.lock").Lock
    not_owned = importlib.import_module(f"{library}.exceptions").LockNotOwnedError
    return type("RedisCacheLock", (_CacheLockMixin, base), {"not_owned": not_owned})


def _library_of(client: object) -> str:
    """ "valkey" for valkey-py's clients (a subclass of one too), else "redis"."""
    tops = {kind.__module__.partition(".")[0] for kind in type(client).__mro__}
    return "valkey" if "valkey" in tops else "redis"


@contextlib.contextmanager
def _cluster_hint() -> Iterator[None]:
    """A plain client on a cluster node gets MOVED for keys on other nodes: say what to do."""
    try:
        yield
    except Exception as error:
        if type(error).__name__ != "MovedError":
            raise
        raise LeanIXConfigError(
            "this Redis is a cluster: use RedisCache.from_url(url, cluster=True) "
            "or pass a RedisCluster client"
        ) from error


def _checked_client(client: object) -> Any:
    """`client` if it is a synchronous Redis or Valkey client; else a LeanIXConfigError."""
    if isinstance(client, str):
        raise LeanIXConfigError("RedisCache takes a client; for a URL use RedisCache.from_url(url)")
    missing = [name for name in _USED if not callable(getattr(client, name, None))]
    if missing:
        raise LeanIXConfigError(
            "RedisCache takes a redis.Redis, redis.RedisCluster or valkey.Valkey client, got "
            f"{type(client).__name__} without {', '.join(missing)}"
        )
    if _is_async(client):
        raise LeanIXConfigError(
            f"RedisCache takes a synchronous client, not {type(client).__module__}."
            f"{type(client).__name__}: pass redis.Redis, redis.RedisCluster or valkey.Valkey "
            "(the async adapters already run cache calls off the event loop)"
        )
    return client


def _is_async(client: object) -> bool:
    # An asyncio client's commands return coroutines: load would fail on each call, and store
    # would store nothing, silently. Its command methods are plain functions that return what
    # `execute_command` returns, so that one is looked at too.
    import inspect

    if "asyncio" in type(client).__module__.split("."):
        return True
    names = (*_USED, "execute_command")
    return any(inspect.iscoroutinefunction(getattr(client, name, None)) for name in names)


def _builder(url: str, *, timeout: float, cluster: bool) -> Callable[[], Any]:
    """What makes the client for `url`, checked now: the scheme, the library, the URL's form."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in _SCHEMES:
        raise LeanIXConfigError(
            f"RedisCache.from_url takes {', '.join(s + '://' for s in _SCHEMES)} URLs"
            + (f", not {scheme}://" if scheme.isalnum() else "")
        )
    library = _library_for(scheme)
    if library.__name__ == "redis" and scheme.startswith("valkey"):
        url = "redis" + url[len("valkey") :]  # redis-py speaks to a Valkey server as to Redis
    try:
        library.connection.parse_url(url)
    except ValueError as error:  # its messages name the fault, never the URL (or its password)
        raise LeanIXConfigError(f"RedisCache.from_url: {error}") from None
    kind = getattr(library, _CLIENTS[library.__name__][cluster])
    options = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    return functools.partial(kind.from_url, url, **options)


def _library_for(scheme: str) -> ModuleType:
    # A Valkey URL takes the valkey client if it is installed, else redis-py; the others redis-py.
    import importlib

    names = ("valkey", "redis") if scheme.startswith("valkey") else ("redis",)
    for name in names:
        with contextlib.suppress(ImportError):
            return importlib.import_module(name)
    extra = "valkey" if scheme.startswith("valkey") else "redis"
    raise ImportError(
        f'RedisCache needs {extra}: pip install "leanix-auth[{extra}]"', name=names[-1]
    )
