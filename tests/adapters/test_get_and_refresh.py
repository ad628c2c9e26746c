"""`get_token()`, `aget_token()` and `refresh()`: a token for clients leanix-auth does not wrap."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import anyio
import pytest

from leanix_auth import LeanIXAuth, LeanIXCredentialsError, LeanIXHttpxAuth
from leanix_auth.testing import LeanIXServer

from ..clients import in_tasks


@pytest.fixture(params=[LeanIXAuth, LeanIXHttpxAuth])
def auth(request: pytest.FixtureRequest, leanix_server: LeanIXServer) -> LeanIXAuth:
    """An auth object of either adapter for the fake LeanIX (typed as one: they share the API)."""
    made: LeanIXAuth = request.param(leanix_server.api_token, base_url=leanix_server.base_url)
    return made


def test_get_token_gives_the_cached_token(leanix_server: LeanIXServer) -> None:
    auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url)
    hauth = LeanIXHttpxAuth(leanix_server.api_token, base_url=leanix_server.base_url)
    first = auth.get_token()
    assert auth.get_token() == first
    assert hauth.get_token() == hauth.get_token() != first  # each auth object has its own
    assert len(leanix_server.token_requests) == 2
    assert set(leanix_server.issued_tokens) == {first, hauth.get_token()}


def test_aget_token_exchanges_once_for_many_tasks_and_then_reuses(
    leanix_server: LeanIXServer, backend: str
) -> None:
    leanix_server.token_delay = 0.2
    auth = LeanIXHttpxAuth(leanix_server.api_token, base_url=leanix_server.base_url)

    async def main() -> set[str]:
        first = await in_tasks(20, auth.aget_token)
        return {*first, await auth.aget_token()}

    tokens = anyio.run(main, backend=backend)
    assert tokens == set(leanix_server.issued_tokens)
    assert len(tokens) == 1


def test_refresh_gets_a_new_token_that_requests_then_use(
    auth: LeanIXAuth, leanix_server: LeanIXServer
) -> None:
    old = auth.get_token()
    new = auth.refresh()
    assert new != old
    assert auth.get_token() == new
    assert leanix_server.issued_tokens == [old, new]


def test_callers_that_refresh_together_share_one_exchange(leanix_server: LeanIXServer) -> None:
    leanix_server.token_delay = 0.2
    auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url)
    with ThreadPoolExecutor(8) as pool:
        tokens = set(pool.map(lambda _: auth.refresh(), range(8)))
    assert len(tokens) == 1
    assert len(leanix_server.token_requests) == 1


def test_a_failed_refresh_raises_and_the_valid_token_stays_in_use(
    auth: LeanIXAuth, leanix_server: LeanIXServer
) -> None:
    old = auth.get_token()
    leanix_server.api_token = "rotated-on-the-server"
    with pytest.raises(LeanIXCredentialsError):
        auth.refresh()
    assert auth.get_token() == old
