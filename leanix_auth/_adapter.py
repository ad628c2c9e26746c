"""`AuthAdapter`, the part every adapter shares: what it holds (settings, the token keeper, the
bearer's scope, the shared cache) and what it offers besides moving bytes: `get_token()`,
`refresh()`, the repr, and pickles that carry configuration only. `AsyncAdapter` adds
`aget_token()` and `arefresh()` for the adapters that run on an event loop."""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar, cast

from ._blocking import drive
from ._config import BearerScope, Settings
from ._effects import AccessToken, ExchangeRequest, Failure, Reply, TokenFlow
from ._errors import LeanIXConfigError
from ._flows import obtain, renew
from ._keeper import TokenKeeper
from ._shared import SharedCache, TokenCache


class AuthAdapter:
    """The base of `LeanIXAuth`, `LeanIXHttpxAuth` and `LeanIXAiohttpMiddleware`: each adds how
    it moves bytes."""

    _settings: Settings
    _cache: TokenCache | None

    # What a pickle or a copy carries: configuration only. No access token, lock or thread;
    # everything else is derived again by `_hold`. Adapters add their own configuration.
    _configuration: ClassVar[tuple[str, ...]] = ("_settings", "_cache")

    def _hold(self, settings: Settings, cache: TokenCache | None) -> None:
        self._settings = settings
        self._cache = _checked_cache(cache)
        self._keeper = TokenKeeper()
        self._shared = SharedCache(self._cache) if self._cache is not None else None
        self._scope = BearerScope(settings.origin, settings.extra_origins)

    @property
    def base_url(self) -> str:
        """The workspace's origin, such as `https://acme.leanix.net`."""
        return self._settings.base_url

    @property
    def token_url(self) -> str:
        """The token endpoint the API token is exchanged at."""
        return self._settings.token_url

    def _admits(self, url: str) -> bool:
        """May `url` receive the bearer? The workspace's origin, an extra origin, or the token's
        instanceUrl."""
        token = self._keeper.valid_token()
        return self._scope.admits(url, token.instance_origin if token is not None else None)

    def get_token(self) -> str:
        """A valid access token, for clients this library does not wrap. Same cache, same rules;
        an exchange, when one is due, blocks this caller.

        **Raises:** `LeanIXTokenError` if none can be had (`LeanIXCredentialsError` if LeanIX
        rejected the API token).

        Usage::

            >>> headers = {"Authorization": f"Bearer {auth.get_token()}"}
        """
        token = self._keeper.fresh_token()
        if token is None:
            token = self._drive(obtain(self._keeper, self._settings, self._shared))
        return token.value

    def refresh(self) -> str:
        """Get a new access token now, whatever the one in hand, and return it; callers that ask
        together share one exchange. With a cache, a token another process stored that is
        before its refresh point counts as new.

        **Raises:** `LeanIXTokenError` if none can be had, even while the old token is valid
        (which stays in use).

        Usage::

            >>> auth.refresh()  # after rotating the Technical User's permissions, say
        """
        return self._drive(renew(self._keeper, self._settings, self._shared)).value

    def _drive(self, flow: TokenFlow) -> AccessToken:
        return drive(flow, self._send, self._keeper.clock)

    def _send(self, request: ExchangeRequest) -> Reply | Failure:
        raise NotImplementedError  # each adapter posts with its own HTTP client

    def _judge_resend(self, status: int, authorization: str) -> None:
        """The answer to a request resent with a token fetched for it, sent as `authorization`: a
        401 starts the cool-down; anything else ends the token's probation."""
        if status == 401:
            self._keeper.heals(authorization)
        else:
            self._keeper.accepted(authorization)

    def __repr__(self) -> str:
        settings = self.__dict__.get("_settings")  # a repr never raises, even half-built
        where = f"base_url={settings.base_url!r}" if settings is not None else "not configured"
        return f"{type(self).__name__}({where})"

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k in self._configuration}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._hold(self._settings, self._cache)


class AsyncAdapter(AuthAdapter):
    """The base of the adapters whose requests run on an event loop (httpx, aiohttp): the
    exchange goes through `_asend` and `_async.drive`."""

    async def aget_token(self) -> str:
        """`get_token()` for async code: a valid access token, the one in hand or one this task
        or another exchanges. Raises `LeanIXTokenError` if none can be had.

        Usage::

            >>> token = await auth.aget_token()
        """
        token = self._keeper.fresh_token()
        if token is None:
            token = await self._adrive(obtain(self._keeper, self._settings, self._shared))
        return token.value

    async def arefresh(self) -> str:
        """`refresh()` for async code: a new access token now. Raises `LeanIXTokenError` if none
        can be had.

        Usage::

            >>> token = await auth.arefresh()
        """
        return (await self._adrive(renew(self._keeper, self._settings, self._shared))).value

    async def _adrive(self, flow: TokenFlow) -> AccessToken:
        from . import _async  # deferred: requests, which never needs anyio, imports this module

        return await _async.drive(flow, self._asend, self._keeper.clock)

    async def _asend(self, request: ExchangeRequest) -> Reply | Failure:
        raise NotImplementedError  # each adapter posts with its own HTTP client


def _checked_cache(cache: object) -> TokenCache | None:
    """`cache` if it has what a TokenCache has; else a LeanIXConfigError that says what."""
    if cache is None:
        return None
    needed = ("load", "store", "discard", "lock")
    missing = [name for name in needed if not callable(getattr(cache, name, None))]
    if missing:
        raise LeanIXConfigError(
            f"cache must be a TokenCache (MemoryCache(), FileCache(), RedisCache(...) or an "
            f"object with load, store, discard and lock), got {type(cache).__name__} without "
            + ", ".join(missing)
        )
    return cast("TokenCache", cache)  # checked above, as far as a protocol can be at run time


_Client = TypeVar("_Client")


def checked_client(client: _Client | None, kind: type[_Client], keyword: str) -> _Client | None:
    """`client` if it is a `kind` (what carries the token exchange); else a LeanIXConfigError."""
    if client is not None and not isinstance(client, kind):
        expected = f"{kind.__module__.partition('.')[0]}.{kind.__qualname__}"
        raise LeanIXConfigError(
            f"{keyword} must be {expected} (it carries the token exchange), not "
            f"{type(client).__module__}.{type(client).__qualname__}"
        )
    return client
