"""The token exchange, exactly as LeanIX documents it, and what happens when the endpoint fails."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from leanix_auth import LeanIXAuth, LeanIXAuthError, LeanIXCredentialsError, LeanIXHttpxAuth
from leanix_auth._clock import HandClock
from leanix_auth.testing import LeanIXServer

from ..clients import Call, Callers, unreachable_url


def test_exchange_is_post_with_basic_apitoken_and_client_credentials(
    caller: Call, leanix_server: LeanIXServer
) -> None:
    assert caller(leanix_server.base_url + "/services/pathfinder/v1/ping") == 200
    [exchange] = leanix_server.token_requests
    assert exchange.method == "POST"
    assert exchange.path == "/services/mtm/v1/oauth2/token"
    expected = base64.b64encode(f"apitoken:{leanix_server.api_token}".encode()).decode()
    assert exchange.headers["Authorization"] == f"Basic {expected}"
    assert exchange.form() == {"grant_type": ["client_credentials"]}
    [api_call] = leanix_server.api_requests
    assert api_call.bearer == leanix_server.issued_tokens[0]


def test_token_is_reused_while_valid(caller: Call, leanix_server: LeanIXServer) -> None:
    for _ in range(5):
        assert caller(leanix_server.base_url + "/services/a/v1") == 200
    assert len(leanix_server.token_requests) == 1
    assert len({r.bearer for r in leanix_server.api_requests}) == 1


def test_wrong_api_token_is_a_credentials_error_and_not_retried(
    kind: str, leanix_server: LeanIXServer, make_caller: Callers
) -> None:
    call, _ = make_caller(kind, leanix_server, api_token="not-the-right-one")
    with pytest.raises(LeanIXCredentialsError, match=r"rejected the API token \(HTTP 401") as err:
        call(leanix_server.base_url + "/services/a/v1")
    assert "Bad credentials" in str(err.value)  # LeanIX's error_description is passed on
    assert err.value.status == 401
    assert len(leanix_server.token_requests) == 1
    assert leanix_server.api_requests == []


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_rate_limits_and_server_errors_are_retried(
    kind: str, leanix_server: LeanIXServer, make_caller: Callers, status: int, clock: HandClock
) -> None:
    leanix_server.fail_token_requests(status, times=2)
    call, _ = make_caller(kind, leanix_server)
    assert call(leanix_server.base_url + "/services/a/v1") == 200
    assert len(leanix_server.token_requests) == 3
    # Growing pauses with jitter between the attempts: 0.25 s, then 0.5 s, each at least halved.
    first, second = clock.slept
    assert 0.125 <= first <= 0.25
    assert 0.25 <= second <= 0.5


def test_retry_after_is_honoured(
    kind: str, leanix_server: LeanIXServer, make_caller: Callers, clock: HandClock
) -> None:
    leanix_server.fail_token_requests(429, times=1, retry_after=7)
    call, _ = make_caller(kind, leanix_server)
    assert call(leanix_server.base_url + "/services/a/v1") == 200
    assert clock.slept == [7.0]  # a backoff alone would be 0.25 s at most
    assert len(leanix_server.token_requests) == 2


def test_persistent_failure_ends_in_one_clear_error(
    kind: str, leanix_server: LeanIXServer, make_caller: Callers, clock: HandClock
) -> None:
    leanix_server.fail_token_requests(503, times=10)
    call, _ = make_caller(kind, leanix_server)
    with pytest.raises(LeanIXAuthError, match="answered HTTP 503: unavailable: Injected") as err:
        call(leanix_server.base_url + "/services/a/v1")
    assert leanix_server.token_url in str(err.value)
    assert len(leanix_server.token_requests) == 4  # one try and three retries, then give up
    assert len(clock.slept) == 3


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"<html>gateway</html>", "not with JSON"),
        (b"[1, 2]", "without a string 'access_token'"),
        (b'{"token_type": "bearer"}', "without a string 'access_token'"),
        (b'{"access_token": 42}', "without a string 'access_token'"),
        (b'{"access_token": "not a jwt"}', "cannot go into an HTTP header"),
        (b'{"access_token": "opaque"}', "lifetime is unknown"),
        (b'{"access_token": "opaque", "expires_in": "soon"}', "lifetime is unknown"),
        (b'{"access_token": "opaque", "expires_in": -5}', "already expired"),
    ],
)
def test_a_broken_200_is_a_clear_error(
    kind: str, leanix_server: LeanIXServer, make_caller: Callers, body: bytes, fragment: str
) -> None:
    leanix_server.add("POST", "/services/mtm/v1/oauth2/token", body=body)
    call, _ = make_caller(kind, leanix_server)
    with pytest.raises(LeanIXAuthError, match=fragment):
        call(leanix_server.base_url + "/services/a/v1")


def test_an_opaque_token_with_expires_in_works(
    kind: str, leanix_server: LeanIXServer, make_caller: Callers
) -> None:
    # Not a JWT, so expires_in is the fallback. The fake's API refuses a token it did not issue;
    # after that 401 it is exchanged and sent once more, and the second 401 is the answer.
    leanix_server.add(
        "POST", "/services/mtm/v1/oauth2/token", json={"access_token": "opaque", "expires_in": 3599}
    )
    call, _ = make_caller(kind, leanix_server)
    assert call(leanix_server.base_url + "/services/a/v1") == 401
    assert [r.bearer for r in leanix_server.api_requests] == ["opaque", "opaque"]
    assert len(leanix_server.token_requests) == 2


def test_an_already_expired_token_is_one_error_not_a_loop(
    kind: str, leanix_server: LeanIXServer, make_caller: Callers
) -> None:
    leanix_server.token_ttl = -60
    call, _ = make_caller(kind, leanix_server)
    with pytest.raises(LeanIXAuthError, match="already expired"):
        call(leanix_server.base_url + "/services/a/v1")
    assert len(leanix_server.token_requests) == 1


def test_unreachable_endpoint_is_retried_then_one_error_with_requests(clock: HandClock) -> None:
    auth = LeanIXAuth("t", base_url=unreachable_url())
    with (
        requests.Session() as session,
        pytest.raises(LeanIXAuthError, match="could not be reached"),
    ):
        session.get(auth.base_url + "/services/a/v1", auth=auth)
    assert len(clock.slept) == 3  # four attempts


def test_unreachable_endpoint_with_get_token_of_httpx_is_one_error(clock: HandClock) -> None:
    auth = LeanIXHttpxAuth("t", base_url=unreachable_url())
    with pytest.raises(LeanIXAuthError, match="could not be reached"):
        auth.get_token()
    assert len(clock.slept) == 3  # four attempts


def test_read_timeout_is_not_retried(leanix_server: LeanIXServer) -> None:
    leanix_server.token_delay = 1.0
    auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url, timeout=0.2)
    with pytest.raises(LeanIXAuthError, match=r"no answer within 0.2 s"):
        auth.get_token()
    assert len(leanix_server.token_requests) == 1


def test_session_passed_in_carries_the_exchange(leanix_server: LeanIXServer) -> None:
    seen: list[str] = []

    class Recording(HTTPAdapter):  # what a session's transport sees: proxies, certificates ...
        def send(self, request: requests.PreparedRequest, *args: Any, **options: Any) -> Any:
            seen.append(str(request.url))
            return super().send(request, *args, **options)

    with requests.Session() as session:
        session.mount("http://", Recording())
        auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url, session=session)
        session.auth = auth  # the same session as auth and as carrier: no recursion
        assert session.get(leanix_server.base_url + "/services/a/v1").status_code == 200
    assert seen == [leanix_server.token_url, leanix_server.base_url + "/services/a/v1"]
