"""Clients of every kind the library serves, so that one test checks all three."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import httpx
import requests

from leanix_auth import LeanIXAuth, LeanIXHttpxAuth
from leanix_auth.testing import FakeLeanIX

Call = Callable[[str], int]
KINDS = ["requests", "httpx", "httpx-async"]


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

        def call_async(url: str) -> int:
            async def go() -> int:
                async with httpx.AsyncClient(auth=hauth, timeout=10) as aclient:
                    return (await aclient.get(url)).status_code

            return asyncio.run(go())

        return call_async, hauth
