"""The fake LeanIX in-process for aiohttp: `https://{subdomain}.leanix.net` answered with no
network, everything of aiohttp's own still in the path (middlewares, redirects, cookies, trace
configs, timeouts), so that the code under test runs as it does against LeanIX.

aiohttp has no transport to swap, as httpx has, and mock libraries such as aioresponses replace
`ClientSession._request` whole, middlewares and all. So this face works a level lower: asked for
a connection to a fake's host, `TCPConnector` gets one end of a socket pair, whose other end the
live server's HTTP handler serves in a thread. Other hosts go their usual way: a test server on
loopback, or a resolver that maps a name onto one, keeps working.

As with requests (`_hooks.py`), there is one hook, installed by the first fake that starts and
removed by the last that stops, so that fakes started and stopped in any order leave aiohttp as
they found it.
"""

from __future__ import annotations

import importlib.util
import socket
import threading
from types import SimpleNamespace
from typing import Any

from ._fake import FakeLeanIX
from ._server import _Handler


class _AiohttpHook:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fakes: dict[str, FakeLeanIX] = {}  # host -> the fake that answers it
        self._original: Any = None
        self._ours: Any = None

    def add(self, fake: FakeLeanIX, host: str) -> None:
        """Answer aiohttp's connections to `host` from `fake`; without aiohttp, nothing."""
        if importlib.util.find_spec("aiohttp") is None:
            return
        with self._lock:
            if not self._fakes:
                self._install()
            self._fakes[host.lower()] = fake

    def remove(self, fake: FakeLeanIX) -> None:
        with self._lock:
            for host in [host for host, held in self._fakes.items() if held is fake]:
                del self._fakes[host]
            if not self._fakes and self._ours is not None:
                self._uninstall()

    def _install(self) -> None:
        import aiohttp

        original = aiohttp.TCPConnector.__dict__["_create_connection"]
        fakes = self._fakes

        async def create_connection(
            connector: aiohttp.TCPConnector, request: aiohttp.ClientRequest, *args: Any
        ) -> Any:
            fake = fakes.get(request.url.host or "")
            if fake is None:  # not a fake's host, or every fake has stopped
                return await original(connector, request, *args)
            return await _connect(connector, fake)

        self._original, self._ours = original, create_connection
        aiohttp.TCPConnector._create_connection = create_connection  # type: ignore[method-assign,assignment]

    def _uninstall(self) -> None:
        import aiohttp

        # Under a patch of someone else's, ours stays, passing every connection on.
        if aiohttp.TCPConnector.__dict__.get("_create_connection") is self._ours:
            aiohttp.TCPConnector._create_connection = self._original  # type: ignore[method-assign]
        self._original = self._ours = None


async def _connect(connector: Any, fake: FakeLeanIX) -> Any:
    ours, theirs = socket.socketpair()
    threading.Thread(
        target=_serve, args=(theirs, fake), name="leanix-mock-aiohttp", daemon=True
    ).start()
    # The connector's own protocol factory: aiohttp pools and reads this connection as any other.
    _, protocol = await connector._loop.create_connection(connector._factory, sock=ours)
    return protocol


class _PairHandler(_Handler):
    disable_nagle_algorithm = False  # a socket pair is no TCP socket


def _serve(sock: socket.socket, fake: FakeLeanIX) -> None:
    """Answer the requests of one keep-alive connection until aiohttp closes it."""
    try:
        _PairHandler(sock, ("leanix-mock", 443), SimpleNamespace(fake=fake))  # type: ignore[arg-type]
    except OSError:
        pass  # a client that hangs up mid-answer is not news
    finally:
        sock.close()


aiohttp_hook = _AiohttpHook()
