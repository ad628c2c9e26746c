"""The in-process face of the fake LeanIX: `https://{subdomain}.leanix.net` answered without a
socket, for requests through `responses`, for httpx (sync and async) through `respx`, and for
aiohttp through its connector (`_aiohttp_face`, which leaves other hosts alone).

Other hosts are refused, as responses and respx refuse them, unless the user's own mocks answer
them; loopback passes through, so the live server and the mock can serve one test together. On
LeanIX's host the token endpoint is the fake's; elsewhere a stub of the user's own mock answers
once the fake has checked the bearer, and the fake answers the rest.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import requests
import requests.adapters
import responses
import respx

from . import _options as check
from ._aiohttp_face import aiohttp_hook
from ._fake import FakeLeanIX
from ._hooks import OnRequest, requests_hook
from ._wire import FakeResponse

_LOOPBACK_HOST = re.compile(r"^(localhost|127(\.\d{1,3}){3}|::1)$")


class LeanIXMock(FakeLeanIX):
    """The fake LeanIX behind `https://{subdomain}.leanix.net`, inside this process.

    It lives next to your own mocks, started and stopped in any order. requests: whichever
    `responses` mock is active (yours, or its own when there is none) asks this fake about
    LeanIX's host first. httpx: its respx router comes before yours, and yields other hosts to
    your routes. On LeanIX's host, a stub of yours answers (and is recorded by your mock) once
    this fake has checked the bearer; the token endpoint is always this fake's. With
    pytest-httpx, the plugin keeps `httpx_mock` off LeanIX's host.

    Usage::

        >>> with LeanIXMock(subdomain="acme") as mock:
        ...     auth = LeanIXAuth(mock.api_token, subdomain="acme")
    """

    _OWN_OPTIONS = ("subdomain",)

    def __init__(self, subdomain: str = "acme", **options: Any) -> None:
        """**Parameters:**

        * **subdomain** - the workspace it answers for. Default `"acme"`:
          `https://acme.leanix.net`.
        * **options** - those of `FakeLeanIX`: `clock`, and `reset()`'s.

        **Raises:** `LeanIXConfigError` for a subdomain that is no DNS label or a wrong option.
        """
        base_url = check.mock_base_url(subdomain)
        super().__init__(base_url, **options)
        self.subdomain = subdomain
        self.host = str(urlsplit(base_url).hostname)
        self._url = re.compile(re.escape(self.base_url) + r"(:443)?([/?].*)?$", re.IGNORECASE)
        self._router: respx.MockRouter | None = None

    def start(self) -> LeanIXMock:
        if self._router is not None:
            return self
        router = respx.mock(assert_all_called=False, assert_all_mocked=True)
        router.route(host=self.host).mock(side_effect=self._answer_httpx)
        router.route(host__regex=_LOOPBACK_HOST).pass_through()
        requests_hook.add(self)
        try:
            router.start()
        except BaseException:
            requests_hook.remove(self)
            raise
        # respx asks its routers in the order they started: ahead of any router of the user's, so
        # that the bearer is checked before a stub of theirs answers.
        routers = router.Mocker.routers if router.Mocker is not None else []
        routers.insert(0, routers.pop(routers.index(router)))
        aiohttp_hook.add(self, self.host)
        self._router = router
        return self

    def stop(self) -> None:
        router, self._router = self._router, None
        if router is None:
            return
        try:
            router.stop()
        finally:
            requests_hook.remove(self)
            aiohttp_hook.remove(self)

    def serves(self, url: str) -> bool:
        """Is `url` on the host this mock answers?"""
        return bool(self._url.match(url))

    # requests, through whichever responses mock is active

    def answer_requests(
        self,
        mock: responses.RequestsMock,
        original: OnRequest,
        adapter: requests.adapters.HTTPAdapter,
        request: requests.PreparedRequest,
        **kwargs: Any,
    ) -> requests.Response:
        """The answer to `request`, which `adapter` was sending under the active responses
        `mock`: the fake's, or `original` (responses' own handler, given `kwargs`) when a stub
        of the user's answers it. The requests hook calls this; tests do not."""
        if request.body is not None and not isinstance(request.body, str | bytes):
            request.body = _body_bytes(request.body)  # a generator or file is read once, here
        body = _body_bytes(request.body)
        seen = (request.method or "GET", request.url or "/", dict(request.headers), body)
        if _stubbed_by_user(mock, request, kwargs):
            refusal = self.screen(*seen)
            if refusal is None:
                return original(mock, adapter, request, **kwargs)  # recorded by their mock
            answer = refusal
        else:
            answer = self.handle(*seen)
        built = responses.CallbackResponse(
            request.method or "GET",
            self._url,
            callback=lambda _: (answer.status, answer.headers, answer.body),
            content_type=None,
        )
        response: requests.Response = adapter.build_response(request, built.get_response(request))
        return response

    # httpx, through respx

    def _answer_httpx(self, request: httpx.Request) -> httpx.Response | None:
        seen = (request.method, str(request.url), dict(request.headers), request.read())
        if self._stubbed_by_user_router(request):
            refusal = self.screen(*seen)
            # None: this router does not match, and respx asks the next one, the user's.
            return None if refusal is None else _httpx_response(refusal)
        return _httpx_response(self.handle(*seen))

    def _stubbed_by_user_router(self, request: httpx.Request) -> bool:
        mocker = self._router.Mocker if self._router is not None else None
        for router in mocker.routers if mocker is not None else ():
            if router is not self._router and any(
                route.pattern is None or route.pattern.match(request) for route in router.routes
            ):
                return True
        return False


def _stubbed_by_user(
    mock: responses.RequestsMock, request: requests.PreparedRequest, kwargs: dict[str, Any]
) -> bool:
    """Has the user's mock a response for this request? Asked without touching its registry,
    as its own `_on_request` would match it (its matchers read these attributes)."""
    if mock is requests_hook.own or not mock.registered():
        return False
    request.params = mock._parse_request_params(request.path_url)  # type: ignore[attr-defined]
    request.req_kwargs = kwargs  # type: ignore[attr-defined]
    return any(stub.matches(request)[0] for stub in mock.registered())


def _body_bytes(body: Any) -> bytes:
    if isinstance(body, str):
        return body.encode()
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if hasattr(body, "read"):
        read: bytes | str = body.read()
        return read.encode() if isinstance(read, str) else read
    return b"".join(part.encode() if isinstance(part, str) else part for part in body)


def _httpx_response(answer: FakeResponse) -> httpx.Response:
    return httpx.Response(answer.status, headers=answer.headers, content=answer.body)
