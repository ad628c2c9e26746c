"""Property-based tests: any configuration and any token-endpoint answer ends in a working auth or
one LeanIXAuthError with a message, never another exception, a hang, or a token used past exp."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from email.utils import formatdate
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leanix_auth import LeanIXAuth, LeanIXAuthError, LeanIXConfigError, LeanIXHttpxAuth
from leanix_auth._clock import HandClock
from leanix_auth._config import MAX_LIFETIME, is_loopback, resolve
from leanix_auth._effects import ExchangeRequest, Failure, Reply, Sleep
from leanix_auth._exchange import ATTEMPTS, MAX_RETRY_AFTER, exchange, parse_token_response
from leanix_auth._token_source import Secret
from leanix_auth.testing import LeanIXMock, make_token


@pytest.fixture(autouse=True, scope="module")
def no_leanix_environment() -> Iterator[None]:
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("LEANIX_")}
    yield
    os.environ.update(saved)


labels = st.sampled_from(
    ["a", "a" * 63, "a" * 64, "", "xn--zz", "xn--bcher-kva", "-a", "a-", "999"]
)
hosts = st.one_of(
    st.sampled_from(["acme.leanix.net", "localhost", "127.0.0.1", "[::1]", "", "xn--bcher-kva.ch"]),
    st.text(min_size=0, max_size=20),
    st.lists(labels, min_size=1, max_size=5).map(".".join),
)
urls = st.builds(
    "{}{}{}{}{}{}{}".format,
    st.sampled_from(["https://", "http://", "HTTPS://", "ftp://", "", "javascript:", "https:/"]),
    st.sampled_from(["", "user:pw@", "@", "apitoken@"]),
    hosts,
    st.one_of(
        st.just(""), st.integers(-5, 70000).map(":{}".format), st.text(max_size=4).map(":{}".format)
    ),
    st.sampled_from(["", "/", "/services", "/a b", "/\x00"]),
    st.sampled_from(["", "?", "?x=1"]),
    st.sampled_from(["", "#", "#top"]),
)
texts = st.one_of(
    st.none(), st.text(max_size=70), st.sampled_from(["", " ", "acme", "ACME", "a-b"])
)


@settings(max_examples=600, deadline=None)
@given(
    auth_class=st.sampled_from([LeanIXAuth, LeanIXHttpxAuth]),
    api_token=texts,
    subdomain=texts,
    base_url=st.one_of(st.none(), urls),
    token_url=st.one_of(st.none(), urls),
    timeout=st.one_of(st.floats(allow_nan=True), st.integers(-3, 3)),
)
def test_any_configuration_is_sound_or_one_config_error(
    auth_class: type[LeanIXAuth],
    api_token: str | None,
    subdomain: str | None,
    base_url: str | None,
    token_url: str | None,
    timeout: float,
) -> None:
    try:
        auth = auth_class(
            api_token, subdomain=subdomain, base_url=base_url, token_url=token_url, timeout=timeout
        )
    except LeanIXConfigError as error:
        assert str(error)
        return
    for url in (auth.base_url, auth.token_url):
        parts = urlsplit(url)
        assert parts.scheme == "https" or (
            parts.scheme == "http" and is_loopback(parts.hostname or "")
        )
        assert parts.hostname
        assert not parts.username
        assert not parts.password
        assert not parts.query
        assert not parts.fragment


@settings(max_examples=300, deadline=None)
@given(host=st.lists(labels, min_size=1, max_size=5).map(".".join), keyword=st.booleans())
def test_any_host_accepted_is_one_both_clients_can_connect_to(host: str, keyword: bool) -> None:
    url = f"https://{host}"
    try:
        auth = (
            LeanIXAuth("t", base_url=url)
            if keyword
            else LeanIXAuth("t", token_url=url, subdomain="a")
        )
    except LeanIXConfigError:
        return
    assert httpx.URL(auth.token_url).host  # as httpx parses it when it connects
    host.encode("idna")  # as the socket layer encodes it for requests (urllib3)


@settings(max_examples=300, deadline=None)
@given(
    secret=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=8, max_size=40),
    subdomain=texts,
    base_url=st.one_of(st.none(), urls),
    misplaced=st.booleans(),
)
def test_a_config_error_never_echoes_the_api_token(
    secret: str, subdomain: str | None, base_url: str | None, misplaced: bool
) -> None:
    api_token = "apitok-" + secret  # a token no wording of ours can contain
    if misplaced:  # pasted where the subdomain goes: still not echoed
        subdomain, base_url = api_token, None
    try:
        LeanIXAuth(api_token, subdomain=subdomain, base_url=base_url)
    except LeanIXConfigError as error:
        assert api_token not in str(error)


def jwt_with(exp: Any, **claims: Any) -> str:
    return make_token(exp=exp, **claims) if exp is not ... else make_token(exp=None, **claims)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
exp_values = st.one_of(
    st.just(...),  # no exp at all
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12),
    st.text(max_size=10),
    st.just(10**400),
)
token_answers = st.builds(
    lambda exp, expires_in, extra: json.dumps(
        {"access_token": jwt_with(exp), "expires_in": expires_in, **extra}
    ).encode(),
    exp_values,
    json_values,
    st.dictionaries(st.sampled_from(["token_type", "scope", "expired"]), json_values, max_size=2),
)
bodies = st.one_of(
    st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode()), token_answers
)
dates = st.one_of(
    st.none(), st.text(max_size=30), st.integers(0, 2**33).map(lambda t: formatdate(t, usegmt=True))
)


@settings(max_examples=800, deadline=None)
@given(body=bodies, date=dates)
def test_any_200_is_a_sound_token_or_one_token_error(body: bytes, date: str | None) -> None:
    headers = {} if date is None else {"date": date}
    sent_at = 1000.0
    try:
        token = parse_token_response(Reply(200, headers, body), sent_at, settings_for_fuzz())
    except LeanIXAuthError as error:
        assert str(error)
        return
    assert math.isfinite(token.lifetime)
    assert 0 < token.lifetime <= MAX_LIFETIME  # whatever the claims say (an exp in milliseconds)
    assert (
        sent_at
        < token.refresh_at
        <= token.mandatory_at
        <= token.expires_at
        == sent_at + token.lifetime
    )
    exp = token.claims.get("exp")
    if date is None and isinstance(exp, int | float) and abs(exp) < 1e300:
        assert token.lifetime <= exp - time.time() + 1  # never beyond exp on our own clock


def settings_for_fuzz() -> Any:
    return resolve(
        "t",
        subdomain="acme",
        base_url=None,
        token_url=None,
        timeout=1,
        refresh_margin=300,
        mandatory_margin=30,
        environ={},
    )


replies = st.one_of(
    st.builds(
        Reply,
        st.integers(100, 599),
        st.dictionaries(
            st.sampled_from(["retry-after", "location", "date"]), st.text(max_size=20), max_size=3
        ),
        st.binary(max_size=100),
    ),
    st.builds(Failure, st.text(max_size=10), st.booleans()),
)


@settings(max_examples=400, deadline=None)
@given(answers=st.lists(replies, min_size=ATTEMPTS, max_size=ATTEMPTS))
def test_any_sequence_of_failures_ends_within_the_attempts(answers: list[Reply | Failure]) -> None:
    flow = exchange(settings_for_fuzz(), HandClock(), Secret("t"))
    sent = 0
    answer: Reply | Failure | None = None
    try:
        while True:
            effect = flow.send(answer)
            if isinstance(effect, ExchangeRequest):
                answer = answers[sent]
                sent += 1
            else:
                assert isinstance(effect, Sleep)
                assert 0 <= effect.seconds <= MAX_RETRY_AFTER
                answer = None
    except StopIteration:
        pass  # a 200 that held a token: fine
    except LeanIXAuthError as error:
        assert str(error)
    assert 1 <= sent <= ATTEMPTS


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    status=st.sampled_from([200, 200, 200, 301, 400, 401, 403, 404]),
    body=bodies,
    kind=st.sampled_from(["requests", "httpx"]),
)
def test_any_answer_through_the_public_api_is_a_token_or_one_error(
    status: int, body: bytes, kind: str
) -> None:
    with LeanIXMock() as mock:
        mock.add("POST", "/services/mtm/v1/oauth2/token", body=body, status=status)
        auth_class = LeanIXAuth if kind == "requests" else LeanIXHttpxAuth
        auth = auth_class(mock.api_token, subdomain="acme")
        try:
            assert isinstance(auth.get_token(), str)
        except LeanIXAuthError as error:
            assert str(error)
            assert mock.api_token not in str(error)


@pytest.mark.parametrize("kind", ["requests", "httpx"])
def test_a_huge_answer_is_a_clear_error(kind: str) -> None:
    with LeanIXMock() as mock:
        mock.add("POST", "/services/mtm/v1/oauth2/token", body=b"x" * (5 << 20))
        auth_class = LeanIXAuth if kind == "requests" else LeanIXHttpxAuth
        with pytest.raises(LeanIXAuthError, match="not with JSON"):
            auth_class(mock.api_token, subdomain="acme").get_token()
