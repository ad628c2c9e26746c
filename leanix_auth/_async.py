"""Drive a core token flow on an event loop, asyncio or trio alike: anyio sleeps and runs the
cache's blocking I/O in worker threads, and each loop's own thread-safe call wakes a waiter,
since the exchange it waits for may end in another thread or on another loop."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.to_thread

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
from ._errors import LeanIXAuthError

Send = Callable[[ExchangeRequest], Awaitable[Reply | Failure]]


async def drive(flow: TokenFlow, send: Send, clock: Clock) -> AccessToken:
    """Run `flow` to its end in this task. Cancelled, the flow is closed, so that the exchange
    it ran is abandoned and its waiters plan again."""
    answer: object = None
    error: Exception | None = None
    with contextlib.closing(flow):
        while True:
            try:
                effect = flow.send(answer) if error is None else flow.throw(error)
            except StopIteration as stop:
                token: AccessToken = stop.value
                return token
            try:
                answer, error = await _carry_out(effect, send, clock), None
            except Exception as raised:  # the flow decides what it means
                answer, error = None, raised


async def _carry_out(effect: object, send: Send, clock: Clock) -> object:
    if isinstance(effect, ExchangeRequest):
        return await send(effect)
    if isinstance(effect, Sleep):
        await clock.asleep(effect.seconds)
        return None
    if isinstance(effect, Wait):
        return await wait(effect)
    if isinstance(effect, BlockingCall):
        return await in_thread(effect.call, effect.undo)
    if isinstance(effect, Background):
        return False  # no task of ours outlives this request: the caller refreshes inline
    raise unknown(effect)


async def wait(effect: Wait) -> LeanIXAuthError | TimeoutError | None:
    wake_loop, woken = _alarm()
    outcome: list[LeanIXAuthError | None] = []

    def wake(error: LeanIXAuthError | None) -> None:
        outcome.append(error)
        wake_loop()

    effect.subscribe(wake)
    with anyio.move_on_after(effect.timeout):
        await woken()
    return outcome[0] if outcome else TimeoutError()


def _alarm() -> tuple[Callable[[], None], Callable[[], Awaitable[Any]]]:
    """(wake, woken): `wake()` may be called from any thread; `await woken()` returns after it."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no asyncio loop: trio runs this task
        import trio

        event = trio.Event()
        token = trio.lowlevel.current_trio_token()

        def wake_trio() -> None:
            with contextlib.suppress(trio.RunFinishedError):  # that run has ended
                token.run_sync_soon(event.set)

        return wake_trio, event.wait
    future: asyncio.Future[None] = loop.create_future()

    def resolve() -> None:
        if not future.done():
            future.set_result(None)

    def wake_asyncio() -> None:
        with contextlib.suppress(RuntimeError):  # that loop has closed
            loop.call_soon_threadsafe(resolve)

    return wake_asyncio, lambda: future


async def in_thread(call: Callable[[], Any], undo: Callable[[Any], object] | None) -> Any:
    """`call()` in a worker thread. If this task is cancelled meanwhile it returns at once, and
    the thread, when `call` returns, hands the result to `undo` (say, releases a lock it got)."""
    guard = threading.Lock()
    state: dict[str, Any] = {}

    def run() -> Any:
        result = call()
        with guard:
            state["result"] = result
            abandoned = state.get("abandoned", False)
        if abandoned and undo is not None:
            undo(result)
        return result

    try:
        return await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
    except BaseException:
        with guard:
            state["abandoned"] = True
            finished = "result" in state
        if finished and undo is not None:
            undo(state["result"])
        raise
