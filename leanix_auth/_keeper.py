"""Who exchanges when: the token in hand, refresh ahead of expiry, single flight, 401s.

`TokenKeeper` decides, per request, whether to use the token in hand, refresh it ahead of expiry
(one caller, while the others go on with the valid token), wait for an exchange already under
way, or exchange now. Its lock guards its plans and is never held across I/O; a few fields are
read without it on the path of a request (one attribute load each), and `failed_source` and
`exchanging_thread` are written without it by the one caller that runs the exchange. The flows in
`_flows.py` turn its plans into effects for the adapters.
"""

from __future__ import annotations

import enum
import logging
import math
import os
import threading
import weakref
from dataclasses import dataclass
from typing import ClassVar

from ._clock import SYSTEM_CLOCK, Clock
from ._effects import AccessToken, Wake
from ._errors import LeanIXAuthError

logger = logging.getLogger("leanix_auth")

# After a failed exchange: the first and the longest pause before the next one. With a token in
# hand, the token is used meanwhile; with none, callers get the last error at once.
FAILED_EXCHANGE_BACKOFF = (1.0, 60.0)
# How long 401s on a token that the API refused as soon as it was fetched pass through without a
# new exchange: such an API refuses every token (a permission problem, not an expired token).
REFUSED_FRESH_COOL_DOWN = 60.0


class Action(enum.Enum):
    USE = "use the token in hand"
    REFRESH = "use the token in hand and refresh it: this caller was chosen to"
    EXCHANGE = "exchange now and wait for it: this caller was chosen to"
    WAIT = "wait for the exchange under way"
    PAUSED = "fail at once with the last error: exchanges failed lately and no token is in hand"


@dataclass(frozen=True)
class Plan:
    action: Action
    token: AccessToken | None
    ticket: int  # the exchange this caller claimed (REFRESH, EXCHANGE) or waits for (WAIT)
    error: LeanIXAuthError | None = None  # PAUSED: the error of the last exchange


class TokenKeeper:
    """Holds the current token and decides who exchanges, for any number of threads or tasks."""

    _all: ClassVar[weakref.WeakSet[TokenKeeper]] = weakref.WeakSet()

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        TokenKeeper._all.add(self)
        self.clock = clock
        self.current: AccessToken | None = None  # read without the lock: one attribute load
        self.ever_held = False  # a token, ever: the next exchange is no longer the first
        self._lock = threading.Lock()
        self._in_flight = False
        self._ticket = 0
        self._waiters: list[Wake] = []
        self._last_error: LeanIXAuthError | None = None
        self._retry_at = 0.0
        self._failures = 0
        self._pause_error: LeanIXAuthError | None = None
        self.exchanging_thread: int | None = None  # whose code runs the exchange in flight
        self.failed_source: str | None = None  # cache key of the API token that failed last
        self._source_checked_at = -math.inf  # when a pause last read the source
        # A token fetched in answer to a 401 and not yet accepted by the API; and one the API
        # refused all the same, with the end of its cool-down. Both are read without the lock on
        # the path of every response, and are None nearly always.
        self.probation: str | None = None
        self.cooling: tuple[str, float] | None = None

    def fresh_token(self) -> AccessToken | None:
        """The token, if it is before its refresh point: the lock-free path of every request."""
        token = self.current
        if token is not None and self.clock.monotonic() < token.refresh_at:
            return token
        return None

    def valid_token(self) -> AccessToken | None:
        token = self.current
        if token is not None and self.clock.monotonic() < token.expires_at:
            return token
        return None

    def plan(self) -> Plan:
        token = self.fresh_token()
        if token is not None:
            return Plan(Action.USE, token, 0)
        with self._lock:
            now = self.clock.monotonic()
            token = self.current
            if token is not None and now >= token.expires_at:
                token = self.current = None
            if token is not None and now < token.refresh_at:
                return Plan(Action.USE, token, 0)
            if self._in_flight:
                if token is not None and now < token.mandatory_at:
                    return Plan(Action.USE, token, 0)
                return Plan(Action.WAIT, token, self._ticket)
            if now < self._retry_at:
                # Exchanges failed lately: back off, with the token in hand if it is good.
                if token is not None:
                    return Plan(Action.USE, token, 0)
                if self._pause_error is not None:
                    return Plan(Action.PAUSED, None, 0, self._pause_error)
            self._in_flight = True
            if token is not None and now < token.mandatory_at:
                return Plan(Action.REFRESH, token, self._ticket)
            return Plan(Action.EXCHANGE, token, self._ticket)

    def claim(self) -> Plan:
        """EXCHANGE: this caller runs the next exchange, whatever the token in hand; or WAIT for
        the one under way."""
        with self._lock:
            action = Action.WAIT if self._in_flight else Action.EXCHANGE
            self._in_flight = True
            return Plan(action, self.current, self._ticket)

    def wait(self, ticket: int, waiter: Wake) -> None:
        """Call `waiter` when exchange `ticket` ends (at once if it has), with its error if any."""
        with self._lock:
            if ticket == self._ticket and self._in_flight:
                self._waiters.append(waiter)
                return
            error = self._last_error
        waiter(error)

    def may_check_source(self) -> bool:
        """During a pause, may this caller read the API token's source to see if it changed? At
        most once per first back-off step (a second), whatever the traffic."""
        with self._lock:
            now = self.clock.monotonic()
            if now - self._source_checked_at < FAILED_EXCHANGE_BACKOFF[0]:
                return False
            self._source_checked_at = now
            return True

    def resume(self) -> None:
        """End the pause after failed exchanges: the API token's source has changed."""
        with self._lock:
            self._retry_at = 0.0

    def store(self, token: AccessToken, ticket: int) -> None:
        with self._lock:
            self.current = token
            self.ever_held = True
            self._failures = 0
            self._retry_at = 0.0
            self._pause_error = None
            waiters = self._finish(ticket, None)
        for waiter in waiters:
            waiter(None)

    def failed(self, error: LeanIXAuthError, ticket: int) -> AccessToken | None:
        """Record a failed exchange. Returns the token still worth using, if there is one."""
        with self._lock:
            self._failures += 1
            self._retry_at = self.clock.monotonic() + backoff(self._failures)
            self._pause_error = error
            waiters = self._finish(ticket, error)
        for waiter in waiters:
            waiter(error)
        token = self.valid_token()
        if token is not None:
            logger.warning(
                "LeanIX token refresh failed; the current token stays in use for %.0f s more: %s",
                token.expires_at - self.clock.monotonic(),
                error,
            )
        return token

    def abandon(self, ticket: int) -> None:
        """Exchange `ticket` was cancelled, not failed: its waiters plan again, and one of them
        exchanges, so that nobody gets an error caused by someone else's cancellation."""
        with self._lock:
            waiters = self._finish(ticket, None)
        for waiter in waiters:
            waiter(None)

    def give_up(self, ticket: int, error: LeanIXAuthError) -> None:
        """A waiter saw exchange `ticket` outlast its budget (its caller is gone, or its loop
        stopped): end it with `error`, so that the next caller exchanges anew."""
        with self._lock:
            waiters = self._finish(ticket, error)
        for waiter in waiters:
            waiter(error)

    def _finish(self, ticket: int, error: LeanIXAuthError | None) -> list[Wake]:
        if ticket != self._ticket or not self._in_flight:
            return []  # already given up on: a later exchange owns the state now
        self._in_flight = False
        self._ticket += 1
        self._last_error = error
        self.exchanging_thread = None
        waiters, self._waiters = self._waiters, []
        return waiters

    def discard(self, authorization: str) -> None:
        """Forget the token sent as `authorization` after the API refused it, unless another
        caller has replaced it already: one revocation, one exchange."""
        with self._lock:
            if self.current is not None and self.current.authorization == authorization:
                self.current = None

    def on_probation(self, token: AccessToken) -> None:
        """`token` was got in answer to a 401: on probation until the API accepts it, if it is
        still the token in hand (another caller's newer one is not this caller's to judge)."""
        with self._lock:
            if self.current is token:
                self.probation = token.authorization

    def heals(self, authorization: str) -> bool:
        """The API answered 401 to `authorization`: may a new token heal that? Not if the API
        refused a token fetched in answer to a 401 (it refuses any token: a permission problem);
        then the 401s on that token pass through, without an exchange, for the cool-down."""
        now = self.clock.monotonic()
        with self._lock:
            cooling = self.cooling
            if cooling is not None and cooling[0] == authorization and now < cooling[1]:
                return False
            if authorization == self.probation:
                self.probation = None
                self.cooling = (authorization, now + REFUSED_FRESH_COOL_DOWN)
                return False
            return True

    def accepted(self, authorization: str) -> None:
        """The API accepted `authorization`: a later 401 on it is a revocation, to heal at once."""
        with self._lock:
            if self.probation == authorization:
                self.probation = None
            if self.cooling is not None and self.cooling[0] == authorization:
                self.cooling = None

    def _reset_after_fork(self) -> None:
        # In a forked child no exchange of the parent's is running, and the lock may be held by
        # a thread that does not exist here: start clean, keeping the token.
        self._lock = threading.Lock()
        self._in_flight = False
        self._waiters = []

    @classmethod
    def _reset_all_after_fork(cls) -> None:
        for keeper in list(cls._all):
            keeper._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=TokenKeeper._reset_all_after_fork)


def backoff(failures: int) -> float:
    """The pause after `failures` failed exchanges in a row: doubling, capped."""
    low, high = FAILED_EXCHANGE_BACKOFF
    return min(low * 2.0 ** min(failures - 1, 32), high)  # 2 ** 32: past the cap, never overflows
