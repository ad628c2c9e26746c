"""Drive a core token flow where blocking is fine: requests, httpx.Client, and `get_token()` /
`refresh()` of every adapter."""

from __future__ import annotations

import contextlib
import contextvars
import sys
import threading
from collections.abc import Callable

from ._clock import Clock
from ._effects import (
    AccessToken,
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
from ._errors import LeanIXAuthError, LeanIXTokenError

Send = Callable[[ExchangeRequest], Reply | Failure]


def drive(flow: TokenFlow, send: Send, clock: Clock, *, detach: bool = True) -> AccessToken:
    """Run `flow` to its end. With `detach`, a refresh ahead of expiry runs in a daemon thread so
    that no caller waits for it while the token in hand is still good."""
    answer: object = None
    error: Exception | None = None
    with contextlib.closing(flow):  # interrupted (Ctrl-C): the exchange is abandoned, not left
        while True:
            try:
                effect = flow.send(answer) if error is None else flow.throw(error)
            except StopIteration as stop:
                token: AccessToken = stop.value
                return token
            try:
                answer, error = _carry_out(effect, send, clock, detach), None
            except Exception as raised:  # the flow decides what it means
                answer, error = None, raised


def _carry_out(effect: object, send: Send, clock: Clock, detach: bool) -> object:
    if isinstance(effect, ExchangeRequest):
        return send(effect)
    if isinstance(effect, Sleep):
        clock.sleep(effect.seconds)
        return None
    if isinstance(effect, Wait):
        return wait(effect)
    if isinstance(effect, BlockingCall):
        return effect.call()
    if isinstance(effect, Background):
        return detach and _detach(effect.flow, send, clock)
    raise unknown(effect)


def _detach(flow: TokenFlow, send: Send, clock: Clock) -> bool:
    # In the caller's context (a copy): the refresh's span is the child of the call that started
    # it, not a root of its own, as in anyio's worker threads.
    context = contextvars.copy_context()
    thread = threading.Thread(
        target=context.run,
        args=(_drive_quietly, flow, send, clock),
        name="leanix-auth-refresh",
        daemon=True,
    )
    thread.start()
    return True


def _drive_quietly(flow: TokenFlow, send: Send, clock: Clock) -> None:
    # The core has logged the failure and keeps the valid token; nobody is waiting for us.
    with contextlib.suppress(LeanIXAuthError):
        drive(flow, send, clock, detach=False)


def wait(effect: Wait) -> LeanIXAuthError | TimeoutError | None:
    if effect.thread == threading.get_ident() and _runs_an_event_loop():
        # The exchange runs in a task of the event loop this thread is running, which blocking
        # here stops: it could never end.
        raise LeanIXTokenError(
            "get_token() was called on the thread of an event loop whose task is exchanging the "
            "token, and would wait for it forever: in async code use `await auth.aget_token()`, "
            "or httpx.AsyncClient with LeanIXHttpxAuth"
        )
    done = threading.Event()
    outcome: list[LeanIXAuthError | None] = []

    def wake(error: LeanIXAuthError | None) -> None:
        outcome.append(error)
        done.set()

    effect.subscribe(wake)
    if not done.wait(effect.timeout):
        return TimeoutError()
    return outcome[0]


def _runs_an_event_loop() -> bool:
    """Is this thread running an event loop (asyncio's or trio's) right now?"""
    asyncio = sys.modules.get("asyncio")  # never imported: no loop of it can be running
    if asyncio is not None and asyncio.events._get_running_loop() is not None:
        return True
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_trio_token()
        except RuntimeError:
            return False
        return True
    return False
