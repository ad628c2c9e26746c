"""One token for many processes and machines: the `TokenCache` protocol, and `SharedCache`, which
owns everything about one auth object's use of a cache. The cache's I/O is yielded as
`BlockingCall` effects, so that async adapters run it off the event loop; a broken cache costs a
warning, never a request.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable, Generator
from typing import Any, Protocol, TypeVar

from ._clock import Clock
from ._config import MAX_LIFETIME, Settings
from ._effects import AccessToken, BlockingCall, Effect, TokenFlow
from ._exchange import (
    HEADER_SAFE,
    access_token,
    claims_of,
    exchange_budget,
    exchange_rotating,
)
from ._observe import ExchangeEvent, Reason
from ._shared_token import SharedToken
from ._token_source import Secret

__all__ = ["CacheLock", "SharedCache", "SharedToken", "TokenCache"]

logger = logging.getLogger("leanix_auth")

T = TypeVar("T")
Asking = Generator[BlockingCall, Any, T]


class CacheLock(Protocol):
    """A lock across processes, what `TokenCache.lock()` returns. `threading.Lock` is one, for a
    cache inside one process.

    Usage::

        >>> lock = cache.lock(key, ttl=42.0)
        >>> if lock.acquire(timeout=42.0): ...; lock.release()
    """

    def acquire(self, *, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the lock; False if another holder kept it."""

    def release(self) -> None:
        """Let the lock go. One that lapsed meanwhile (its `ttl` passed) is no error."""


class TokenCache(Protocol):
    """Where processes share tokens: any object with these four methods is a cache for
    `cache=`. Keys are derived from the token URL and a hash of the API token in use, never the
    token itself. What a method raises costs a warning and a local exchange, never a request.

    Usage::

        >>> class DictCache: ...  # load, store, discard and lock, as in the README
        >>> auth = LeanIXAuth(api_token, subdomain="acme", cache=DictCache())
    """

    def load(self, key: str) -> SharedToken | None:
        """The token stored for `key` with its `remaining` life now, or None."""

    def store(self, key: str, token: SharedToken) -> None:
        """Keep `token` for `key` until its `remaining` life runs out."""

    def discard(self, key: str, value: str) -> None:
        """Forget the token for `key` if it is still `value` (a newer one stays)."""

    def lock(self, key: str, ttl: float) -> CacheLock:
        """A lock on `key`, for single flight across processes; it lapses after `ttl` seconds if
        its holder dies without releasing it."""


class SharedCache:
    """A `TokenCache` as one auth object uses it: the key of the API token in use, the token
    values the API refused (never taken from the cache again), and whether the cache is failing,
    so that an outage is logged once when it starts and once when it ends."""

    def __init__(self, cache: TokenCache) -> None:
        self.cache = cache
        self.key: str | None = None
        self.failing = False
        self.refused: deque[str] = deque(maxlen=4)

    def exchange(
        self,
        settings: Settings,
        clock: Clock,
        api_token: Secret,
        held: AccessToken | None,
        *,
        reason: Reason,
        seen: list[ExchangeEvent],
    ) -> TokenFlow:
        """An exchange of `api_token` for everyone who shares the cache: take a token another
        process stored if it will do; else take the lock, look again, and only then exchange and
        store. `held` is the token in hand, which whoever asks for a new token does not want
        back. Only an exchange with the endpoint is noted in `seen` (an `ExchangeEvent`): a
        token adopted from the cache cost no exchange, and another process counted its own."""
        ahead = reason in ("ahead", "forced")
        key = self.key = settings.cache_key(api_token)
        token = yield from self._adopt(key, settings, clock, held, ahead=ahead)
        if token is not None:
            return token
        budget = exchange_budget(settings)
        # lock() builds an object (RedisCache's does no I/O): its success proves nothing.
        lock = yield from self._ask(lambda: self.cache.lock(key, budget), None, answers=False)
        got = None if lock is None else (yield from self._acquire(lock, budget))
        locked = lock if got else None
        try:
            if got is not None:
                # Held, or another holder kept it for the whole budget: either way another
                # process may have stored a token meanwhile. Look again before exchanging.
                token = yield from self._adopt(key, settings, clock, held, ahead=ahead)
            if token is None:
                token, used = yield from exchange_rotating(settings, clock, api_token, reason, seen)
                shared = SharedToken(
                    token.value, token.lifetime, token.expires_at - clock.monotonic()
                )
                store_key = self.key = settings.cache_key(used)  # rotated: under the new key
                store = lambda: self.cache.store(store_key, shared)  # noqa: E731
                yield from self._ask(store, None, secret=shared.value)
        except BaseException:
            if locked is not None:  # we may be closing and unable to yield: release here
                self._release_now(locked)
            raise
        if locked is not None:
            yield from self._ask(locked.release, None)
        return token

    def forget(self, value: str) -> Asking[None]:
        """The API refused the token `value`: never take it from the cache again, and drop it
        from the cache if it is still the shared one."""
        self.refused.append(value)
        key = self.key
        if key is not None:
            yield from self._ask(lambda: self.cache.discard(key, value), None, secret=value)

    def _adopt(
        self, key: str, settings: Settings, clock: Clock, held: AccessToken | None, *, ahead: bool
    ) -> Generator[Effect, Any, AccessToken | None]:
        """The cache's token, if it is good enough: before its refresh window when we are
        refreshing ahead, before its mandatory window when we have none; never one the API
        refused, nor the one in hand."""
        shared = yield from self._ask(lambda: self.cache.load(key), None)
        if not isinstance(shared, SharedToken) or shared.value in self.refused:
            return None
        if not isinstance(shared.value, str) or not HEADER_SAFE.issuperset(shared.value or "\n"):
            return None  # a poisoned entry (CR, LF, non-ASCII): as if there were none
        if held is not None and held.value == shared.value:
            return None
        life, left = _trusted_life(shared)
        if life is None:
            return None  # a life that is no number of seconds: as if there were no entry
        now = clock.monotonic()
        token = access_token(shared.value, claims_of(shared.value), life, now + left, settings)
        if now < (token.refresh_at if ahead else token.mandatory_at):
            logger.debug(
                "LeanIX access token taken from the shared cache, %.0f s left", shared.remaining
            )
            return token
        return None

    def _acquire(self, lock: CacheLock, budget: float) -> Asking[bool | None]:
        """True: held; False: another holder kept it for the whole budget; None: the cache
        failed."""

        def undo(got: object) -> None:  # cancelled while the thread waited: hand the lock back
            if got:
                self._release_now(lock)

        got = yield from self._ask(lambda: bool(lock.acquire(timeout=budget)), None, undo)
        return got

    def _ask(
        self,
        call: Callable[[], T],
        fallback: T,
        undo: Callable[[Any], object] | None = None,
        *,
        answers: bool = True,
        secret: str | None = None,
    ) -> Asking[T]:
        """`call()` off the event loop; if the cache fails, a warning and `fallback`: the
        integration goes on without it. `answers`: a success shows that the cache answers;
        `secret`: the token the call hands the cache, never to be logged."""
        try:
            result: T = yield BlockingCall(call, undo)
        except Exception as error:
            self._failed(error, secret)
            return fallback
        if answers:
            self._answered()
        return result

    def _release_now(self, lock: CacheLock) -> None:
        try:
            lock.release()
        except Exception as error:
            self._failed(error)

    def _failed(self, error: Exception, secret: str | None = None) -> None:
        """Say once that the cache fails; never its words if they quote the token it was given
        (a custom cache's error may echo what it could not store)."""
        if not self.failing:
            self.failing = True
            words = str(error)
            if secret and secret in words:
                words = "its message withheld: it quotes the access token"
            logger.warning(
                "token cache unavailable, going on without it until it answers again: %s: %s",
                type(error).__name__,
                words[:200],
            )

    def _answered(self) -> None:
        if self.failing:
            self.failing = False
            logger.info("token cache answers again")


def _trusted_life(shared: SharedToken) -> tuple[float | None, float]:
    """The entry's lifetime and what is left of it, as far as we trust them: finite, positive,
    and no more than a token gets from an exchange (MAX_LIFETIME), whoever wrote the entry."""
    numbers = (shared.lifetime, shared.remaining)
    if not all(isinstance(n, int | float) and math.isfinite(n) and n > 0 for n in numbers):
        return None, 0.0
    life = min(float(shared.lifetime), MAX_LIFETIME)
    return life, min(float(shared.remaining), life)
