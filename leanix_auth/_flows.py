"""The flows that turn `TokenKeeper`'s plans into effects for the adapters: `obtain` (a token for
one request), `renew` (`refresh()`), `replace_refused` (after a 401), and `settle`, which runs one
exchange and tells the keeper, `on_exchange` and the tracer how it went. No I/O: the effects they
yield are carried out by `_blocking.drive` or `_async.drive`.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Generator
from typing import Any

from ._config import Settings
from ._effects import Background, Effect, TokenFlow, Wait
from ._errors import LeanIXAuthError, LeanIXTokenError
from ._exchange import exchange_budget, exchange_rotating, read_api_token
from ._keeper import Action, TokenKeeper
from ._observe import ExchangeEvent, Reason, tell
from ._shared import SharedCache


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
    if not keeper.may_check_source():
        return False  # looked lately: a pause must not read a secrets manager per request
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
    keeper.on_probation(token)
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
    except Exception as raised:
        # Ours, or something under the exchange (a hook of the carrier, a bug): either way a
        # failed exchange, paused after and said as ours, never a storm of new exchanges.
        error = raised if isinstance(raised, LeanIXAuthError) else _foreign(raised, settings)
        keeper.failed_source = settings.cache_key(api_token) if api_token is not None else None
        keeper.failed(error, ticket)
        yield from tell(settings.on_exchange, seen)
        if error is raised:
            raise
        raise error from raised
    except BaseException:
        keeper.abandon(ticket)  # cancelled or closed mid-exchange: the waiters plan again
        raise
    keeper.store(token, ticket)
    yield from tell(settings.on_exchange, seen)
    return token


def _foreign(error: Exception, settings: Settings) -> LeanIXTokenError:
    return LeanIXTokenError(
        f"the token exchange with {settings.token_url} failed: {type(error).__name__} (see its "
        "cause)"
    )


def copy_error(error: LeanIXAuthError) -> LeanIXAuthError:
    """A fresh copy to raise in one more thread, so tracebacks do not pile onto one instance."""
    clone = copy.copy(error)
    clone.__traceback__ = None
    return clone
