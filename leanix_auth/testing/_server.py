"""The live face of the fake LeanIX: a real HTTP/1.1 server on a loopback port the OS picks,
plain or, with `tls=True`, HTTPS under a throwaway CA."""

from __future__ import annotations

import selectors
import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .._config import is_loopback
from . import _options as check
from ._fake import FakeLeanIX


class LeanIXServer(FakeLeanIX):
    """The fake LeanIX served over a real socket, for any client, even another process.

    Use it as a context manager, or call `start()` and `stop()`. With `tls=True` it speaks HTTPS
    with a certificate from a CA made for this process; `ca_bundle` is the path of that CA's
    certificate, for `verify=` or `SSL_CERT_FILE` (None without TLS).

    Usage::

        >>> with LeanIXServer(token_ttl=60) as server:
        ...     auth = LeanIXAuth(server.api_token, base_url=server.base_url)
    """

    _OWN_OPTIONS = ("host", "port", "tls")

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, tls: bool = False, **options: Any
    ) -> None:
        """**Parameters:**

        * **host** - the address to listen on. Default `"127.0.0.1"`.
        * **port** - the port. Default 0: one the OS picks (`.port`, `.base_url`).
        * **tls** - serve HTTPS under a throwaway CA (`.ca_bundle`). Default False.
        * **options** - those of `FakeLeanIX`: `clock`, and `reset()`'s.

        **Raises:** `LeanIXConfigError` for a wrong option; `OSError` if it cannot listen.
        """
        check.port(port)
        self.ca_bundle: str | None = None
        context = None
        if check.flag(tls, "tls"):
            from . import _tls

            context = _tls.server_context(_reachable(host).strip("[]"))
            self.ca_bundle = _tls.ca_bundle()
        self._httpd = _Server((host, port), _Handler, context)
        bound_host, bound_port = self._httpd.server_address[:2]
        self.loopback_only = is_loopback(str(bound_host))
        scheme = "https" if tls else "http"
        try:
            super().__init__(f"{scheme}://{_reachable(str(bound_host))}:{bound_port}", **options)
        except BaseException:
            self._httpd.server_close()
            raise
        self._httpd.fake = self
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self._httpd.server_address[1])

    def start(self) -> LeanIXServer:
        """Serve in a thread of its own until `stop()`; returns the server."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_until_stopped,
                name=f"leanix-fake-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket, at once."""
        if self._thread is not None:
            self._httpd.wake()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()


def _reachable(host: str) -> str:
    """A host a client on this machine can connect to: loopback for a wildcard address."""
    if host in ("0.0.0.0", ""):  # noqa: S104 - the address we translate, not one we bind
        return "127.0.0.1"
    if ":" in host:
        return "[::1]" if host == "::" else f"[{host}]"
    return host


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024  # the default of 5 makes a burst of connects wait for SYN retries
    daemon_threads = True
    block_on_close = False  # keep-alive threads end with their sockets
    fake: FakeLeanIX

    def __init__(
        self, address: tuple[str, int], handler: type[_Handler], tls: ssl.SSLContext | None
    ) -> None:
        # serve_forever() looks for a stop request every poll_interval: each stop would wait for
        # the next look. A byte on this pair wakes the loop at once instead. Made first: a bind
        # that fails in super().__init__ calls server_close(), which closes it.
        self._wake_in, self._wake_out = socket.socketpair()
        self._tls = tls
        super().__init__(address, handler)

    def serve_until_stopped(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self, selectors.EVENT_READ)
            selector.register(self._wake_out, selectors.EVENT_READ)
            while True:
                ready = [key.fileobj for key, _ in selector.select()]
                if self._wake_out in ready:
                    return
                # What serve_forever() calls (typeshed lists no private names): accept, and hand
                # the connection to a thread. handle_request() would wait in a selector of its own,
                # deaf to wake(), should the connection be gone by then.
                self._handle_request_noblock()  # type: ignore[attr-defined]

    def wake(self) -> None:
        self._wake_in.send(b"\0")

    def server_close(self) -> None:
        super().server_close()
        self._wake_in.close()
        self._wake_out.close()

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        if self._tls is not None:  # the handshake waits for the connection's own thread
            connection = self._tls.wrap_socket(
                connection, server_side=True, do_handshake_on_connect=False
            )
        return connection, address

    def finish_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, ssl.SSLSocket):
            request.do_handshake()
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer (a timeout test, a benchmark ending), or that does not
        # trust the fake's CA (a test of exactly that), is not news.
        if not isinstance(sys.exc_info()[1], ConnectionError | ssl.SSLError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real LeanIX offers
    # Headers and body leave in two writes; with Nagle on, the second waits 40 ms for an ACK.
    disable_nagle_algorithm = True
    server_version = "FakeLeanIX"

    def _serve(self) -> None:
        fake: FakeLeanIX = self.server.fake  # type: ignore[attr-defined]
        response = fake.handle(
            self.command, self._target(), dict(self.headers.items()), self._body()
        )
        self.send_response_only(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if self.close_connection:  # the client asked to close: say so, as real servers do
            self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _target(self) -> str:
        # As the client sent it: http.server folds a leading "//" in self.path (gh-87389).
        words = self.requestline.split()
        return words[1] if len(words) == 3 else self.path

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._chunked_body()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _chunked_body(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # request lines would carry nothing secret, but they would flood test output
