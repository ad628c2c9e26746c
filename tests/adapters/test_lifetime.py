"""A token's life end to end: expiry from the JWT, clock skew, refresh ahead, failed refreshes.

Tokens here live a few seconds (the fake's `token_ttl`), and the tests move the clock of the
auth objects by hand (`clock.advance`) into a token's refresh window or past its end: a minute of
a token's life costs a microsecond.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import anyio
import httpx
import pytest

from leanix_auth import LeanIXAuthError, LeanIXHttpxAuth
from leanix_auth._clock import HandClock
from leanix_auth.testing import LeanIXServer

from ..clients import Callers, until


def eventually(condition: Callable[[], bool], within: float = 10.0) -> None:
    """Wait, bounded, for something a background thread does."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "the background work did not happen"
        time.sleep(0.01)


def test_expiry_comes_from_exp_not_expires_in(
    clock: HandClock, kind: str, leanix_server: LeanIXServer, make_caller: Callers
) -> None:
    def answer_with_token(ttl: int) -> str:
        leanix_server.token_ttl = ttl
        token = leanix_server.issue_token()
        body = {"access_token": token, "expires_in": 3599, "token_type": "bearer"}
        leanix_server.add("POST", "/services/mtm/v1/oauth2/token", json=body)
        return token

    short = answer_with_token(3)  # exp says 3 s, expires_in claims an hour
    call, _ = make_caller(kind, leanix_server)
    assert call(leanix_server.base_url + "/services/a/v1") == 200
    clock.advance(2.1)  # past the 2 s we count for it
    long = answer_with_token(3600)
    assert call(leanix_server.base_url + "/services/a/v1") == 200
    assert [r.bearer for r in leanix_server.api_requests] == [short, long]
    assert len(leanix_server.token_requests) == 2


@pytest.mark.parametrize("skew", [-7200, 7200])
def test_a_clock_two_hours_off_still_reuses_one_token_for_its_life(
    clock: HandClock, kind: str, leanix_server: LeanIXServer, make_caller: Callers, skew: int
) -> None:
    leanix_server.clock_offset = skew  # the server's clock against ours
    leanix_server.token_ttl = 3
    call, _ = make_caller(kind, leanix_server)
    assert [call(leanix_server.base_url + "/services/a/v1") for _ in range(3)] == [200] * 3
    assert len(leanix_server.token_requests) == 1
    clock.advance(2.1)
    assert call(leanix_server.base_url + "/services/a/v1") == 200
    assert len(leanix_server.token_requests) == 2
    assert len(leanix_server.api_requests) == 4  # no expired token was sent and retried


@pytest.mark.parametrize("sync_kind", ["requests", "httpx"])
def test_sync_clients_refresh_ahead_in_the_background(
    clock: HandClock, sync_kind: str, leanix_server: LeanIXServer, make_caller: Callers
) -> None:
    leanix_server.token_ttl = 7  # counted as 6 s: refresh window from 4.5 s, mandatory from 5.7 s
    call, auth = make_caller(sync_kind, leanix_server)
    assert call(leanix_server.base_url + "/services/a/v1") == 200
    [old] = leanix_server.issued_tokens
    leanix_server.token_delay = 0.8
    clock.advance(4.6)
    assert call(leanix_server.base_url + "/services/a/v1") == 200
    # That call went out with the old token while the refresh was still under way.
    assert leanix_server.api_requests[-1].bearer == old
    # Wait for the client to hold the new token, not merely for the fake to have issued it.
    eventually(lambda: auth.get_token() != old)
    assert call(leanix_server.base_url + "/services/a/v1") == 200
    assert leanix_server.api_requests[-1].bearer == leanix_server.issued_tokens[1]
    assert len(leanix_server.token_requests) == 2


def test_async_refresh_holds_up_only_the_task_that_runs_it(
    clock: HandClock, leanix_server: LeanIXServer, backend: str
) -> None:
    leanix_server.token_ttl = 5
    auth = LeanIXHttpxAuth(leanix_server.api_token, base_url=leanix_server.base_url)
    url = leanix_server.base_url + "/services/a/v1"

    async def main() -> list[str | None]:
        async with httpx.AsyncClient(auth=auth) as client, anyio.create_task_group() as group:
            await client.get(url)
            leanix_server.token_delay = 0.5
            clock.advance(3.1)  # into the refresh window
            group.start_soon(client.get, url)  # this task runs the refresh
            await until(lambda: len(leanix_server.token_requests) == 2)
            assert (await client.get(url)).status_code == 200  # this one does not wait
        return [r.bearer for r in leanix_server.api_requests]

    bearers = anyio.run(main, backend=backend)
    old, new = leanix_server.issued_tokens
    assert bearers[:2] == [old, old]  # the first call, then the task that did not wait
    assert bearers[2] == new  # the refreshing task's own call went out once it had the new one
    assert len(leanix_server.token_requests) == 2


def test_failed_refresh_keeps_the_valid_token_until_it_expires(
    clock: HandClock,
    kind: str,
    leanix_server: LeanIXServer,
    make_caller: Callers,
    all_logs: list[logging.LogRecord],
) -> None:
    leanix_server.token_ttl = 5
    call, _ = make_caller(kind, leanix_server)
    assert call(leanix_server.base_url + "/services/a/v1") == 200
    [old] = leanix_server.issued_tokens
    clock.advance(3.1)
    leanix_server.fail_token_requests(401, times=100)  # LeanIX says no from now on
    assert call(leanix_server.base_url + "/services/a/v1") == 200
    eventually(lambda: any(r.levelno == logging.WARNING for r in all_logs))
    assert call(leanix_server.base_url + "/services/a/v1") == 200
    assert {r.bearer for r in leanix_server.api_requests} == {old}
    [warning] = [r for r in all_logs if r.levelno == logging.WARNING]
    assert "refresh failed; the current token stays in use" in warning.getMessage()
    clock.advance(1.0)  # now the token is past its life and no new one can be had
    with pytest.raises(LeanIXAuthError, match="rejected the API token"):
        call(leanix_server.base_url + "/services/a/v1")
