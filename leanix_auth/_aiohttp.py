"""`LeanIXAiohttpMiddleware`: the adapter for aiohttp, as a client middleware (aiohttp 3.12.2+).

aiohttp runs a session's middlewares on every request and again on every redirect hop, each hop
a new request: so the scope check below runs per hop, and a hop to another origin never gets
the bearer. A 401 to our bearer is answered by resending the same request once through
`handler`, unless its body was streamed and cannot be sent again. The token exchange runs on a
private `aiohttp.ClientSession` of ours, never `request.session`: the user's cookies, trace
configs, `raise_for_status`, other middlewares and `ClientTimeout` never see or bound it.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import anyio

try:
    import aiohttp
except ImportError as missing:  # pragma: no cover - shown by a test in a subprocess
    raise ImportError(
        f"LeanIXAiohttpMiddleware needs aiohttp ({missing.name} is missing): "
        'pip install "leanix-auth[aiohttp]"',
        name=missing.name,
    ) from None
from yarl import URL

from . import _config
from ._adapter import AsyncAdapter
from ._config import DEFAULT_MANDATORY_MARGIN, DEFAULT_REFRESH_MARGIN, DEFAULT_TIMEOUT, Settings
from ._effects import AccessToken, ExchangeRequest, Failure, Reply, too_slow
from ._exchange import MAX_TOKEN_RESPONSE, certificate_failure
from ._flows import obtain, replace_refused
from ._observe import OnExchange
from ._shared import TokenCache

_AUTHORIZATION = "Authorization"


class LeanIXAiohttpMiddleware(AsyncAdapter):
    """aiohttp client middleware for SAP LeanIX (aiohttp 3.12.2 or newer).

    Exchanges the API token through a private session, reuses the access token while valid,
    refreshes it ahead of expiry, and resends a request once if LeanIX answers 401. The bearer
    goes only to the workspace's origin (and the token's instanceUrl), checked on every hop.
    `await aget_token()` before the first request keeps the exchange out of that request's
    `ClientTimeout`, which aiohttp starts before any middleware runs.

    Usage::

        >>> leanix = LeanIXAiohttpMiddleware(api_token, subdomain="acme")
        >>> session = aiohttp.ClientSession(middlewares=(leanix,))
    """

    def __init__(
        self,
        api_token: str | Callable[[], str] | None = None,
        *,
        subdomain: str | None = None,
        base_url: str | None = None,
        token_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        mandatory_margin: float = DEFAULT_MANDATORY_MARGIN,
        cache: TokenCache | None = None,
        extra_origins: Iterable[str] = (),
        on_exchange: OnExchange | None = None,
    ) -> None:
        """A middleware for any number of sessions, tasks and event loops.

        **Parameters:**

        * **api_token** - the Technical User's API token, or a callable that returns it (read
          at each exchange, so a rotated secret is picked up: see `api_token_file`). Default
          None: `LEANIX_API_TOKEN`, else the file named by `LEANIX_API_TOKEN_FILE`.
        * **subdomain** - the workspace's subdomain: `"acme"` for `https://acme.leanix.net`.
        * **base_url** - the workspace's origin, for a host outside `*.leanix.net`; https, or
          http on loopback. Default None for both: `LEANIX_BASE_URL`, else `LEANIX_SUBDOMAIN`.
        * **token_url** - the token endpoint. Default: `base_url` +
          `/services/mtm/v1/oauth2/token`.
        * **timeout** - seconds an attempt of the exchange waits for each read; an attempt as
          a whole ends at 1.2 times that, however slowly an answer drips. Default 10.
        * **refresh_margin** - seconds before expiry that one caller refreshes while the others
          go on. Default 300 (at most a quarter of the token's life).
        * **mandatory_margin** - seconds before expiry that every caller waits for a new token.
          Default 30 (at most 5 % of its life).
        * **cache** - a `TokenCache` (`MemoryCache()`, `FileCache()`, `RedisCache(...)`) to
          share one token; its I/O runs in a worker thread. Default None.
        * **extra_origins** - more origins that receive the bearer, such as
          `["https://eu-svc.leanix.net"]` for MTM on a regional service host; checked like
          `base_url`. Default: only the workspace's origin and the token's `instanceUrl`.
        * **on_exchange** - called with an `ExchangeEvent` after each exchange (why, outcome,
          duration; no secret), off the event loop; what it raises is logged. Default None.

        **Raises:** `LeanIXConfigError` (a `ValueError`) at once for any argument or environment
        variable that names no usable workspace, saying what to fix. Nothing is exchanged yet.
        """
        settings = _config.resolve(
            api_token,
            subdomain=subdomain,
            base_url=base_url,
            token_url=token_url,
            timeout=timeout,
            refresh_margin=refresh_margin,
            mandatory_margin=mandatory_margin,
            extra_origins=extra_origins,
            on_exchange=on_exchange,
        )
        self._hold(settings, cache)

    def _hold(self, settings: Settings, cache: TokenCache | None) -> None:
        super()._hold(settings, cache)
        origin = URL(settings.origin)
        self._raw_host, self._scheme, self._port = origin.raw_host, origin.scheme, origin.port
        self._clock = self._keeper.clock  # bound once: the hot path reads plain attributes

    async def __call__(
        self, request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        # Every request and every redirect hop comes through here. The common case is three URL
        # parts compared, one clock read and one header: the checks of `fresh_token`, written out.
        url = request.url
        token = self._keeper.current
        if (
            token is None
            or url.raw_host != self._raw_host
            or url.port != self._port
            or url.scheme != self._scheme
            or self._clock.monotonic() >= token.refresh_at
        ):
            token = await self._token_for(url)
            if token is None:
                return await handler(request)  # another origin: no bearer, no retry
        request.headers[_AUTHORIZATION] = token.authorization
        response = await handler(request)
        if response.status == 401:
            return await self._resend(request, handler, response, token)
        keeper = self._keeper
        if keeper.probation is not None or keeper.cooling is not None:
            keeper.accepted(token.authorization)
        return response

    async def _resend(
        self,
        request: aiohttp.ClientRequest,
        handler: aiohttp.ClientHandlerType,
        response: aiohttp.ClientResponse,
        token: AccessToken,
    ) -> aiohttp.ClientResponse:
        """The API refused `token`: send the request once more with a new one, if its body can go
        again and a new token may heal the refusal; else the 401 is the caller's."""
        if not _resendable(request) or not self._keeper.heals(token.authorization):
            return response
        response.release()  # its connection goes back first: a wave of 401s must not starve it
        retry = replace_refused(self._keeper, self._settings, self._shared, token.authorization)
        token = await self._adrive(retry)
        request.headers[_AUTHORIZATION] = token.authorization
        response = await handler(request)  # aiohttp lets a middleware send its request again
        self._judge_resend(response.status, token.authorization)
        return response

    async def _token_for(self, url: URL) -> AccessToken | None:
        """Off the common path: None for an origin that may not have the bearer; else a token,
        the one in hand or one this task or another exchanges."""
        if not self._admits(str(url)):
            return None
        return await self._adrive(obtain(self._keeper, self._settings, self._shared))

    def _send(self, request: ExchangeRequest) -> Reply | Failure:
        # get_token() and refresh() block their caller by contract; aiohttp needs an event loop,
        # and this thread may run one already: the exchange gets a loop of its own in a thread.
        with ThreadPoolExecutor(1, thread_name_prefix="leanix-auth-exchange") as pool:
            return pool.submit(asyncio.run, self._asend(request)).result()

    async def _asend(self, request: ExchangeRequest) -> Reply | Failure:
        # A session per exchange (one an hour: nothing worth pooling), so that it belongs to
        # whichever event loop runs this exchange. trust_env=False: it would consult ~/.netrc,
        # whose entry for the workspace clashes with our Basic header; proxies come below.
        timeout = aiohttp.ClientTimeout(sock_connect=request.timeout, sock_read=request.timeout)
        try:
            trusted = _trusted()
        except (OSError, ssl.SSLError) as exc:  # a bundle that cannot be read: say so, once
            return Failure(f"SSL_CERT_FILE names no CA bundle it can read: {exc}", retryable=False)
        connector = aiohttp.TCPConnector(ssl=trusted)
        session = aiohttp.ClientSession(
            connector=connector, trust_env=False, timeout=timeout, raise_for_status=False
        )
        try:
            return await _post(session, request)
        finally:
            with anyio.CancelScope(shield=True):  # a cancelled exchange still closes its sockets
                await session.close()


def _trusted() -> ssl.SSLContext | bool:
    """The CAs the exchange trusts: SSL_CERT_FILE's bundle if set, as requests and httpx do
    (aiohttp reads its default context once, at import); otherwise aiohttp's default."""
    bundle = os.environ.get("SSL_CERT_FILE")
    return ssl.create_default_context(cafile=bundle) if bundle else True


def _resendable(request: aiohttp.ClientRequest) -> bool:
    """Can this request's body be sent again? Not once it is `consumed` (an async generator, a
    pipe): aiohttp would resend it empty. No body at all is `b""`, which has no `consumed`."""
    return not getattr(request.body, "consumed", False)


# The exchange, on a session that is never the user's: no middlewares, no redirects, no cookies
# of theirs, bounded by our own timeout as a whole.


async def _post(session: aiohttp.ClientSession, request: ExchangeRequest) -> Reply | Failure:
    response = None
    try:
        with anyio.fail_after(request.limit):  # the whole attempt; the session times each read
            response = await session.post(
                request.url,
                data=request.body,
                headers=dict(request.headers),
                allow_redirects=False,
                proxy=_environment_proxy(request.url),
            )
            body = await _read_capped(response.content)
    except aiohttp.ClientError as exc:
        return _failure(exc, request, answered=response is not None)
    except (TimeoutError, asyncio.TimeoutError):  # distinct types before Python 3.11
        return too_slow(request)
    finally:
        if response is not None:
            response.release()
    headers = {key.lower(): value for key, value in response.headers.items()}
    return Reply(response.status, headers, body)


async def _read_capped(content: aiohttp.StreamReader) -> bytes:
    """The answer's body up to just past the cap (a token answer is about 2 KB)."""
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_TOKEN_RESPONSE:
        chunk = await content.read(MAX_TOKEN_RESPONSE + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _environment_proxy(url: str) -> str | None:
    """The proxy that HTTPS_PROXY / HTTP_PROXY (or the system) name for `url`, unless NO_PROXY
    exempts its host: what aiohttp's trust_env would pick, without its netrc lookup."""
    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy is None or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxy


_TRUST = "set SSL_CERT_FILE to its CA bundle (the exchange's own session reads it)"


def _failure(exc: aiohttp.ClientError, request: ExchangeRequest, *, answered: bool) -> Failure:
    """What a transport error means for the retry rules, worded like the other adapters."""
    tls = certificate_failure(exc, _TRUST)
    if tls is not None:
        return tls
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return Failure(f"no connection within {request.timeout:g} s", retryable=True)
    if answered:  # the status line came, then the answer broke off or stalled: try again
        if isinstance(exc, aiohttp.ServerTimeoutError):
            return too_slow(request)
        return Failure(f"the answer broke off ({type(exc).__name__})", retryable=True)
    if isinstance(exc, aiohttp.ServerTimeoutError):  # the endpoint may still be working on it
        return Failure(f"no answer within {request.timeout:g} s", retryable=False)
    return Failure(str(exc)[:200] or type(exc).__name__, retryable=True)
