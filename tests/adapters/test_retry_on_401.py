"""A 401 drops the refused token and resends the request once, with the same body."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import httpx
import pytest
import requests
from requests.adapters import HTTPAdapter

from leanix_auth import LeanIXAuth, LeanIXAuthError, LeanIXHttpxAuth
from leanix_auth.testing import LeanIXServer

from ..clients import Callers


def test_revoked_token_is_replaced_and_the_request_resent_once(
    kind: str, leanix_server: LeanIXServer, make_caller: Callers
) -> None:
    call, _ = make_caller(kind, leanix_server)
    assert call(leanix_server.base_url + "/services/a/v1") == 200
    leanix_server.revoke_tokens()
    assert call(leanix_server.base_url + "/services/a/v1") == 200
    first, refused, resent = leanix_server.api_requests
    assert first.bearer == refused.bearer != resent.bearer
    assert len(leanix_server.token_requests) == 2


def test_a_second_401_goes_back_to_the_caller(
    kind: str, leanix_server: LeanIXServer, make_caller: Callers
) -> None:
    leanix_server.add(
        "GET", "/services/a/v1/forbidden-for-ever", status=401, json={"errors": ["no"]}
    )
    call, _ = make_caller(kind, leanix_server)
    assert call(leanix_server.base_url + "/services/a/v1/forbidden-for-ever") == 401
    assert len(leanix_server.api_requests) == 2  # the request and one resend, no loop
    assert len(leanix_server.token_requests) == 2


def test_requests_resends_the_same_body_and_keeps_the_401_in_history(
    leanix_server: LeanIXServer,
) -> None:
    with requests.Session() as session:
        session.auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url)
        session.get(leanix_server.base_url + "/services/a/v1/warm-up")
        leanix_server.revoke_tokens()
        response = session.post(leanix_server.graphql_url, json={"query": "{ me }"})
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    refused, resent = leanix_server.api_requests[1:]
    assert refused.json() == resent.json() == {"query": "{ me }"}


def test_httpx_resends_the_same_body(leanix_server: LeanIXServer, backend: str) -> None:
    auth = LeanIXHttpxAuth(leanix_server.api_token, base_url=leanix_server.base_url)

    async def main() -> int:
        async with httpx.AsyncClient(auth=auth) as client:
            await client.get(leanix_server.base_url + "/services/a/v1/warm-up")
            leanix_server.revoke_tokens()
            answer = await client.post(leanix_server.graphql_url, json={"query": "{ me }"})
            return answer.status_code

    assert anyio.run(main, backend=backend) == 200
    refused, resent = leanix_server.api_requests[1:]
    assert refused.json() == resent.json() == {"query": "{ me }"}


def test_a_body_that_cannot_be_replayed_returns_the_401_untouched(
    leanix_server: LeanIXServer,
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"query": '
        yield b'"{ me }"}'

    with requests.Session() as session:
        session.auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url)
        session.get(leanix_server.base_url + "/services/a/v1/warm-up")
        leanix_server.revoke_tokens()
        assert (
            session.post(leanix_server.base_url + "/services/a/v1", data=chunks()).status_code
            == 401
        )
    auth = LeanIXHttpxAuth(leanix_server.api_token, base_url=leanix_server.base_url)
    with httpx.Client(auth=auth) as client:
        client.get(leanix_server.base_url + "/services/a/v1/warm-up")
        leanix_server.revoke_tokens()
        assert (
            client.post(leanix_server.base_url + "/services/a/v1", content=chunks()).status_code
            == 401
        )
    posts = [r for r in leanix_server.api_requests if r.method == "POST"]
    assert [p.body for p in posts] == [b'{"query": "{ me }"}'] * 2  # each sent once


def test_a_401_whose_new_token_fails_still_frees_its_connection(
    leanix_server: LeanIXServer,
) -> None:
    url = leanix_server.base_url + "/services/a/v1"
    with requests.Session() as session:
        session.auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url)
        session.get(url)
        adapter = session.get_adapter(url)
        assert isinstance(adapter, HTTPAdapter)
        leanix_server.revoke_tokens()
        leanix_server.add("POST", "/services/mtm/v1/oauth2/token", body=b"down for maintenance")
        with pytest.raises(LeanIXAuthError, match="not with JSON"):
            session.get(url)
        session.get(url, auth=lambda r: r)  # no auth: just another request on the same pool
        pools = adapter.poolmanager.pools._container.values()
        # The 401's connection was drained and reused: still one connection made.
        assert sum(pool.num_connections for pool in pools) == 1
