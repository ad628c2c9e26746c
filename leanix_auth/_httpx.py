"""`LeanIXHttpxAuth`: the adapter for httpx.Client and httpx.AsyncClient, asyncio or trio.

The auth flows only put the bearer on requests and resend once on a 401. The token exchange runs
beside them through a private client (or the `client=` / `async_client=` given for it), so the
user's event hooks, history, redirect settings and pool never see or hold it: `_blocking.drive`
carries out the core's effects for `sync_auth_flow`, `_async.drive` for `async_auth_flow`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable, Generator, Iterable, Mapping
from typing import Any

import anyio
import httpx

from . import _config
from ._adapter import AsyncAdapter, checked_client
from ._config import DEFAULT_MANDATORY_MARGIN, DEFAULT_REFRESH_MARGIN, DEFAULT_TIMEOUT, Settings
from ._effects import AccessToken, ExchangeRequest, Failure, Reply, too_slow
from ._exchange import MAX_TOKEN_RESPONSE, certificate_failure
from ._flows import obtain, replace_refused
from ._observe import OnExchange
from ._shared import TokenCache
from ._watchdog import Watchdog, watch


class LeanIXHttpxAuth(AsyncAdapter, httpx.Auth):
    """httpx auth for SAP LeanIX, for `httpx.Client` and `httpx.AsyncClient` (asyncio and trio).

    Exchanges the API token through a private client, reuses the access token while valid,
    refreshes it ahead of expiry, and resends a request once if LeanIX answers 401. The bearer
    goes only to the workspace's origin (and the token's instanceUrl).

    Usage::

        >>> auth = LeanIXHttpxAuth(api_token, subdomain="acme")
        >>> httpx.Client(auth=auth).get("https://acme.leanix.net/services/pathfinder/v1/...")
    """

    _configuration = (*AsyncAdapter._configuration, "_client", "_async_client")

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
        client: httpx.Client | None = None,
        async_client: httpx.AsyncClient | None = None,
        extra_origins: Iterable[str] = (),
        on_exchange: OnExchange | None = None,
    ) -> None:
        """An auth for `auth=` of any number of clients, sync and async, threads and tasks.

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
          share one token; under `AsyncClient` its I/O runs in a worker thread. Default None.
        * **client** - the `httpx.Client` that carries the exchange for sync requests,
          `get_token()` and `refresh()` (a proxy, a certificate, a transport). Default None: a
          private client per exchange that honours the environment (`trust_env`).
        * **async_client** - the same for async requests, `aget_token()` and `arefresh()`.
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
        self._client = checked_client(client, httpx.Client, "client")
        self._async_client = checked_client(async_client, httpx.AsyncClient, "async_client")
        self._hold(settings, cache)

    def _hold(self, settings: Settings, cache: TokenCache | None) -> None:
        super()._hold(settings, cache)
        origin = httpx.URL(settings.origin)
        self._raw_host, self._scheme, self._port = origin.raw_host, origin.scheme, origin.port

    def __call__(self, request: object) -> object:
        # requests calls its auth objects; httpx never calls this one (it is an httpx.Auth).
        raise TypeError(
            "LeanIXHttpxAuth is the auth for httpx; requests wants LeanIXAuth from leanix_auth"
        )

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """httpx.Client calls this for each `request`: the bearer on it, if its origin may have
        it, and one resend with a new token after a 401."""
        token = self._fresh_token_for(request)
        if token is None:
            if not self._admits(str(request.url)):
                yield request
                return
            token = self._drive(obtain(self._keeper, self._settings, self._shared))
        request.headers["Authorization"] = token.authorization
        response = yield request
        if not self._refused(request, response, token):
            return
        response.read()  # frees its connection first: a wave of 401s must not starve the pool
        retry = replace_refused(self._keeper, self._settings, self._shared, token.authorization)
        token = self._drive(retry)
        request.headers["Authorization"] = token.authorization
        self._judge_resend((yield request).status_code, token.authorization)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """`sync_auth_flow` for httpx.AsyncClient, for each `request`: the exchange, if due, runs
        in this task."""
        token = self._fresh_token_for(request)
        if token is None:
            if not self._admits(str(request.url)):
                yield request
                return
            token = await self._adrive(obtain(self._keeper, self._settings, self._shared))
        request.headers["Authorization"] = token.authorization
        response = yield request
        if not self._refused(request, response, token):
            return
        await response.aread()  # as in sync_auth_flow
        retry = replace_refused(self._keeper, self._settings, self._shared, token.authorization)
        token = await self._adrive(retry)
        request.headers["Authorization"] = token.authorization
        self._judge_resend((yield request).status_code, token.authorization)

    def _refused(
        self, request: httpx.Request, response: httpx.Response, token: AccessToken
    ) -> bool:
        """Should this response make us resend the request with a new token?"""
        keeper = self._keeper
        if response.status_code != 401:
            if keeper.probation is not None or keeper.cooling is not None:
                keeper.accepted(token.authorization)
            return False
        return _resendable(request, response, token) and keeper.heals(token.authorization)

    def _fresh_token_for(self, request: httpx.Request) -> AccessToken | None:
        """The token for a request to the workspace's own origin while it is fresh; else None.
        Compares URL parts: str(url) costs a microsecond."""
        url = request.url
        if url.raw_host == self._raw_host and url.scheme == self._scheme and url.port == self._port:
            return self._keeper.fresh_token()
        return None

    def _send(self, request: ExchangeRequest) -> Reply | Failure:
        if self._client is not None:
            return _post(self._client, request)
        with httpx.Client(trust_env=True) as client:  # one exchange an hour: nothing pooled
            return _post(client, request)

    async def _asend(self, request: ExchangeRequest) -> Reply | Failure:
        if self._async_client is not None:
            return await _apost(self._async_client, request)
        async with httpx.AsyncClient(trust_env=True) as client:
            return await _apost(client, request)


def _resendable(request: httpx.Request, response: httpx.Response, token: AccessToken) -> bool:
    """Is this 401 an answer to our bearer, for a request we can send again?"""
    if response.request.headers.get("Authorization") != token.authorization:
        return False  # a redirect took the request elsewhere, without our bearer: not our 401
    try:
        request.content  # noqa: B018 - raises if the body is a stream that is gone once sent
    except httpx.RequestNotRead:
        return False
    return True


# The exchange, on a client that is never the user's auth flow: no auth, no redirects.


def _post(client: httpx.Client, request: ExchangeRequest) -> Reply | Failure:
    """One attempt, bounded as a whole: the watchdog shuts a new connection's socket down at the
    limit, however slowly the answer drips."""
    with Watchdog(request.limit) as watchdog:
        answer = _attempt(client, request)
    return too_slow(request) if watchdog.fired else answer


def _attempt(client: httpx.Client, request: ExchangeRequest) -> Reply | Failure:
    body = _Body(request)
    response = None
    sent = _as_httpx(request)
    sent.extensions["trace"] = _show_socket
    try:
        response = client.send(sent, stream=True, auth=None, follow_redirects=False)
        for chunk in response.iter_bytes():
            if body.add(chunk):
                break
    except httpx.HTTPStatusError as exc:  # a raise_for_status hook of the user's client
        return body.reply(exc.response)
    except httpx.RequestError as exc:
        return _failure(exc, request, answered=response is not None)
    finally:
        if response is not None:
            response.close()
    return body.reply(response)


async def _apost(client: httpx.AsyncClient, request: ExchangeRequest) -> Reply | Failure:
    body = _Body(request)
    response = None
    try:
        with anyio.fail_after(request.limit):  # the whole attempt, not each read
            response = await client.send(
                _as_httpx(request), stream=True, auth=None, follow_redirects=False
            )
            async for chunk in response.aiter_bytes():
                if body.add(chunk):
                    break
    except httpx.HTTPStatusError as exc:  # as in _post
        return body.reply(exc.response)
    except httpx.RequestError as exc:
        return _failure(exc, request, answered=response is not None)
    except TimeoutError:
        return too_slow(request)
    finally:
        if response is not None:
            await response.aclose()
    return body.reply(response)


class _Body:
    """The answer's body, read up to the cap (a token answer is about 2 KB) and by the attempt's
    deadline."""

    def __init__(self, request: ExchangeRequest) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        self._limit = request.limit
        self._deadline = time.monotonic() + request.limit

    def add(self, chunk: bytes) -> bool:
        """Keep `chunk`; True once past the cap (stop reading). Past the deadline, raises
        httpx.ReadTimeout: the answer has started, so that is worth another attempt."""
        self._chunks.append(chunk)
        self._size += len(chunk)
        if time.monotonic() > self._deadline:
            raise httpx.ReadTimeout(f"not whole within {self._limit:g} s")
        return self._size > MAX_TOKEN_RESPONSE

    def reply(self, response: httpx.Response) -> Reply:
        headers = {key.lower(): value for key, value in response.headers.items()}
        body = b"".join(self._chunks)[: MAX_TOKEN_RESPONSE + 1]
        return Reply(response.status_code, headers, body)


def _as_httpx(request: ExchangeRequest) -> httpx.Request:
    return httpx.Request(
        "POST",
        request.url,
        headers=request.headers,
        content=request.body,
        extensions={"timeout": httpx.Timeout(request.timeout).as_dict()},
    )


def _show_socket(event: str, info: Mapping[str, Any]) -> None:
    """httpcore's trace hook: a new connection's socket, shown to the attempt's watchdog."""
    if event == "connection.connect_tcp.complete":
        stream = info.get("return_value")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is not None:
            watch(sock)


_TRUST = (
    "pass client=httpx.Client(verify=...) and async_client=httpx.AsyncClient(verify=...) with "
    "an ssl.SSLContext that trusts it, or set SSL_CERT_FILE to its CA bundle"
)


def _failure(exc: httpx.RequestError, request: ExchangeRequest, *, answered: bool) -> Failure:
    """What a transport error means for the retry rules, worded like requests' adapter."""
    tls = certificate_failure(exc, _TRUST)
    if tls is not None:
        return tls
    if isinstance(exc, httpx.ConnectTimeout):
        return Failure(f"no connection within {request.timeout:g} s", retryable=True)
    if answered:  # the status line came, then the answer broke off or stalled: try again
        if isinstance(exc, httpx.TimeoutException):
            return too_slow(request)
        return Failure(f"the answer broke off ({type(exc).__name__})", retryable=True)
    if isinstance(exc, httpx.TimeoutException):
        return Failure(f"no answer within {request.timeout:g} s", retryable=False)
    return Failure(str(exc)[:200] or type(exc).__name__, retryable=True)
