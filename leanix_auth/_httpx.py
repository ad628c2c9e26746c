"""`LeanIXHttpxAuth`: the adapter for httpx.Client and httpx.AsyncClient.

One generator, `_flow`, holds the whole auth flow for both clients, as httpx's own auth classes
do. It yields httpx requests to send, plus the core's `Sleep` and `Wait`, which
`sync_auth_flow` and `async_auth_flow` carry out each in their own way. The token exchange is
yielded like any request, so it goes through the user's client: proxies, TLS settings, transports
and mocks apply to it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Generator
from dataclasses import dataclass
from typing import Any

import httpx

from . import _config
from ._blocking import wait
from ._config import DEFAULT_MANDATORY_MARGIN, DEFAULT_REFRESH_MARGIN, DEFAULT_TIMEOUT, Settings
from ._effects import (
    Background,
    CacheCall,
    ExchangeRequest,
    Failure,
    Reply,
    Sleep,
    TokenFlow,
    Wait,
    unknown,
)
from ._errors import LeanIXAuthError
from ._exchange import AccessToken
from ._holder import TokenHolder
from ._keeper import TokenKeeper, obtain, replace_refused
from ._shared import TokenCache


@dataclass(frozen=True)
class _Fetch:
    """Send this request and hand back the response with its body read: a token exchange."""

    request: httpx.Request


_Effect = httpx.Request | _Fetch | Sleep | Wait | Background | CacheCall
_Flow = Generator[_Effect, Any, None]


class LeanIXHttpxAuth(TokenHolder, httpx.Auth):
    """httpx auth for SAP LeanIX: `httpx.Client(auth=LeanIXHttpxAuth(api_token, subdomain="acme"))`.

    Works with `httpx.Client` and `httpx.AsyncClient` (asyncio). Exchanges the API token through
    your client, reuses the access token while valid, refreshes it ahead of expiry, and resends a
    request once if LeanIX answers 401. The bearer goes only to the workspace's origin (and the
    token's instanceUrl).
    """

    def __init__(
        self,
        api_token: str | None = None,
        *,
        subdomain: str | None = None,
        base_url: str | None = None,
        token_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        mandatory_margin: float = DEFAULT_MANDATORY_MARGIN,
        cache: TokenCache | None = None,
    ) -> None:
        settings = _config.resolve(
            api_token,
            subdomain=subdomain,
            base_url=base_url,
            token_url=token_url,
            timeout=timeout,
            refresh_margin=refresh_margin,
            mandatory_margin=mandatory_margin,
        )
        self._hold(settings, cache)

    def _hold(self, settings: Settings, cache: TokenCache | None) -> None:
        super()._hold(settings, cache)
        origin = httpx.URL(settings.origin)
        self._raw_host, self._scheme, self._port = origin.raw_host, origin.scheme, origin.port

    async def aget_token(self) -> str:
        """`get_token()` for async code: an exchange, when due, runs in a worker thread."""
        token = self._keeper.fresh_token()
        if token is not None:
            return token.value
        return await asyncio.to_thread(self.get_token)

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._fresh_token_for(request)
        response = None
        if token is not None:  # the common case, kept free of the inner flow's machinery
            request.headers["Authorization"] = token.authorization
            response = yield request
            if response.status_code != 401:
                return
        flow = self._flow(request, token, response)
        answer: object = None
        try:
            while True:
                try:
                    effect = flow.send(answer)
                except StopIteration:
                    return
                if isinstance(effect, httpx.Request):
                    answer = yield effect
                elif isinstance(effect, _Fetch):
                    response = yield effect.request
                    response.read()
                    answer = response
                elif isinstance(effect, Sleep):
                    time.sleep(effect.seconds)
                    answer = None
                elif isinstance(effect, Wait):
                    answer = wait(self._keeper, effect.ticket)
                elif isinstance(effect, CacheCall):
                    answer = effect.call()
                elif isinstance(effect, Background):
                    answer = False  # a refresh cannot leave this flow: run it here
                else:
                    raise unknown(effect)
        finally:
            flow.close()

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = self._fresh_token_for(request)
        response = None
        if token is not None:  # the common case, as in sync_auth_flow
            request.headers["Authorization"] = token.authorization
            response = yield request
            if response.status_code != 401:
                return
        flow = self._flow(request, token, response)
        answer: object = None
        try:
            while True:
                try:
                    effect = flow.send(answer)
                except StopIteration:
                    return
                if isinstance(effect, httpx.Request):
                    answer = yield effect
                elif isinstance(effect, _Fetch):
                    response = yield effect.request
                    await response.aread()
                    answer = response
                elif isinstance(effect, Sleep):
                    await asyncio.sleep(effect.seconds)
                    answer = None
                elif isinstance(effect, Wait):
                    answer = await _wait_async(self._keeper, effect.ticket)
                elif isinstance(effect, CacheCall):
                    answer = await asyncio.to_thread(effect.call)  # cache I/O off the loop
                elif isinstance(effect, Background):
                    answer = False
                else:
                    raise unknown(effect)
        finally:
            flow.close()

    def _fresh_token_for(self, request: httpx.Request) -> AccessToken | None:
        """The token for a request to the workspace's own origin while it is fresh; else None,
        and `_flow` sorts it out. Compares URL parts: str(url) costs a microsecond."""
        url = request.url
        if url.raw_host == self._raw_host and url.scheme == self._scheme and url.port == self._port:
            return self._keeper.fresh_token()
        return None

    def _flow(
        self,
        request: httpx.Request,
        token: AccessToken | None = None,
        response: httpx.Response | None = None,
    ) -> _Flow:
        """Everything past the fast path: other origins, getting a token, and a 401 (when
        `token` and its `response` come in from the fast path)."""
        if token is None or response is None:
            if not self._admits(str(request.url)):
                yield request
                return
            token = self._keeper.fresh_token()
            if token is None:
                token = yield from self._run(obtain(self._keeper, self._settings, self._cache))
            request.headers["Authorization"] = token.authorization
            response = yield request
        if response.status_code != 401 or not _replayable(request):
            return
        if response.request.headers.get("Authorization") != token.authorization:
            return  # a redirect took the request elsewhere, without our bearer: not our 401
        # Resend even if the exchange brought the same token: httpx returns the last response
        # the flow saw, and that must be the API's answer, not the exchange's.
        retry = replace_refused(self._keeper, self._settings, self._cache, token.authorization)
        fresh = yield from self._run(retry)
        request.headers["Authorization"] = fresh.authorization
        yield request

    def _run(self, flow: TokenFlow) -> Generator[_Effect, Any, AccessToken]:
        """Carry a core flow into this one: its exchange requests become httpx requests."""
        answer: object = None
        try:
            while True:
                try:
                    effect = flow.send(answer)
                except StopIteration as stop:
                    result: AccessToken = stop.value
                    return result
                if isinstance(effect, ExchangeRequest):
                    response = yield _Fetch(_as_httpx(effect))
                    answer = _reply(response)
                else:
                    answer = yield effect
        finally:
            flow.close()

    def _send(self, request: ExchangeRequest) -> Reply | Failure:
        try:
            with httpx.Client() as client:  # one exchange an hour: honours the environment
                response = client.send(_as_httpx(request))
        except httpx.ReadTimeout:
            return Failure(f"no answer within {request.timeout:g} s", retryable=False)
        except httpx.TransportError as exc:
            return Failure(str(exc)[:200] or type(exc).__name__, retryable=True)
        return _reply(response)


def _as_httpx(request: ExchangeRequest) -> httpx.Request:
    return httpx.Request(
        "POST",
        request.url,
        headers=request.headers,
        content=request.body,
        extensions={"timeout": httpx.Timeout(request.timeout).as_dict()},
    )


def _reply(response: httpx.Response) -> Reply:
    headers = {key.lower(): value for key, value in response.headers.items()}
    return Reply(response.status_code, headers, response.content)


def _replayable(request: httpx.Request) -> bool:
    try:
        request.content  # noqa: B018 - raises if the body is a stream that is gone once sent
    except httpx.RequestNotRead:
        return False
    return True


async def _wait_async(keeper: TokenKeeper, ticket: int) -> LeanIXAuthError | None:
    # The exchange may end in this loop or in another thread: wake us through the loop.
    loop = asyncio.get_running_loop()
    future: asyncio.Future[LeanIXAuthError | None] = loop.create_future()

    def resolve(error: LeanIXAuthError | None) -> None:
        if not future.done():
            future.set_result(error)

    def wake(error: LeanIXAuthError | None) -> None:
        with contextlib.suppress(RuntimeError):  # that loop has closed: nobody is left to wake
            loop.call_soon_threadsafe(resolve, error)

    keeper.wait(ticket, wake)
    return await future
