"""Clients of every kind the library serves, so that one test checks all three."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from typing import Any, TypeVar

import anyio
import httpx
import requests

from leanix_auth import LeanIXAuth, LeanIXHttpxAuth
from leanix_auth.testing import FakeLeanIX

T = TypeVar("T")
Call = Callable[[str], int]
KINDS = ["requests", "httpx", "httpx-async", "httpx-trio"]


class Callers:
    """Makes `call(url) -> status` functions through a fresh auth and client of one kind; closes
    every client it made when the test ends."""

    def __init__(self, stack: ExitStack) -> None:
        self._stack = stack

    def __call__(
        self, kind: str, fake: FakeLeanIX, **options: Any
    ) -> tuple[Call, LeanIXAuth | LeanIXHttpxAuth]:
        options.setdefault("api_token", fake.api_token)
        options.setdefault("base_url", fake.base_url)
        if kind == "requests":
            auth = LeanIXAuth(**options)
            session = self._stack.enter_context(requests.Session())
            session.auth = auth
            return (lambda url: session.get(url, timeout=10).status_code), auth
        hauth = LeanIXHttpxAuth(**options)
        if kind == "httpx":
            client = self._stack.enter_context(httpx.Client(auth=hauth, timeout=10))
            return (lambda url: client.get(url).status_code), hauth

        backend = kind.removeprefix("httpx-").replace("async", "asyncio")

        def call_async(url: str) -> int:
            async def go() -> int:
                async with httpx.AsyncClient(auth=hauth, timeout=10) as aclient:
                    return (await aclient.get(url)).status_code

            return anyio.run(go, backend=backend)

        return call_async, hauth


async def in_tasks(count: int, work: Callable[[], Awaitable[T]]) -> list[T]:
    """`work()` in `count` concurrent tasks on whichever loop runs (asyncio or trio)."""
    results: list[T] = []

    async def one() -> None:
        results.append(await work())

    async with anyio.create_task_group() as group:
        for _ in range(count):
            group.start_soon(one)
    return results


async def until(condition: Callable[[], object]) -> None:
    """Pace a test on a record of what happened (bounded, never a bare sleep)."""
    with anyio.fail_after(10):
        while not condition():  # noqa: ASYNC110 - a record to poll, no event to await
            await anyio.sleep(0.01)


def unreachable_url() -> str:
    """A loopback URL on a port where nothing listens: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"
