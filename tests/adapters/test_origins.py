"""The bearer goes only to the workspace's origin and the token's instanceUrl."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import requests

from leanix_auth import LeanIXAuth, LeanIXHttpxAuth
from leanix_auth.testing import LeanIXServer

from ..clients import Callers


@pytest.fixture
def other_host() -> Iterator[LeanIXServer]:
    """A second server that stands for any host that is not our LeanIX workspace."""
    with LeanIXServer() as server:
        yield server


def test_other_hosts_never_see_the_bearer_nor_trigger_a_retry(
    kind: str, leanix_server: LeanIXServer, other_host: LeanIXServer, make_caller: Callers
) -> None:
    call, _ = make_caller(kind, leanix_server)
    assert call(leanix_server.base_url + "/services/a/v1") == 200
    assert call(other_host.base_url + "/services/a/v1") == 401  # the other host wants its own token
    [seen] = other_host.api_requests
    assert "Authorization" not in seen.headers
    assert len(leanix_server.token_requests) == 1


def test_a_redirect_to_another_host_does_not_carry_the_bearer(
    leanix_server: LeanIXServer, other_host: LeanIXServer
) -> None:
    leanix_server.add(
        "GET", "/moved", status=302, headers={"Location": other_host.base_url + "/here"}
    )
    with requests.Session() as session:
        session.auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url)
        assert session.get(leanix_server.base_url + "/moved").url == other_host.base_url + "/here"
    auth = LeanIXHttpxAuth(leanix_server.api_token, base_url=leanix_server.base_url)
    with httpx.Client(auth=auth, follow_redirects=True) as client:
        assert client.get(leanix_server.base_url + "/moved").url == other_host.base_url + "/here"
    assert len(other_host.api_requests) == 2
    assert all("Authorization" not in r.headers for r in other_host.api_requests)


def test_the_instance_url_of_the_token_may_receive_the_bearer(
    kind: str, leanix_server: LeanIXServer, make_caller: Callers
) -> None:
    # Configured as localhost; the token's instanceUrl names 127.0.0.1, another origin.
    localhost = leanix_server.base_url.replace("127.0.0.1", "localhost")
    instance = leanix_server.base_url
    call, _ = make_caller(kind, leanix_server, base_url=localhost)
    assert call(instance + "/services/a/v1/before-any-token") == 401  # not ours yet: no bearer
    assert call(localhost + "/services/a/v1") == 200
    assert call(instance + "/services/a/v1/after") == 200
    assert [r.bearer is not None for r in leanix_server.api_requests] == [False, True, True]


def test_two_api_tokens_never_share_an_access_token(
    leanix_server: LeanIXServer, other_host: LeanIXServer
) -> None:
    one = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url)
    two = LeanIXAuth(other_host.api_token, base_url=leanix_server.base_url)
    assert one.get_token() in leanix_server.issued_tokens
    with pytest.raises(Exception, match="rejected the API token"):
        two.get_token()
