"""Under sustained failure the library stays bounded: a wrong API token or an API that refuses
every token costs a few exchanges, not one per call. Time moves by hand (`clock.advance`)."""

from __future__ import annotations

import threading

import pytest

from leanix_auth import LeanIXCredentialsError
from leanix_auth._clock import HandClock
from leanix_auth._keeper import FAILED_EXCHANGE_BACKOFF, REFUSED_FRESH_COOL_DOWN, backoff
from leanix_auth.testing import LeanIXServer

from .clients import Callers

SYNC_KINDS = ["requests", "httpx"]


def test_the_pause_after_failures_grows_and_stays_capped_whatever_the_count() -> None:
    low, high = FAILED_EXCHANGE_BACKOFF
    assert [backoff(n) for n in (1, 2, 3)] == [low, 2 * low, 4 * low]
    assert backoff(1_025) == backoff(10**9) == high  # once 2.0 ** 1024 overflowed here


@pytest.mark.parametrize("kind", SYNC_KINDS)
def test_a_wrong_api_token_for_1100_calls_backs_off_and_heals_when_its_source_changes(
    kind: str, leanix_server: LeanIXServer, make_caller: Callers, clock: HandClock
) -> None:
    source = ["not-the-right-one"]
    call, _ = make_caller(kind, leanix_server, api_token=lambda: source[0])
    url = leanix_server.base_url + "/services/a/v1"
    errors = []
    for _ in range(1_100):
        with pytest.raises(LeanIXCredentialsError) as caught:
            call(url)
        errors.append(caught.value)
        clock.advance(1)
    assert all("rejected the API token" in str(error) for error in errors)
    # Exchanges at 0, 1, 3, 7, 15, 31 and 63 s, then one a minute (the cap) up to 1,099 s.
    assert len(leanix_server.token_requests) == 6 + len(range(63, 1_100, 60))
    assert clock.slept == []  # no call waited: inside a pause, the last error at once
    source[0] = leanix_server.api_token  # rotated: the pause ends at once
    assert call(url) == 200


@pytest.mark.parametrize("kind", SYNC_KINDS)
def test_200_calls_to_a_route_that_always_refuses_make_two_exchanges(
    kind: str, leanix_server: LeanIXServer, make_caller: Callers, clock: HandClock
) -> None:
    leanix_server.add("GET", "/services/a/v1/forbidden", status=401)
    call, _ = make_caller(kind, leanix_server)
    statuses = [call(leanix_server.base_url + "/services/a/v1/forbidden") for _ in range(200)]
    assert statuses == [401] * 200
    # The first 401 is healed with a new token; that one is refused at once too: the API refuses
    # fresh tokens, so their 401s pass through for the cool-down.
    assert len(leanix_server.token_requests) == 2
    clock.advance(REFUSED_FRESH_COOL_DOWN)
    assert call(leanix_server.base_url + "/services/a/v1/forbidden") == 401
    assert len(leanix_server.token_requests) == 3  # the cool-down is over: one more try


@pytest.mark.parametrize("kind", SYNC_KINDS)
def test_16_threads_on_a_route_that_always_refuses_make_at_most_3_exchanges(
    kind: str, leanix_server: LeanIXServer, make_caller: Callers, clock: HandClock
) -> None:
    leanix_server.add("GET", "/services/a/v1/forbidden", status=401)
    call, _ = make_caller(kind, leanix_server)
    statuses: list[int] = []

    def worker() -> None:
        statuses.extend(
            call(leanix_server.base_url + "/services/a/v1/forbidden") for _ in range(13)
        )

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [401] * 16 * 13
    assert len(leanix_server.token_requests) <= 3


@pytest.mark.parametrize("kind", SYNC_KINDS)
def test_a_token_accepted_after_a_refusal_heals_its_revocation_at_once(
    kind: str, leanix_server: LeanIXServer, make_caller: Callers, clock: HandClock
) -> None:
    leanix_server.add("GET", "/services/a/v1/forbidden", status=401)
    call, _ = make_caller(kind, leanix_server)
    assert call(leanix_server.base_url + "/services/a/v1/forbidden") == 401
    assert call(leanix_server.base_url + "/services/a/v1") == 200  # the fresh token is good
    leanix_server.revoke_tokens()
    assert call(leanix_server.base_url + "/services/a/v1") == 200  # healed on the first call
    assert len(leanix_server.token_requests) == 3
