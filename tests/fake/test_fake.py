"""The fake LeanIX itself: it must behave like LeanIX for users' tests to mean anything."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import httpx
import jwt
import pytest
import requests

from leanix_auth.testing import LeanIXMock, LeanIXServer, public_key_pem


def exchange(
    server: LeanIXServer | LeanIXMock, api_token: str, grant: str = "client_credentials"
) -> requests.Response:
    credentials = base64.b64encode(f"apitoken:{api_token}".encode()).decode()
    return requests.post(
        server.token_url,
        headers={"Authorization": f"Basic {credentials}"},
        data={"grant_type": grant},
        timeout=5,
    )


def test_token_answer_is_shaped_like_leanix(leanix_server: LeanIXServer) -> None:
    answer = exchange(leanix_server, leanix_server.api_token)
    body = answer.json()
    assert answer.status_code == 200
    assert set(body) == {"scope", "expired", "access_token", "token_type", "expires_in"}
    assert (body["scope"], body["expired"], body["token_type"], body["expires_in"]) == (
        "",
        False,
        "bearer",
        3599,
    )
    claims = jwt.decode(body["access_token"], public_key_pem(), algorithms=["RS256"])
    assert {"sub", "iss", "jti", "exp", "instanceUrl", "region", "principal"} <= set(claims)
    assert "iat" not in claims
    assert claims["instanceUrl"] == leanix_server.base_url
    assert claims["principal"]["permission"]["workspaceId"] == leanix_server.workspace_id
    server_time = parsedate_to_datetime(answer.headers["Date"]).timestamp()
    assert claims["exp"] - server_time == pytest.approx(3600, abs=1)


def test_bad_credentials_and_grant_types_get_leanix_errors(leanix_server: LeanIXServer) -> None:
    wrong = exchange(leanix_server, "wrong")
    assert wrong.status_code == 401
    assert wrong.json()["error_description"] == "Bad credentials"
    grant = exchange(leanix_server, leanix_server.api_token, grant="password")
    assert grant.status_code == 400
    assert grant.json()["error"] == "unsupported_grant_type"


def test_api_wants_a_valid_unexpired_unrevoked_token(leanix_server: LeanIXServer) -> None:
    url = leanix_server.base_url + "/services/pathfinder/v1/x"

    def status(token: str | None) -> int:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.get(url, headers=headers, timeout=5).status_code

    good = leanix_server.issue_token()
    assert (status(None), status("garbage"), status(good)) == (401, 401, 200)
    assert status(leanix_server.issue_token(exp=int(time.time()) - 1)) == 401
    leanix_server.revoke_tokens()
    assert status(good) == 401


def test_clock_offset_and_ttl_shape_the_tokens(leanix_server: LeanIXServer) -> None:
    leanix_server.clock_offset = -7200
    leanix_server.token_ttl = 60
    answer = exchange(leanix_server, leanix_server.api_token)
    claims = jwt.decode(answer.json()["access_token"], options={"verify_signature": False})
    assert claims["exp"] == pytest.approx(time.time() - 7200 + 60, abs=2)
    assert parsedate_to_datetime(answer.headers["Date"]).timestamp() == pytest.approx(
        time.time() - 7200, abs=2
    )


def test_injected_failures_come_first_then_stop(leanix_server: LeanIXServer) -> None:
    leanix_server.fail_token_requests(429, times=2, retry_after=7)
    statuses = [exchange(leanix_server, leanix_server.api_token) for _ in range(3)]
    assert [s.status_code for s in statuses] == [429, 429, 200]
    assert statuses[0].headers["Retry-After"] == "7"


def test_stubs_echo_and_graphql(leanix_server: LeanIXServer) -> None:
    token = leanix_server.issue_token()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    leanix_server.add("GET", "/services/pathfinder/v1/factSheets", json={"data": [1]}, status=201)
    leanix_server.add_graphql("allFactSheets", data={"n": 1})
    leanix_server.add_graphql("me", errors=[{"message": "nope"}])
    with session:
        stubbed = session.get(leanix_server.base_url + "/services/pathfinder/v1/factSheets?x=1")
        echo = session.put(leanix_server.base_url + "/services/any/v2/thing", data=b"hello")
        by_query = session.post(
            leanix_server.graphql_url, json={"query": "{ allFactSheets { n } }"}
        )
        other = session.post(leanix_server.graphql_url, json={"query": "{ me { id } }"})
    assert (stubbed.status_code, stubbed.json()) == (201, {"data": [1]})
    assert echo.json() == {"method": "PUT", "path": "/services/any/v2/thing", "body": "hello"}
    assert by_query.json() == {"data": {"n": 1}}
    assert other.json() == {"data": None, "errors": [{"message": "nope"}]}
    assert leanix_server.api_requests[0].path == "/services/pathfinder/v1/factSheets?x=1"


def test_two_fakes_never_accept_each_others_tokens() -> None:
    with LeanIXServer() as one, LeanIXServer() as two:
        token = one.issue_token()
        answer = requests.get(
            two.base_url + "/services/a/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
        assert answer.status_code == 401
        assert one.api_token != two.api_token


def test_mock_refuses_other_hosts_and_lets_loopback_through(
    leanix_mock: LeanIXMock, leanix_server: LeanIXServer
) -> None:
    with pytest.raises(requests.ConnectionError):
        requests.get("https://example.com/", timeout=5)
    with pytest.raises(Exception, match="not mocked"):
        httpx.get("https://example.com/")
    assert requests.get(leanix_server.base_url + "/services/a/v1", timeout=5).status_code == 401
    assert httpx.get(leanix_server.base_url + "/services/a/v1").status_code == 401
    assert exchange(leanix_mock, leanix_mock.api_token).status_code == 200
    assert len(leanix_server.api_requests) == 2


Factory = Callable[..., str]


def test_token_factory_overrides_and_removes_claims(leanix_token: Factory) -> None:
    claims = jwt.decode(
        leanix_token(ttl=60, region=None, sub="me"), options={"verify_signature": False}
    )
    assert "region" not in claims
    assert claims["sub"] == "me"
    assert claims["exp"] == pytest.approx(time.time() + 60, abs=2)


def test_reset_forgets_everything_and_takes_options_afresh(leanix_server: LeanIXServer) -> None:
    old_token, old_api_token = leanix_server.issue_token(), leanix_server.api_token
    leanix_server.add("GET", "/services/a/v1/x", json={"stubbed": True})
    leanix_server.fail_token_requests(503, times=3)
    leanix_server.token_delay = 0.5
    exchange(leanix_server, old_api_token)
    leanix_server.reset(token_ttl=60, strict=False)
    assert (leanix_server.token_requests, leanix_server.api_requests) == ([], [])
    assert (leanix_server.token_ttl, leanix_server.token_delay) == (60, 0)
    assert leanix_server.api_token != old_api_token  # a client of an earlier test is refused
    answer = exchange(leanix_server, leanix_server.api_token)  # no injected failure left
    assert (answer.status_code, answer.json()["expires_in"]) == (200, 59)
    url = leanix_server.base_url + "/services/a/v1/x"
    for token, status in ((old_token, 401), (answer.json()["access_token"], 200)):
        got = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert got.status_code == status
    assert "stubbed" not in got.json()  # the stub is gone: an echo
    leanix_server.reset(api_token="fixed-api-token")
    assert leanix_server.api_token == "fixed-api-token"


@pytest.mark.parametrize("kind", [LeanIXServer, LeanIXMock])
def test_the_fake_reads_now_from_its_one_clock(kind: type[LeanIXServer | LeanIXMock]) -> None:
    now = [1_000_000_000.0]  # a hand clock, far from the wall clock
    with kind(clock=lambda: now[0], clock_offset=-100) as fake:
        answer = exchange(fake, fake.api_token)
        token = answer.json()["access_token"]
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["exp"] == 1_000_000_000 - 100 + 3600
        assert parsedate_to_datetime(answer.headers["Date"]).timestamp() == now[0] - 100
        url = fake.base_url + "/services/a/v1"
        bearer = {"Authorization": f"Bearer {token}"}
        assert requests.get(url, headers=bearer, timeout=5).status_code == 200
        now[0] += 3600  # the token's hour is up on the fake's clock, not on the wall's
        assert requests.get(url, headers=bearer, timeout=5).status_code == 401
