"""Both faces of the fake answer like LeanIX where real clients look: LeanIX's own SDKs, community
clients, scripts pasted from the documentation. A wrong URL fails here as it fails on LeanIX."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import jwt
import pytest
import requests

from leanix_auth.testing import FakeLeanIX, LeanIXMock, LeanIXServer

TOKEN_PATH = "/services/mtm/v1/oauth2/token"


@pytest.fixture(params=["server", "mock"])
def face(request: pytest.FixtureRequest) -> Iterator[FakeLeanIX]:
    """Each face of the fake in turn: they must answer alike."""
    fake: FakeLeanIX = LeanIXServer() if request.param == "server" else LeanIXMock()
    with fake:
        yield fake


def basic(api_token: str) -> dict[str, str]:
    credentials = base64.b64encode(f"apitoken:{api_token}".encode()).decode()
    return {"Authorization": f"Basic {credentials}"}


def test_the_sdk_exchange_with_the_grant_in_the_query_and_no_body(face: FakeLeanIX) -> None:
    answer = requests.post(
        face.token_url + "?grant_type=client_credentials",
        headers=basic(face.api_token),
        timeout=5,
    )
    assert answer.status_code == 200
    assert answer.json()["access_token"] in face.issued_tokens


def test_repeated_slashes_reach_the_same_route_and_are_recorded_as_sent(face: FakeLeanIX) -> None:
    answer = requests.post(
        face.base_url + "/" + TOKEN_PATH,
        headers=basic(face.api_token),
        data={"grant_type": "client_credentials"},
        timeout=5,
    )
    assert answer.status_code == 200
    assert face.token_requests[-1].path == "/" + TOKEN_PATH


@pytest.mark.parametrize(
    "path",
    [
        "/graphql",
        "/x",
        "/acmeWorkspace" + TOKEN_PATH,
        "/",
        "/services/x",
        "/api/v1/services",
        "/demo/api/services",
    ],
)
def test_a_path_outside_leanix_services_is_a_404_before_any_credential_check(
    face: FakeLeanIX, path: str
) -> None:
    answer = requests.post(face.base_url + path, json={"query": "{ me }"}, timeout=5)
    assert answer.status_code == 404
    assert answer.json()["status"] == "ERROR"
    assert [r.path for r in face.unmatched_requests] == [path]
    assert face.token_requests == []


def test_an_unstubbed_service_path_is_echoed_and_not_unmatched(face: FakeLeanIX) -> None:
    token = face.issue_token()
    answer = requests.get(
        face.base_url + "/services/pathfinder/v1/factSheets",
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    assert answer.status_code == 200
    assert answer.json()["path"] == "/services/pathfinder/v1/factSheets"
    assert face.unmatched_requests == []


def test_the_older_workspace_scoped_api_is_routed_like_a_service(face: FakeLeanIX) -> None:
    # LeanIX's authentication guide calls /<workspace>/api/v1/services.
    url = face.base_url + "/demo/api/v1/services"
    face.add("GET", "/demo/api/v1/services", json={"data": ["app"]})
    bearer = {"Authorization": f"Bearer {face.issue_token()}"}
    stubbed = requests.get(url, headers=bearer, timeout=5)
    echoed = requests.post(face.base_url + "/test/api/v2/x", headers=bearer, timeout=5)
    refused = requests.get(url, timeout=5)
    assert (stubbed.status_code, stubbed.json()) == (200, {"data": ["app"]})
    assert (echoed.status_code, echoed.json()["path"]) == (200, "/test/api/v2/x")
    assert refused.status_code == 401
    assert face.unmatched_requests == []


@pytest.mark.parametrize("kind", [LeanIXServer, LeanIXMock])
def test_strict_mode_makes_every_unstubbed_request_a_404(kind: type[FakeLeanIX]) -> None:
    with kind(strict=True) as fake:  # type: ignore[call-arg]
        fake.add("GET", "/services/pathfinder/v1/stubbed", json={"ok": True})
        bearer = {"Authorization": f"Bearer {fake.issue_token()}"}
        unstubbed = requests.get(fake.base_url + "/services/pathfinder/v1/x", headers=bearer)
        stubbed = requests.get(fake.base_url + "/services/pathfinder/v1/stubbed", headers=bearer)
    assert unstubbed.status_code == 404
    assert stubbed.json() == {"ok": True}
    assert [r.path for r in fake.unmatched_requests] == ["/services/pathfinder/v1/x"]


@pytest.mark.leanix(strict=True)
def test_strict_mode_from_the_marker(leanix_server: LeanIXServer) -> None:
    bearer = {"Authorization": f"Bearer {leanix_server.issue_token()}"}
    answer = requests.get(leanix_server.base_url + "/services/pathfinder/v1/x", headers=bearer)
    assert answer.status_code == 404
    assert len(leanix_server.unmatched_requests) == 1


def test_api_401s_carry_a_bearer_challenge(face: FakeLeanIX) -> None:
    url = face.base_url + "/services/pathfinder/v1/x"
    none = requests.get(url, timeout=5)
    bad = requests.get(url, headers={"Authorization": "Bearer not-a-token"}, timeout=5)
    assert (none.status_code, none.headers["WWW-Authenticate"]) == (401, "Bearer")
    assert (bad.status_code, bad.headers["WWW-Authenticate"]) == (
        401,
        'Bearer error="invalid_token"',
    )


def test_the_token_answer_is_not_to_be_cached_and_the_jwt_header_is_leanixs(
    face: FakeLeanIX,
) -> None:
    answer = requests.post(
        face.token_url,
        headers=basic(face.api_token),
        data={"grant_type": "client_credentials"},
        timeout=5,
    )
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["Pragma"] == "no-cache"
    assert answer.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert jwt.get_unverified_header(answer.json()["access_token"]) == {"alg": "RS256"}


def test_rotating_the_api_token_refuses_the_old_one(face: FakeLeanIX) -> None:
    old = face.api_token
    new = face.rotate_api_token()
    grant = {"grant_type": "client_credentials"}
    refused = requests.post(face.token_url, headers=basic(old), data=grant, timeout=5)
    accepted = requests.post(face.token_url, headers=basic(new), data=grant, timeout=5)
    assert (refused.status_code, accepted.status_code) == (401, 200)


def test_a_token_issued_without_exp_is_accepted(face: FakeLeanIX) -> None:
    token = face.issue_token(exp=None)
    assert "exp" not in jwt.decode(token, options={"verify_signature": False})
    answer = requests.get(
        face.base_url + "/services/a/v1",
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    assert answer.status_code == 200
