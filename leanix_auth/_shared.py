"""One token for many processes and machines: the `TokenCache` protocol and the exchange that
goes through it. The cache's I/O is yielded as `BlockingCall` effects, so that async adapters run it
off the event loop; a broken cache costs a warning, never a request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Protocol

from ._config import Settings
from ._effects import BlockingCall, Effect, TokenFlow
from ._exchange import (
    HEADER_SAFE,
    AccessToken,
    access_token,
    claims_of,
    exchange_budget,
    exchange_rotating,
    read_api_token,
)
from ._shared_token import SharedToken

if TYPE_CHECKING:
    from ._keeper import TokenKeeper

__all__ = ["CacheLock", "SharedToken", "TokenCache", "shared_exchange"]

logger = logging.getLogger("leanix_auth")


class CacheLock(Protocol):
    """A lock across processes. `threading.Lock` is one, for a cache inside one process."""

    def acquire(self, *, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the lock; False if another holder kept it."""

    def release(self) -> None: ...


class TokenCache(Protocol):
    """Where processes share tokens. Keys are derived from the token URL and a hash of the API
    token in use (`Settings.cache_key`), never the token itself."""

    def load(self, key: str) -> SharedToken | None: ...

    def store(self, key: str, token: SharedToken) -> None: ...

    def discard(self, key: str, value: str) -> None:
        """Forget the token for `key` if it is still `value` (a newer one stays)."""

    def lock(self, key: str, ttl: float) -> CacheLock:
        """A lock for single flight across processes; it lapses after `ttl` seconds if its holder
        dies without releasing it."""


def shared_exchange(
    keeper: TokenKeeper, settings: Settings, cache: TokenCache, *, ahead: bool
) -> TokenFlow:
    """An exchange for everyone who shares `cache`: take a token another process stored if it
    will do; else take the lock, look again, and only then exchange and store. Tokens are kept
    under the key of the API token in use (`keeper.cache_key`)."""
    api_token = yield from read_api_token(settings)
    key = keeper.cache_key = settings.cache_key(api_token)
    token = yield from _adopt(keeper, settings, cache, key, ahead=ahead)
    if token is not None:
        return token
    budget = exchange_budget(settings)
    lock: CacheLock | None = yield BlockingCall(
        guarded(keeper, lambda: cache.lock(key, budget), None)
    )
    release = guarded(keeper, lock.release, None) if lock is not None else None
    held = False
    if lock is not None:
        acquire = guarded(keeper, lambda: lock.acquire(timeout=budget), False)
        held = bool((yield BlockingCall(acquire, undo=lambda got: got and release and release())))
    try:
        token = (yield from _adopt(keeper, settings, cache, key, ahead=ahead)) if held else None
        if token is None:
            rotating = exchange_rotating(settings, keeper.clock, api_token, ahead=ahead)
            token, used = yield from rotating
            shared = SharedToken(token.value, token.lifetime, token.expires_at - keeper.clock())
            store_key = keeper.cache_key = settings.cache_key(used)  # rotated: under the new key
            yield BlockingCall(guarded(keeper, lambda: cache.store(store_key, shared), None))
    except BaseException:
        if held and release is not None:  # we may be closing and unable to yield: release here
            release()
        raise
    if held and release is not None:
        yield BlockingCall(release)
    return token


def _adopt(
    keeper: TokenKeeper, settings: Settings, cache: TokenCache, key: str, *, ahead: bool
) -> Generator[Effect, Any, AccessToken | None]:
    """The cache's token, if it is good enough: before its refresh window when we are refreshing
    ahead, before its mandatory window when we have none; never one the API refused, nor the
    one in hand (whoever asks for a new token wants another)."""
    shared = yield BlockingCall(guarded(keeper, lambda: cache.load(key), None))
    if not isinstance(shared, SharedToken) or shared.value in keeper.refused_values:
        return None
    if not isinstance(shared.value, str) or not HEADER_SAFE.issuperset(shared.value or "\n"):
        return None  # a poisoned entry (CR, LF, non-ASCII): as if there were none
    held = keeper.current
    if held is not None and held.value == shared.value:
        return None
    now = keeper.clock()
    token = access_token(
        shared.value, claims_of(shared.value), shared.lifetime, now + shared.remaining, settings
    )
    if now < (token.refresh_at if ahead else token.mandatory_at):
        logger.debug(
            "LeanIX access token taken from the shared cache, %.0f s left", shared.remaining
        )
        return token
    return None


def guarded(keeper: TokenKeeper, call: Callable[[], Any], fallback: Any) -> Callable[[], Any]:
    """`call`, but a broken cache only costs a warning: the integration goes on without it. One
    warning when the cache starts failing and one line when it answers again, not one a call."""

    def run() -> Any:
        try:
            result = call()
        except Exception as error:
            if not keeper.cache_failing:
                keeper.cache_failing = True
                logger.warning(
                    "token cache unavailable, going on without it until it answers again: %s: %s",
                    type(error).__name__,
                    str(error)[:200],
                )
            return fallback
        if keeper.cache_failing:
            keeper.cache_failing = False
            logger.info("token cache answers again")
        return result

    return run
