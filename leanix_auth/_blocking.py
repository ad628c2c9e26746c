"""Drive a core token flow where blocking is fine: requests, and `get_token()` of both adapters."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

from ._effects import (
    Background,
    CacheCall,
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
    while True:
        try:
            effect = flow.send(answer)
        except StopIteration as stop:
            token: AccessToken = stop.value
            return token
        if isinstance(effect, ExchangeRequest):
            answer = send(effect)
        elif isinstance(effect, Sleep):
            time.sleep(effect.seconds)
            answer = None
        elif isinstance(effect, Wait):
            answer = wait(keeper, effect.ticket)
        elif isinstance(effect, CacheCall):
            answer = effect.call()
        elif isinstance(effect, Background):
            answer = detach and _detach(effect.flow, keeper, send)
        else:
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


def wait(keeper: TokenKeeper, ticket: int) -> LeanIXAuthError | None:
    done = threading.Event()
    outcome: list[LeanIXAuthError | None] = []

    def wake(error: LeanIXAuthError | None) -> None:
        outcome.append(error)
        done.set()

    keeper.wait(ticket, wake)
    done.wait()
    return outcome[0]
