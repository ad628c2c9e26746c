"""`leanix_mock` next to the user's own mocks of other hosts: LeanIX answers from the fake, the
other host from the user's mock, whichever is entered first."""

from __future__ import annotations

import itertools
from contextlib import AbstractContextManager, ExitStack

import httpcore
import httpx
import pytest
import requests
import requests.adapters
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


GRAPHQL = "https://acme.leanix.net/services/pathfinder/v1/graphql"
ANSWER = {"data": {"allFactSheets": {"totalCount": 3}}}


@pytest.mark.parametrize("ours_first", [True, False])
def test_a_responses_stub_of_the_user_on_leanix_answers_after_the_bearer_check(
    ours_first: bool,
) -> None:
    mine = responses.RequestsMock(assert_all_requests_are_fired=True)
    stub = mine.add(responses.POST, GRAPHQL, json=ANSWER)
    fake = LeanIXMock()
    with entered(fake, mine, ours_first), requests.Session() as session:
        refused = session.post(GRAPHQL, json={"query": "{ me }"})  # no bearer: LeanIX's 401
        session.auth = LeanIXAuth(fake.api_token, subdomain="acme")
        answered = session.post(GRAPHQL, json={"query": "{ allFactSheets { totalCount } }"})
        echoed = session.get(LEANIX)  # no stub of the user's: the fake's echo
        calls = [call.request.url for call in mine.calls]  # gone once their mock stops
    assert refused.status_code == 401
    assert (answered.status_code, answered.json()) == (200, ANSWER)
    assert echoed.json()["path"] == "/services/a/v1"
    assert calls == [GRAPHQL]  # theirs, and only theirs
    assert stub.call_count == 1
    assert len(fake.token_requests) == 1  # the token endpoint stays the fake's
    assert [r.path for r in fake.api_requests] == [
        "/services/pathfinder/v1/graphql",
        "/services/pathfinder/v1/graphql",
        "/services/a/v1",
    ]


@pytest.mark.parametrize("ours_first", [True, False])
def test_a_respx_route_of_the_user_on_leanix_answers_after_the_bearer_check(
    ours_first: bool,
) -> None:
    mine = respx.mock(assert_all_called=True)
    route = mine.post(GRAPHQL).respond(json=ANSWER)
    fake = LeanIXMock()
    with entered(fake, mine, ours_first):
        refused = httpx.post(GRAPHQL, json={"query": "{ me }"})
        with httpx.Client(auth=LeanIXHttpxAuth(fake.api_token, subdomain="acme")) as client:
            answered = client.post(GRAPHQL, json={"query": "{ allFactSheets { totalCount } }"})
            echoed = client.get(LEANIX)
        # Read before their router stops, which resets its calls (and checks assert_all_called).
        calls = (route.call_count, [str(call.request.url) for call in mine.calls])
    assert refused.status_code == 401
    assert (answered.status_code, answered.json()) == (200, ANSWER)
    assert echoed.json()["path"] == "/services/a/v1"
    assert calls == (1, [GRAPHQL])
    assert len(fake.token_requests) == 1


def test_the_token_endpoint_stays_the_fakes_even_if_the_user_stubs_it() -> None:
    mine = responses.RequestsMock(assert_all_requests_are_fired=False)
    mine.add(responses.POST, "https://acme.leanix.net/services/mtm/v1/oauth2/token", status=500)
    with LeanIXMock() as fake, mine:
        token = LeanIXAuth(fake.api_token, subdomain="acme").get_token()
    assert token in fake.issued_tokens
    assert len(mine.calls) == 0


def requests_patches() -> tuple[object, object]:
    return (
        requests.adapters.HTTPAdapter.__dict__["send"],
        responses.RequestsMock.__dict__["_on_request"],
    )


def httpcore_patch() -> object:
    return httpcore.ConnectionPool.__dict__["handle_request"]


@pytest.mark.parametrize("stops", list(itertools.permutations(range(3))))
@pytest.mark.parametrize("starts", list(itertools.permutations(range(3))))
def test_any_start_and_stop_order_restores_exactly_what_was_there(
    starts: tuple[int, ...], stops: tuple[int, ...]
) -> None:
    before, before_httpx = requests_patches(), httpcore_patch()
    mine = responses.RequestsMock(assert_all_requests_are_fired=False)
    mine.add(responses.GET, OTHER, body="from the user's mock")
    participants = [
        (LeanIXMock().start, None),
        (LeanIXMock("contoso").start, None),
        (mine.start, mine.stop),
    ]
    started = [participants[i][0]() for i in starts]
    fakes = {i: fake for i, fake in zip(starts, started, strict=True) if fake is not None}
    for i in stops:
        fakes[i].stop() if i in fakes else mine.stop()
        if i != 2 and 2 not in stops[: stops.index(i)]:
            # The user's mock, still active, still answers after a fake stopped.
            assert requests.get(OTHER, timeout=5).text == "from the user's mock"
    assert requests_patches() == before
    assert httpcore_patch() == before_httpx
