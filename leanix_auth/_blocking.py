"""Drive a core token flow where blocking is fine: requests, and `get_token()` of both adapters."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

from ._effects import (
    Background,
    BlockingCall,
    ExchangeRequest,
    Failure,
    Reply,
    Sleep,
    TokenFlow,
    Wait,
    unknown,
)
from ._errors import LeanIXAuthError
from ._exchange import AccessToken
from ._keeper import TokenKeeper

Send = Callable[[ExchangeRequest], Reply | Failure]


def drive(flow: TokenFlow, keeper: TokenKeeper, send: Send, *, detach: bool = True) -> AccessToken:
    """Run `flow` to its end. With `detach`, a refresh ahead of expiry runs in a daemon thread so
    that no caller waits for it while the token in hand is still good."""
    answer: object = None
    with contextlib.closing(flow):  # interrupted (Ctrl-C): the exchange is abandoned, not left
        while True:
            try:
                effect = flow.send(answer)
            except StopIteration as stop:
                token: AccessToken = stop.value
                return token
            answer = _carry_out(effect, keeper, send, detach)


def _carry_out(effect: object, keeper: TokenKeeper, send: Send, detach: bool) -> object:
    if isinstance(effect, ExchangeRequest):
        return send(effect)
    if isinstance(effect, Sleep):
        time.sleep(effect.seconds)
        return None
    if isinstance(effect, Wait):
        return wait(keeper, effect)
    if isinstance(effect, BlockingCall):
        return effect.call()
    if isinstance(effect, Background):
        return detach and _detach(effect.flow, keeper, send)
    raise unknown(effect)


def _detach(flow: TokenFlow, keeper: TokenKeeper, send: Send) -> bool:
    thread = threading.Thread(
        target=_drive_quietly, args=(flow, keeper, send), name="leanix-auth-refresh", daemon=True
    )
    thread.start()
    return True


def _drive_quietly(flow: TokenFlow, keeper: TokenKeeper, send: Send) -> None:
    # The keeper has logged the failure and keeps the valid token; nobody is waiting for us.
    with contextlib.suppress(LeanIXAuthError):
        drive(flow, keeper, send, detach=False)


def wait(keeper: TokenKeeper, effect: Wait) -> LeanIXAuthError | TimeoutError | None:
    done = threading.Event()
    outcome: list[LeanIXAuthError | None] = []

    def wake(error: LeanIXAuthError | None) -> None:
        outcome.append(error)
        done.set()

    keeper.wait(effect.ticket, wake)
    if not done.wait(effect.timeout):
        return TimeoutError()
    return outcome[0]
