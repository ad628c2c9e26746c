"""The refresh rules of `TokenKeeper`, on a clock the test moves by hand.

The keeper is plain code without I/O, so its windows and margins are checked here to the
millisecond; the adapters' tests check the same rules end to end over real sockets.
"""

from __future__ import annotations

from leanix_auth import LeanIXTokenError
from leanix_auth._clock import HandClock as Clock
from leanix_auth._effects import AccessToken
from leanix_auth._exchange import parse_token_response
from leanix_auth._keeper import Action, TokenKeeper
from leanix_auth.testing import make_token

from ..tokens import answer, settings


def keeper_with(clock: Clock, lifetime: int = 100) -> tuple[TokenKeeper, AccessToken]:
    keeper = TokenKeeper(clock)
    value = make_token(iat=0, exp=lifetime + 1)
    token = parse_token_response(answer(value), clock.monotonic(), settings(), clock)
    plan = keeper.plan()
    assert plan.action is Action.EXCHANGE
    keeper.store(token, plan.ticket)
    return keeper, token


def test_plans_through_a_tokens_life() -> None:
    clock = Clock()
    keeper, token = keeper_with(clock)  # refresh at +75, mandatory at +95, expires at +100
    assert keeper.plan().action is Action.USE
    clock.advance(76)
    first = keeper.plan()
    assert first.action is Action.REFRESH
    assert first.token is token
    # While that refresh runs, everybody else keeps the valid token and nobody else refreshes.
    assert [keeper.plan().action for _ in range(3)] == [Action.USE] * 3
    clock.advance(20)  # now in the mandatory window, refresh still under way: wait for it
    assert keeper.plan().action is Action.WAIT


def test_mandatory_window_makes_callers_exchange() -> None:
    clock = Clock()
    keeper, _ = keeper_with(clock)
    clock.advance(96)
    assert keeper.plan().action is Action.EXCHANGE
    assert keeper.plan().action is Action.WAIT


def test_failed_refresh_keeps_the_valid_token_and_backs_off() -> None:
    clock = Clock()
    keeper, token = keeper_with(clock)
    clock.advance(76)
    plan = keeper.plan()
    assert plan.action is Action.REFRESH
    assert keeper.failed(LeanIXTokenError("down"), plan.ticket) is token
    assert keeper.plan().action is Action.USE  # backing off for a second
    clock.advance(1.01)
    plan = keeper.plan()
    assert plan.action is Action.REFRESH
    assert keeper.failed(LeanIXTokenError("down"), plan.ticket) is token
    clock.advance(1.01)
    assert keeper.plan().action is Action.USE  # the second pause is two seconds
    clock.advance(1.0)
    assert keeper.plan().action is Action.REFRESH


def test_no_token_is_used_past_its_expiry() -> None:
    clock = Clock()
    keeper, _ = keeper_with(clock)
    clock.advance(100)
    assert keeper.valid_token() is None
    plan = keeper.plan()
    assert plan.action is Action.EXCHANGE
    assert plan.token is None
    assert keeper.failed(LeanIXTokenError("down"), plan.ticket) is None


def test_waiters_hear_how_the_exchange_ended() -> None:
    clock = Clock()
    keeper = TokenKeeper(clock)
    claimed = keeper.plan()
    assert claimed.action is Action.EXCHANGE
    wait = keeper.plan()
    heard: list[object] = []
    keeper.wait(wait.ticket, heard.append)
    error = LeanIXTokenError("down")
    keeper.failed(error, claimed.ticket)
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


def test_an_abandoned_exchange_sends_its_waiters_back_to_plan() -> None:
    keeper = TokenKeeper(Clock())
    claimed = keeper.plan()
    wait = keeper.plan()
    heard: list[object] = []
    keeper.wait(wait.ticket, heard.append)
    keeper.abandon(claimed.ticket)
    assert heard == [None]  # no error: plan again
    assert keeper.plan().action is Action.EXCHANGE  # and one of them exchanges, at once


def test_an_exchange_given_up_on_cannot_end_the_next_one() -> None:
    clock = Clock()
    keeper = TokenKeeper(clock)
    stalled = keeper.plan()
    keeper.give_up(stalled.ticket, LeanIXTokenError("did not finish"))
    fresh = keeper.plan()
    assert fresh.action is Action.EXCHANGE
    late = parse_token_response(
        answer(make_token(iat=0, exp=101)), clock.monotonic(), settings(), clock
    )
    keeper.store(late, stalled.ticket)  # the stalled exchange ends after all
    assert keeper.plan().action is Action.USE  # its token is good to use
    heard: list[object] = []
    keeper.wait(fresh.ticket, heard.append)
    assert heard == []  # but the fresh exchange is still under way for its waiters
