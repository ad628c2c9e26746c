"""What the tests of `on_exchange=` and of the exchange spans collect."""

from __future__ import annotations

import threading

from leanix_auth import ExchangeEvent


class Events:
    """What `on_exchange` received, from whichever thread; `wait(n)` for a refresh that runs in
    the background (bounded by a real deadline, never a bare sleep)."""

    def __init__(self) -> None:
        self.seen: list[ExchangeEvent] = []
        self._changed = threading.Condition()

    def __call__(self, event: ExchangeEvent) -> None:
        with self._changed:
            self.seen.append(event)
            self._changed.notify_all()

    def wait(self, count: int) -> list[ExchangeEvent]:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.seen) >= count, timeout=10)
        return self.seen

    def told(self) -> list[tuple[str, str, int | None]]:
        return [(e.reason, e.outcome, e.status) for e in self.seen]
