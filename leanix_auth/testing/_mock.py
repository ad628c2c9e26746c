"""The in-process face of the fake LeanIX: `https://{subdomain}.leanix.net` answered without a
socket, for requests through `responses` and for httpx (sync and async) through `respx`.

Other hosts are refused, as responses and respx refuse them, unless the user's own mocks answer
them; loopback passes through, so the live server and the mock can serve one test together.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any
from unittest.mock import patch

import httpx
import requests
import requests.adapters
import responses
import respx

from ._fake import FakeLeanIX

_LOOPBACK_URL = re.compile(r"https?://(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d+)?(/|$)")
_LOOPBACK_HOST = re.compile(r"^(localhost|127(\.\d{1,3}){3}|::1)$")


class LeanIXMock(FakeLeanIX):
    """The fake LeanIX behind `https://{subdomain}.leanix.net`, inside this process.

    It lives next to your own mocks of other hosts. requests: whichever `responses` mock is
    active (yours, entered before or after this one, or its own when there is none) answers
    LeanIX's host from this fake. httpx: its respx router answers LeanIX's host and yields other
    hosts to your respx routes; with pytest-httpx, the plugin keeps `httpx_mock` off LeanIX's host.
    """

    def __init__(self, subdomain: str = "acme", **options: Any) -> None:
        self.subdomain = subdomain
        super().__init__(f"https://{subdomain}.leanix.net", **options)
        self._url = re.compile(re.escape(self.base_url) + r"(:443)?([/?].*)?$")
        self._stack: ExitStack | None = None

    def start(self) -> LeanIXMock:
        if self._stack is not None:
            return self
        with ExitStack() as stack:
            # Every RequestsMock, the user's included, asks this fake first about LeanIX's host.
            original = responses.RequestsMock._on_request
            stack.enter_context(
                patch.object(responses.RequestsMock, "_on_request", self._routing(original))
            )
            if _unpatched(requests.adapters.HTTPAdapter.send, "requests.adapters"):
                # No responses mock is active: be the one, refusing other hosts as responses does.
                own = responses.RequestsMock(assert_all_requests_are_fired=False)
                own.add_passthru(_LOOPBACK_URL)
                stack.enter_context(own)
            router = respx.mock(assert_all_called=False, assert_all_mocked=True)
            router.route(host=f"{self.subdomain}.leanix.net").mock(side_effect=self._answer_httpx)
            router.route(host__regex=_LOOPBACK_HOST).pass_through()
            stack.enter_context(router)
            self._stack = stack.pop_all()
        return self

    def stop(self) -> None:
        if self._stack is not None:
            self._stack.close()
        self._stack = None

    def _routing(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def on_request(
            mock: responses.RequestsMock,
            adapter: requests.adapters.HTTPAdapter,
            request: requests.PreparedRequest,
            **kwargs: Any,
        ) -> requests.Response:
            if not self._url.match(request.url or ""):
                return original(mock, adapter, request, **kwargs)  # type: ignore[no-any-return]
            answer = responses.CallbackResponse(
                request.method or "GET",
                self._url,
                callback=self._answer_requests,
                content_type=None,
            )
            response: requests.Response = adapter.build_response(
                request, answer.get_response(request)
            )
            return response

        return on_request

    def _answer_requests(
        self, request: requests.PreparedRequest
    ) -> tuple[int, dict[str, str], bytes]:
        body = request.body
        if isinstance(body, str):
            body = body.encode()
        elif not isinstance(body, bytes):
            body = b"".join(body) if body is not None else b""  # a generator body
        answer = self.handle(
            request.method or "GET", request.url or "/", dict(request.headers), body
        )
        return answer.status, answer.headers, answer.body

    def _answer_httpx(self, request: httpx.Request) -> httpx.Response:
        answer = self.handle(
            request.method, str(request.url), dict(request.headers), request.read()
        )
        return httpx.Response(answer.status, headers=answer.headers, content=answer.body)


def _unpatched(function: Callable[..., Any], module: str) -> bool:
    """Is `function` still the library's own, not a mock's stand-in?"""
    return getattr(function, "__module__", None) == module
