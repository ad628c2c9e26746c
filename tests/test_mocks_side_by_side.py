"""`leanix_mock` next to the user's own mocks of other hosts: LeanIX answers from the fake, the
other host from the user's mock, whichever is entered first."""

from __future__ import annotations

from contextlib import AbstractContextManager, ExitStack

import httpx
import pytest
import requests
import responses
import respx
from pytest_httpx import HTTPXMock

from leanix_auth import LeanIXAuth, LeanIXHttpxAuth
from leanix_auth.testing import LeanIXMock

LEANIX = "https://acme.leanix.net/services/a/v1"
OTHER = "https://other.example/api"


def entered(fake: LeanIXMock, mine: AbstractContextManager[object], ours_first: bool) -> ExitStack:
    """The fake and the user's mock, entered in the order asked for; closed in reverse."""
    stack = ExitStack()
    for manager in (fake, mine) if ours_first else (mine, fake):
        stack.enter_context(manager)
    return stack


def call_both_with_requests(fake: LeanIXMock) -> tuple[int, str]:
    with requests.Session() as session:
        session.auth = LeanIXAuth(fake.api_token, subdomain="acme")
        leanix = session.get(LEANIX).status_code
        other = session.get(OTHER).text
    return leanix, other


def call_both_with_httpx(fake: LeanIXMock) -> tuple[int, str]:
    with httpx.Client(auth=LeanIXHttpxAuth(fake.api_token, subdomain="acme")) as client:
        return client.get(LEANIX).status_code, client.get(OTHER).text


@pytest.mark.parametrize("ours_first", [True, False])
def test_requests_with_a_responses_mock_of_the_user(ours_first: bool) -> None:
    mine = responses.RequestsMock()
    mine.add(responses.GET, OTHER, body="from the user's mock")
    fake = LeanIXMock()
    with entered(fake, mine, ours_first):
        assert call_both_with_requests(fake) == (200, "from the user's mock")
    assert len(fake.token_requests) == 1


@responses.activate
def test_requests_with_responses_activate(leanix_mock: LeanIXMock) -> None:
    responses.add(responses.GET, OTHER, body="from the user's mock")  # activated after the fixture
    assert call_both_with_requests(leanix_mock) == (200, "from the user's mock")


def test_requests_with_responses_started_before_the_fake() -> None:
    responses.start()
    try:
        responses.add(responses.GET, OTHER, body="from the user's mock")
        with LeanIXMock() as fake:
            assert call_both_with_requests(fake) == (200, "from the user's mock")
    finally:
        responses.stop()
        responses.reset()


def user_respx() -> AbstractContextManager[respx.MockRouter]:
    router = respx.mock(assert_all_called=True)
    router.get(OTHER).respond(text="from the user's mock")
    return router


@pytest.mark.parametrize("ours_first", [True, False])
def test_httpx_with_a_respx_router_of_the_user(ours_first: bool) -> None:
    fake = LeanIXMock()
    with entered(fake, user_respx(), ours_first):
        assert call_both_with_httpx(fake) == (200, "from the user's mock")


def test_httpx_with_respx_mock_fixture_first(
    respx_mock: respx.MockRouter, leanix_mock: LeanIXMock
) -> None:
    respx_mock.get(OTHER).respond(text="from the user's mock")
    assert call_both_with_httpx(leanix_mock) == (200, "from the user's mock")


def test_httpx_with_respx_mock_fixture_last(
    leanix_mock: LeanIXMock, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(OTHER).respond(text="from the user's mock")
    assert call_both_with_httpx(leanix_mock) == (200, "from the user's mock")


def test_httpx_with_pytest_httpx_first(httpx_mock: HTTPXMock, leanix_mock: LeanIXMock) -> None:
    httpx_mock.add_response(url=OTHER, text="from the user's mock")
    assert call_both_with_httpx(leanix_mock) == (200, "from the user's mock")


def test_httpx_with_pytest_httpx_last(leanix_mock: LeanIXMock, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=OTHER, text="from the user's mock")
    assert call_both_with_httpx(leanix_mock) == (200, "from the user's mock")
