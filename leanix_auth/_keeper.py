"""Who exchanges when: the token in hand, refresh ahead of expiry, single flight, 401s.

`TokenKeeper` decides, per request, whether to use the token in hand, refresh it ahead of expiry
(one caller, while the others go on with the valid token), wait for an exchange already under
way, or exchange now. Its lock guards only its own fields and is never held across I/O. The flows
below (`obtain`, `renew`, `replace_refused`) turn its plans into effects for the adapters.
"""

from __future__ import annotations

import copy
import enum
import logging
import os
import threading
import weakref
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, ClassVar

from ._clock import SYSTEM_CLOCK, Clock
from ._config import Settings
from ._effects import AccessToken, Background, Effect, TokenFlow, Wait, Wake
from ._errors import LeanIXAuthError, LeanIXTokenError
from ._exchange import exchange_budget, exchange_rotating, read_api_token
from ._observe import ExchangeEvent, Reason, tell
from ._shared import SharedCache

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


def obtain(
    keeper: TokenKeeper,
    settings: Settings,
    shared: SharedCache | None = None,
    *,
    why: Reason | None = None,
) -> TokenFlow:
    """A token for one request: the one in hand, or one this caller or another exchanges. A
    failed exchange never drops a token that is still valid. `why`: the reason of an exchange
    this caller runs, when it is not the token's age (the API refused the token)."""
    while True:
        plan = keeper.plan()
        if plan.action is Action.USE and plan.token is not None:
            return plan.token
        if plan.action is Action.PAUSED and plan.error is not None:
            if not (yield from source_changed(keeper, settings)):
                raise copy_error(plan.error)
            keeper.resume()
            why = "rotated"
            continue
        if plan.action is Action.WAIT:
            error = yield from await_exchange(keeper, settings, plan.ticket)
            if error is None:
                continue
            token = keeper.valid_token()
            if token is None:
                raise copy_error(error)
            return token
        reason = "ahead" if plan.action is Action.REFRESH else why
        if reason is None:
            reason = "expired" if keeper.ever_held else "first"
        flow = settle(keeper, settings, shared, plan.ticket, reason=reason)
        if plan.action is Action.REFRESH and plan.token is not None:
            detached = yield Background(flow)
            if detached:
                return plan.token
        try:
            return (yield from flow)
        except LeanIXAuthError:
            token = keeper.valid_token()
            if token is None:
                raise
            return token


def renew(keeper: TokenKeeper, settings: Settings, shared: SharedCache | None = None) -> TokenFlow:
    """A new token now, whatever the one in hand: callers that ask together share one exchange.
    With a shared cache, a token another process stored that is before its refresh point counts
    as new. A failure raises, even while the old token is valid."""
    held = keeper.current
    while True:
        plan = keeper.claim()
        if plan.action is Action.EXCHANGE:
            return (yield from settle(keeper, settings, shared, plan.ticket, reason="forced"))
        error = yield from await_exchange(keeper, settings, plan.ticket)
        if error is not None:
            raise copy_error(error)
        token = keeper.valid_token()
        if token is not None and token is not held:
            return token


def source_changed(keeper: TokenKeeper, settings: Settings) -> Generator[Effect, Any, bool]:
    """Does the API token's source hold another token than the one that failed last (rotated in
    a file or a secrets manager)? A fixed value never changes."""
    if settings.source.value is not None or settings.source.busy:
        return False  # a fixed value, or a reader that has not answered yet: nothing new
    api_token = yield from read_api_token(settings)
    return settings.cache_key(api_token) != keeper.failed_source


def await_exchange(
    keeper: TokenKeeper, settings: Settings, ticket: int
) -> Generator[Wait, object, LeanIXAuthError | None]:
    """Wait for another caller's exchange, never longer than an exchange can take."""
    budget = exchange_budget(settings)
    outcome = yield Wait(lambda wake: keeper.wait(ticket, wake), budget, keeper.exchanging_thread)
    if isinstance(outcome, TimeoutError):
        error = LeanIXTokenError(
            f"the token exchange with {settings.token_url} did not finish within {budget:g} s"
        )
        keeper.give_up(ticket, error)
        return error
    assert outcome is None or isinstance(outcome, LeanIXAuthError)
    return outcome


def replace_refused(
    keeper: TokenKeeper, settings: Settings, shared: SharedCache | None, authorization: str
) -> TokenFlow:
    """The API answered 401 to `authorization` ("Bearer …"): forget that token here and, if it is
    still the shared one, in the cache; then a token for the resend."""
    keeper.discard(authorization)
    if shared is not None:
        yield from shared.forget(authorization.removeprefix("Bearer "))
    token = yield from obtain(keeper, settings, shared, why="refused")
    keeper.probation = token.authorization  # until the API accepts it
    return token


def settle(
    keeper: TokenKeeper,
    settings: Settings,
    shared: SharedCache | None,
    ticket: int,
    *,
    reason: Reason,
) -> TokenFlow:
    """Run exchange `ticket`, which this caller claimed for `reason`, tell the keeper how it
    went, and then (its waiters woken) `on_exchange`."""
    keeper.exchanging_thread = threading.get_ident()  # a detached refresh: its own thread
    api_token = None
    seen: list[ExchangeEvent] = []
    clock = keeper.clock
    try:
        api_token = yield from read_api_token(settings)
        if shared is None:
            token, _ = yield from exchange_rotating(settings, clock, api_token, reason, seen)
        else:
            held = keeper.current
            token = yield from shared.exchange(
                settings, clock, api_token, held, reason=reason, seen=seen
            )
    except LeanIXAuthError as error:
        keeper.failed_source = settings.cache_key(api_token) if api_token is not None else None
        keeper.failed(error, ticket)
        yield from tell(settings.on_exchange, seen)
        raise
    except BaseException:
        keeper.abandon(ticket)  # cancelled or closed mid-exchange: the waiters plan again
        raise
    keeper.store(token, ticket)
    yield from tell(settings.on_exchange, seen)
    return token


def copy_error(error: LeanIXAuthError) -> LeanIXAuthError:
    """A fresh copy to raise in one more thread, so tracebacks do not pile onto one instance."""
    clone = copy.copy(error)
    clone.__traceback__ = None
    return clone
