"""`on_exchange=`: one `ExchangeEvent` per exchange with the token endpoint, saying why it ran and
how it ended, for every adapter; a callback that raises is logged and breaks nothing."""

from __future__ import annotations

import asyncio
import logging

import pytest

from leanix_auth import (
    ExchangeEvent,
    LeanIXAiohttpMiddleware,
    LeanIXAuth,
    LeanIXConfigError,
    LeanIXHttpxAuth,
    LeanIXTokenError,
    MemoryCache,
)
from leanix_auth._clock import HandClock
from leanix_auth.testing import LeanIXServer

from ..clients import Callers
from ..observing import Events

API = "/services/pathfinder/v1/x"


def secrets_of(server: LeanIXServer) -> list[str]:
    return [server.api_token, *server.issued_tokens]


def test_a_cold_start_a_refresh_ahead_a_revocation_and_a_failure_are_four_events(
    kind: str, leanix_server: LeanIXServer, make_caller: Callers, clock: HandClock
) -> None:
    events = Events()
    call, _ = make_caller(kind, leanix_server, on_exchange=events)
    url = leanix_server.base_url + API
    assert call(url) == 200  # cold start
    clock.advance(3400)  # inside the last 300 s: one caller refreshes ahead
    assert call(url) == 200
    events.wait(2)  # requests and httpx.Client refresh in a background thread
    leanix_server.revoke_tokens()
    assert call(url) == 200  # a 401, a new token, the request resent
    clock.advance(3600)  # expired, and the endpoint down for every attempt
    leanix_server.fail_token_requests(503, times=10)
    with pytest.raises(LeanIXTokenError):
        call(url)
    assert events.told() == [
        ("first", "ok", 200),
        ("ahead", "ok", 200),
        ("refused", "ok", 200),
        ("expired", "LeanIXTokenError", 503),
    ]
    ok = events.seen[:3]
    assert all(e.origin == leanix_server.base_url for e in events.seen)
    assert all(e.lifetime is not None and 3500 < e.lifetime <= 3600 for e in ok)
    assert all(e.ok and e.duration == 0 for e in ok)  # no pause taken: the hand clock stood
    failed = events.seen[3]
    assert not failed.ok
    assert failed.lifetime is None
    assert failed.duration == pytest.approx(sum(clock.slept))  # its back-offs, on the hand clock
    assert not any(secret in repr(events.seen) for secret in secrets_of(leanix_server))


def test_refresh_is_forced_and_a_rotated_source_is_two_events(
    leanix_server: LeanIXServer,
) -> None:
    reads = [leanix_server.api_token] * 2  # read for the first exchange and the second's start

    def source() -> str:  # a secrets manager, rotated between two reads of one exchange
        return reads.pop(0) if reads else rotated

    events = Events()
    auth = LeanIXAuth(source, base_url=leanix_server.base_url, on_exchange=events)
    auth.refresh()
    rotated = leanix_server.rotate_api_token()  # the old API token now gets 401
    auth.refresh()
    assert events.told() == [
        ("forced", "ok", 200),
        ("forced", "LeanIXCredentialsError", 401),
        ("rotated", "ok", 200),
    ]


def test_a_token_adopted_from_a_shared_cache_is_no_exchange(leanix_server: LeanIXServer) -> None:
    events = Events()
    cache = MemoryCache()
    for _ in range(2):
        auth = LeanIXHttpxAuth(
            leanix_server.api_token,
            base_url=leanix_server.base_url,
            cache=cache,
            on_exchange=events,
        )
        auth.get_token()
    assert events.told() == [("first", "ok", 200)]
    assert len(leanix_server.token_requests) == 1


def test_a_callback_that_raises_is_logged_and_authentication_goes_on(
    leanix_server: LeanIXServer, all_logs: list[logging.LogRecord]
) -> None:
    def broken(event: ExchangeEvent) -> None:
        raise RuntimeError("the metrics backend is down")

    auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url, on_exchange=broken)
    assert auth.get_token() in leanix_server.issued_tokens
    [record] = [r for r in all_logs if r.name == "leanix_auth" and r.levelno == logging.ERROR]
    assert "on_exchange" in record.getMessage()
    assert record.exc_info is not None


def test_the_aiohttp_middleware_tells_its_exchanges(leanix_server: LeanIXServer) -> None:
    events = Events()
    leanix = LeanIXAiohttpMiddleware(
        leanix_server.api_token, base_url=leanix_server.base_url, on_exchange=events
    )

    async def main() -> None:
        await leanix.aget_token()
        await leanix.arefresh()

    asyncio.run(main())
    assert events.told() == [("first", "ok", 200), ("forced", "ok", 200)]


def test_on_exchange_must_be_callable() -> None:
    with pytest.raises(LeanIXConfigError, match="on_exchange must be a callable"):
        LeanIXAuth("t", subdomain="acme", on_exchange="metrics")  # type: ignore[arg-type]
