"""Shared fixtures. The fake LeanIX fixtures come from the plugin's entry point, as for any user."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from leanix_auth._clock import HandClock
from leanix_auth.testing import LeanIXServer

from .clients import KINDS, Call, Callers


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> str:
    """The event loop an async test runs on: `anyio.run(main, backend=backend)`."""
    return str(request.param)


@pytest.fixture
def clock(leanix_clock: HandClock) -> HandClock:
    """The plugin's `leanix_clock`, by a shorter name: `clock.advance(60)`."""
    return leanix_clock


@pytest.fixture
def make_caller() -> Iterator[Callers]:
    with ExitStack() as stack:
        yield Callers(stack)


@pytest.fixture
def caller(kind: str, leanix_server: LeanIXServer, make_caller: Callers) -> Call:
    call, _ = make_caller(kind, leanix_server)
    return call


@pytest.fixture
def all_logs() -> Iterator[list[logging.LogRecord]]:
    """Every log record at any level from any logger, while the test runs."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(level=logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
