"""The fakes' one hook into requests, shared by every active `LeanIXMock`.

Each `responses.RequestsMock` patches `HTTPAdapter.send` with unittest.mock: it saves what it
finds and puts that back when it stops. Patches stopped out of the order they started in put back
stale functions: a fake stopped before a user's mock started after it would leave that mock to
restore the fake's `send`, refusing connections for the rest of the session. So there is one hook,
installed by the first fake that starts and removed by the last that stops; and when a user's mock
sits above it by then, that mock's patch is handed what lay below ours, so that it restores
exactly what was there before either started.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any, Protocol

import requests
import requests.adapters
import responses

LOOPBACK_URL = re.compile(r"https?://(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d+)?(/|$)")
_SEND_ARGUMENTS = ("stream", "timeout", "verify", "cert", "proxies")  # HTTPAdapter.send's order
Send = Callable[..., requests.Response]
OnRequest = Callable[..., requests.Response]


class Fake(Protocol):
    """What the hook asks of a fake (a `LeanIXMock`): does it serve this URL, and its answer."""

    def serves(self, url: str) -> bool: ...

    def answer_requests(
        self,
        mock: responses.RequestsMock,
        original: OnRequest,
        adapter: requests.adapters.HTTPAdapter,
        request: requests.PreparedRequest,
        **kwargs: Any,
    ) -> requests.Response: ...


class _RequestsHook:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._fakes: list[Fake] = []
        self.own: responses.RequestsMock | None = None  # ours, while no mock of the user's is
        self._on_request: Callable[..., requests.Response] | None = None
        self._original_on_request: Any = None
        self._send: Send | None = None
        self._below: Send | None = None

    def add(self, fake: Fake) -> None:
        with self._lock:
            if not self._fakes:
                self._install()
            self._fakes.append(fake)

    def remove(self, fake: Fake) -> None:
        with self._lock:
            if fake in self._fakes:
                self._fakes.remove(fake)
                if not self._fakes:
                    self._uninstall()

    def _install(self) -> None:
        # Every RequestsMock, the user's included, asks the fakes first about their hosts.
        original = responses.RequestsMock.__dict__["_on_request"]
        self._original_on_request, self._on_request = original, self._dispatcher(original)
        responses.RequestsMock._on_request = self._on_request  # type: ignore[method-assign]
        send = requests.adapters.HTTPAdapter.__dict__["send"]
        if getattr(send, "__module__", None) == "requests.adapters":
            # No responses mock is active: be one, refusing other hosts as responses does.
            self.own = responses.RequestsMock(assert_all_requests_are_fired=False)
            self.own.add_passthru(LOOPBACK_URL)
            self._below, self._send = send, _own_send(self.own, send)
            requests.adapters.HTTPAdapter.send = self._send  # type: ignore[method-assign]

    def _uninstall(self) -> None:
        if responses.RequestsMock.__dict__.get("_on_request") is self._on_request:
            responses.RequestsMock._on_request = self._original_on_request  # type: ignore[method-assign]
        # else a patch of someone else's sits above ours: ours stays, and passes every request on
        if self._send is not None and self._below is not None:
            _unhook_send(self._send, self._below)
        self.own = self._send = self._below = self._on_request = None

    def _dispatcher(self, original: Callable[..., requests.Response]) -> Callable[..., Any]:
        def on_request(
            mock: responses.RequestsMock,
            adapter: requests.adapters.HTTPAdapter,
            request: requests.PreparedRequest,
            **kwargs: Any,
        ) -> requests.Response:
            fake = next((f for f in list(self._fakes) if f.serves(request.url or "")), None)
            if fake is None:
                return original(mock, adapter, request, **kwargs)
            return fake.answer_requests(mock, original, adapter, request, **kwargs)

        return on_request


def _own_send(own: responses.RequestsMock, below: Send) -> Send:
    """`HTTPAdapter.send` through our own mock; once that is gone, what lay below, untouched."""

    def send(
        adapter: requests.adapters.HTTPAdapter,
        request: requests.PreparedRequest,
        *args: Any,
        **kwargs: Any,
    ) -> requests.Response:
        if requests_hook.own is not own:  # stopped, yet still the original a user's patch saved
            return below(adapter, request, *args, **kwargs)
        # A custom adapter may pass them by position.
        kwargs.update(zip(_SEND_ARGUMENTS, args, strict=False))
        return own._on_request(adapter, request, **kwargs)

    return send


def _unhook_send(ours: Send, below: Send) -> None:
    """Take `ours` off `HTTPAdapter.send`: put back what lay below it, or, when a responses mock
    started later sits above it, make that mock's patch restore what lay below instead."""
    if requests.adapters.HTTPAdapter.__dict__.get("send") is ours:
        requests.adapters.HTTPAdapter.send = below  # type: ignore[method-assign]
        return
    patch = _patch_above(ours)
    if patch is not None:
        patch.temp_original = below


def _patch_above(ours: Send) -> Any:
    """The unittest.mock patch that saved `ours`, walking down the responses mocks stacked on
    `HTTPAdapter.send`; None if one of them is not a responses mock's."""
    function = requests.adapters.HTTPAdapter.__dict__.get("send")
    seen: set[int] = set()
    while function is not None and id(function) not in seen:
        seen.add(id(function))
        patch = _responses_patch(function)
        if patch is None:
            return None
        if patch.temp_original is ours:
            return patch
        function = patch.temp_original
    return None


def _responses_patch(function: Any) -> Any:
    """The patch a RequestsMock put `function` in place with: responses' `send` is a closure over
    the mock, and the mock keeps its patch as `_patcher`."""
    for cell in getattr(function, "__closure__", None) or ():
        try:
            mock = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        patch = (
            getattr(mock, "_patcher", None) if isinstance(mock, responses.RequestsMock) else None
        )
        if patch is not None and getattr(patch, "new", None) is function:
            return patch
    return None


requests_hook = _RequestsHook()
