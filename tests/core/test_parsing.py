"""Reading the token endpoint's answer: lifetime on the server's clock, margins, bad lifetimes.

`parse_token_response` is plain code without I/O, so its arithmetic is checked here to the
second; test_lifetime.py checks the same rules end to end over real sockets.
"""

from __future__ import annotations

import time

import pytest

from leanix_auth import LeanIXTokenError
from leanix_auth._clock import HandClock
from leanix_auth._exchange import parse_token_response
from leanix_auth.testing import make_token

from ..tokens import answer, settings


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


@pytest.mark.parametrize("issuer_behind", [0, 30, 7200])
def test_the_issuers_clock_decides_exp_minus_iat_whatever_the_date_header_says(
    issuer_behind: int,
) -> None:
    # An OAuth2 server whose clock runs behind its HTTP front (two hours, in a real outage):
    # its tokens live exp - iat, not exp - Date, which would call them expired on arrival.
    date = 2 * 10**9
    iat = date - issuer_behind
    token = parse_token_response(
        answer(make_token(iat=iat, exp=iat + 3600), date=date), 0.0, settings()
    )
    assert token.lifetime == 3599


def test_without_iat_the_date_header_is_the_issuers_clock() -> None:
    date = 2 * 10**9
    token = parse_token_response(
        answer(make_token(iat=None, exp=date + 600), date=date), 0.0, settings()
    )
    assert token.lifetime == 599


def test_without_iat_or_date_our_own_clock_counts() -> None:
    clock = HandClock(wall=2 * 10**9)
    value = make_token(iat=None, exp=2 * 10**9 + 600)
    assert parse_token_response(answer(value), 0.0, settings(), clock).lifetime == 599


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
