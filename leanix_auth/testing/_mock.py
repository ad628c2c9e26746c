"""The in-process face of the fake LeanIX: `https://{subdomain}.leanix.net` answered without a
socket, for requests through `responses` and for httpx (sync and async) through `respx`.

Other hosts are refused, as responses and respx refuse them; loopback passes through, so the live
server and the mock can serve one test together.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import requests
import responses
import respx

from ._fake import FakeLeanIX

_LOOPBACK_URL = re.compile(r"https?://(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d+)?(/|$)")
_LOOPBACK_HOST = re.compile(r"^(localhost|127(\.\d{1,3}){3}|::1)$")
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


class LeanIXMock(FakeLeanIX):
    """The fake LeanIX behind `https://{subdomain}.leanix.net`, inside this process."""

    def __init__(self, subdomain: str = "acme", **options: Any) -> None:
        self.subdomain = subdomain
        super().__init__(f"https://{subdomain}.leanix.net", **options)
        self._responses: responses.RequestsMock | None = None
        self._respx: respx.MockRouter | None = None

    def start(self) -> LeanIXMock:
        if self._responses is not None:
            return self
        url = re.compile(re.escape(self.base_url) + r"(:443)?([/?].*)?$")
        mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        for method in _METHODS:
            mock.add_callback(method, url, callback=self._answer_requests, content_type=None)
        mock.add_passthru(_LOOPBACK_URL)
        router = respx.mock(assert_all_called=False, assert_all_mocked=True)
        router.route(host=f"{self.subdomain}.leanix.net").mock(side_effect=self._answer_httpx)
        router.route(host__regex=_LOOPBACK_HOST).pass_through()
        mock.start()
        router.start()
        self._responses, self._respx = mock, router
        return self

    def stop(self) -> None:
        if self._respx is not None:
            self._respx.stop(quiet=True)
        if self._responses is not None:
            self._responses.stop()
            self._responses.reset()
        self._responses = self._respx = None

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
