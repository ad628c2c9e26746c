"""A wave of 401s as large as the connection pool: every request is resent, one new exchange.

Each refused response is read and closed before a new token is fetched, so waiting callers never
hold the connections the exchange needs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import anyio
import httpx
import requests

from leanix_auth import LeanIXAuth, LeanIXHttpxAuth
from leanix_auth.testing import LeanIXServer

from ..clients import in_tasks

WAVE = 150  # more than httpx's default pool of 100


def test_150_threads_on_one_httpx_client_survive_a_revocation(
    leanix_server: LeanIXServer,
) -> None:
    auth = LeanIXHttpxAuth(leanix_server.api_token, base_url=leanix_server.base_url)
    url = leanix_server.base_url + "/services/a/v1"
    with httpx.Client(auth=auth, timeout=30) as client:
        assert client.get(url).status_code == 200
        leanix_server.revoke_tokens()
        leanix_server.token_delay = 0.3  # the wave is all in before the new token comes
        with ThreadPoolExecutor(WAVE) as pool:
            statuses = list(pool.map(lambda _: client.get(url).status_code, range(WAVE)))
    assert statuses == [200] * WAVE
    assert len(leanix_server.token_requests) == 2


def test_150_tasks_on_one_async_client_survive_a_revocation(
    leanix_server: LeanIXServer, backend: str
) -> None:
    auth = LeanIXHttpxAuth(leanix_server.api_token, base_url=leanix_server.base_url)
    url = leanix_server.base_url + "/services/a/v1"

    async def main() -> list[int]:
        async with httpx.AsyncClient(auth=auth, timeout=30) as client:
            assert (await client.get(url)).status_code == 200
            leanix_server.revoke_tokens()
            leanix_server.token_delay = 0.3
            answers = await in_tasks(WAVE, lambda: client.get(url))
        return [answer.status_code for answer in answers]

    assert anyio.run(main, backend=backend) == [200] * WAVE
    assert len(leanix_server.token_requests) == 2


def test_150_threads_on_requests_survive_a_revocation(leanix_server: LeanIXServer) -> None:
    auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url)
    url = leanix_server.base_url + "/services/a/v1"
    with requests.Session() as session:
        session.auth = auth
        assert session.get(url).status_code == 200
        leanix_server.revoke_tokens()
        leanix_server.token_delay = 0.3
        with ThreadPoolExecutor(WAVE) as pool:
            statuses = list(pool.map(lambda _: session.get(url).status_code, range(WAVE)))
    assert statuses == [200] * WAVE
    assert len(leanix_server.token_requests) == 2
