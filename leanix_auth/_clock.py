"""Where leanix-auth reads the time and sleeps: one seam for every rule about time.

The core's rules (refresh windows, expiry, back-off, budgets, Retry-After) read `SYSTEM_CLOCK`,
which every auth object holds. `HandClock.install()` puts a clock moved by hand in its place, so
that tests cross an hour in a millisecond: `leanix_auth.testing.HandClock` and the `leanix_clock`
fixture. What bounds real sockets and real locks (an attempt's deadline, a poll for a lock another
process holds) keeps real time: a hand clock cannot make a socket answer sooner.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager


async def _sleep(seconds: float) -> None:
    import anyio  # deferred: only async adapters sleep this way

    await anyio.sleep(seconds)


class Clock:
    """The time as leanix-auth sees it: `monotonic()` for deadlines and expiry, `wall()` for
    what servers say (exp, Date, Retry-After), `sleep()` and `asleep()` for pauses."""

    def __init__(self) -> None:
        # Plain attributes, so that the hot path reads one (`clock.monotonic()`) and a hand
        # clock can stand in for all of them at once.
        self.monotonic: Callable[[], float] = time.monotonic
        self.wall: Callable[[], float] = time.time
        self.sleep: Callable[[float], None] = time.sleep
        self.asleep: Callable[[float], Awaitable[None]] = _sleep

    def __repr__(self) -> str:
        return f"Clock(monotonic={self.monotonic()!r}, wall={self.wall()!r})"


SYSTEM_CLOCK = Clock()  # the clock of every auth object and cache


class HandClock(Clock):
    """A clock that moves only when told: `advance(seconds)` moves the monotonic and the wall
    clock together, and a sleep moves them by its length at once, as if it had been slept (and
    is noted in `slept`, so a test can say which pauses were taken).

    `with clock.install():` makes it the clock of every leanix-auth object in this process
    until the block ends.

    Usage::

        >>> with HandClock().install() as clock:
        ...     clock.advance(3600)  # every token of the process is an hour older
    """

    def __init__(self, wall: float | None = None) -> None:
        """**Parameters:**

        * **wall** - the wall clock's start, in seconds since the epoch. Default None: now,
          in whole seconds. The monotonic clock starts at the real one's whole seconds.
        """
        super().__init__()
        self._lock = threading.Lock()
        # Whole seconds, so that moving by whole seconds is exact arithmetic.
        self._monotonic = float(math.floor(time.monotonic()))
        self._wall = float(math.floor(time.time())) if wall is None else wall
        self.slept: list[float] = []
        self.monotonic = lambda: self._monotonic
        self.wall = lambda: self._wall
        self.sleep = self._sleep
        self.asleep = self._asleep

    def advance(self, seconds: float) -> None:
        """Move the clock forward by `seconds` (never back: monotonic means what it says)."""
        if not seconds >= 0:
            raise ValueError(f"a clock moves forward only, not by {seconds!r} s")
        with self._lock:
            self._monotonic += seconds
            self._wall += seconds

    def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(max(seconds, 0.0))

    async def _asleep(self, seconds: float) -> None:
        self._sleep(seconds)
        await _sleep(0)  # still a checkpoint: other tasks run, cancellation is seen

    @contextmanager
    def install(self, clock: Clock = SYSTEM_CLOCK) -> Iterator[HandClock]:
        """Make this the time of `clock` (default: `SYSTEM_CLOCK`, that of every leanix-auth
        object and fake LeanIX) until the block ends; yields this hand clock."""
        saved = (clock.monotonic, clock.wall, clock.sleep, clock.asleep)
        clock.monotonic, clock.wall = self.monotonic, self.wall
        clock.sleep, clock.asleep = self.sleep, self.asleep
        try:
            yield self
        finally:
            clock.monotonic, clock.wall, clock.sleep, clock.asleep = saved

    def __repr__(self) -> str:
        return f"HandClock(monotonic={self._monotonic!r}, wall={self._wall!r})"
