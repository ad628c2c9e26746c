"""`Watchdog`: bounds one exchange attempt as a whole on blocking sockets.

A read timeout bounds each read, not the answer: an endpoint that drips its status line, headers
or body a byte at a time holds a blocking client for as long as it likes. At the attempt's deadline
the watchdog shuts down the sockets it was shown, which ends any read blocked on them. Real time,
not the hand clock of tests: it bounds a real socket.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

_current = threading.local()


class Watchdog:
    def __init__(self, seconds: float) -> None:
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> Watchdog:
        _current.watchdog = self
        self._timer.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._timer.cancel()
        _current.watchdog = None

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            fired = self.fired
        if fired:
            _shut(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def watch(sock: socket.socket) -> None:
    """Show `sock` to the watchdog of this thread's attempt, if one is running."""
    watchdog: Watchdog | None = getattr(_current, "watchdog", None)
    if watchdog is not None:
        watchdog.watch(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # closed already: nothing left to stop
        sock.shutdown(socket.SHUT_RDWR)
