"""The refresh rules of the core, on a clock the test moves by hand.

`TokenKeeper` and `parse_token_response` are plain code without I/O, so their windows and
margins are checked here to the millisecond; the adapters' tests check the same rules end to end
over real sockets with short-lived tokens.
"""

from __future__ import annotations

import json
import time
from email.utils import formatdate

import pytest

from leanix_auth import LeanIXTokenError
from leanix_auth._config import Settings, resolve
from leanix_auth._core import AccessToken, Action, Reply, TokenKeeper, parse_token_response
from leanix_auth.testing import make_token


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def settings(refresh: float = 300, mandatory: float = 30) -> Settings:
    return resolve(
        "t",
        subdomain="acme",
        base_url=None,
        token_url=None,
        timeout=10,
        refresh_margin=refresh,
        mandatory_margin=mandatory,
        environ={},
    )


def answer(value: str, date: float | None = None) -> Reply:
    headers = {} if date is None else {"date": formatdate(date, usegmt=True)}
    return Reply(200, headers, json.dumps({"access_token": value, "expires_in": 3599}).encode())


@pytest.mark.parametrize("skew", [-7200, 0, 7200])
def test_lifetime_is_exp_minus_date_whatever_our_clock_says(skew: int) -> None:
    server_now = int(time.time()) + skew  # the endpoint's clock, hours off ours
    token = parse_token_response(
        answer(make_token(exp=server_now + 3600), server_now), 50.0, settings()
    )
    assert token.lifetime == 3599  # one second short for whole-second resolution
    assert token.expires_at == 50.0 + 3599  # counted on the monotonic clock from the send
    assert token.refresh_at == token.expires_at - 300
    assert token.mandatory_at == token.expires_at - 30


def test_iat_wins_over_the_date_header() -> None:
    value = make_token(ttl=600, iat=0, exp=1800)  # a 30-minute token issued at the epoch
    token = parse_token_response(answer(value, date=10**9), 0.0, settings())
    assert token.lifetime == 1799


def test_margins_are_capped_by_lifetime() -> None:
    value = make_token(iat=0, exp=101)
    token = parse_token_response(answer(value), 0.0, settings())
    assert token.lifetime == 100
    assert token.refresh_at == 75  # 25 % of the lifetime, not 300 s
    assert token.mandatory_at == 95  # 5 %, not 30 s


def test_one_second_short_but_never_more_than_half() -> None:
    value = make_token(iat=0, exp=1)
    assert parse_token_response(answer(value), 0.0, settings()).lifetime == 0.5


def test_expired_on_arrival_is_an_error() -> None:
    value = make_token(iat=100, exp=100)
    with pytest.raises(LeanIXTokenError, match="already expired"):
        parse_token_response(answer(value), 0.0, settings())


def keeper_with(clock: Clock, lifetime: int = 100) -> tuple[TokenKeeper, AccessToken]:
    keeper = TokenKeeper(clock)
    value = make_token(iat=0, exp=lifetime + 1)
    token = parse_token_response(answer(value), clock(), settings())
    assert keeper.plan().action is Action.EXCHANGE
    keeper.store(token)
    return keeper, token


def test_plans_through_a_tokens_life() -> None:
    clock = Clock()
    keeper, token = keeper_with(clock)  # refresh at +75, mandatory at +95, expires at +100
    assert keeper.plan().action is Action.USE
    clock.now += 76
    first = keeper.plan()
    assert first.action is Action.REFRESH
    assert first.token is token
    # While that refresh runs, everybody else keeps the valid token and nobody else refreshes.
    assert [keeper.plan().action for _ in range(3)] == [Action.USE] * 3
    clock.now += 20  # now in the mandatory window, refresh still under way: wait for it
    assert keeper.plan().action is Action.WAIT


def test_mandatory_window_makes_callers_exchange() -> None:
    clock = Clock()
    keeper, _ = keeper_with(clock)
    clock.now += 96
    assert keeper.plan().action is Action.EXCHANGE
    assert keeper.plan().action is Action.WAIT


def test_failed_refresh_keeps_the_valid_token_and_backs_off() -> None:
    clock = Clock()
    keeper, token = keeper_with(clock)
    clock.now += 76
    assert keeper.plan().action is Action.REFRESH
    assert keeper.failed(LeanIXTokenError("down")) is token
    assert keeper.plan().action is Action.USE  # backing off for a second
    clock.now += 1.01
    assert keeper.plan().action is Action.REFRESH
    assert keeper.failed(LeanIXTokenError("down")) is token
    clock.now += 1.01
    assert keeper.plan().action is Action.USE  # the second pause is two seconds
    clock.now += 1.0
    assert keeper.plan().action is Action.REFRESH


def test_no_token_is_used_past_its_expiry() -> None:
    clock = Clock()
    keeper, _ = keeper_with(clock)
    clock.now += 100
    assert keeper.valid_token() is None
    plan = keeper.plan()
    assert plan.action is Action.EXCHANGE
    assert plan.token is None
    assert keeper.failed(LeanIXTokenError("down")) is None


def test_waiters_hear_how_the_exchange_ended() -> None:
    clock = Clock()
    keeper = TokenKeeper(clock)
    assert keeper.plan().action is Action.EXCHANGE
    wait = keeper.plan()
    heard: list[object] = []
    keeper.wait(wait.ticket, heard.append)
    error = LeanIXTokenError("down")
    keeper.failed(error)
    assert heard == [error]
    keeper.wait(wait.ticket, heard.append)  # too late: told at once
    assert heard == [error, error]


def test_discard_only_drops_the_token_that_was_refused() -> None:
    clock = Clock()
    keeper, token = keeper_with(clock)
    keeper.discard("Bearer some-older-token")
    assert keeper.valid_token() is token
    keeper.discard(token.authorization)
    assert keeper.valid_token() is None
