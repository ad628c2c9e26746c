"""The fake LeanIX serves aiohttp code under test as it is: a user's suite, in a fresh directory
with no conftest, tests an aiohttp client of LeanIX with nothing but the plugin's fixtures."""

from __future__ import annotations

import aiohttp
import pytest

from leanix_auth.testing import LeanIXMock

pytest_plugins = ["pytester"]

USER_TESTS = '''
import asyncio

import aiohttp
import pytest

from leanix_auth import LeanIXAiohttpMiddleware


class FactSheets:
    """The user's code under test: it knows LeanIX's real address and nothing of any fake."""

    def __init__(self, api_token, subdomain="acme", base_url=None):
        self.base_url = base_url or f"https://{subdomain}.leanix.net"
        self.middleware = LeanIXAiohttpMiddleware(api_token, subdomain=subdomain, base_url=base_url)

    async def count(self):
        query = {"query": "{ allFactSheets { totalCount } }"}
        url = self.base_url + "/services/pathfinder/v1/graphql"
        async with aiohttp.ClientSession(middlewares=(self.middleware,)) as session:
            async with session.post(url, json=query) as answer:
                answer.raise_for_status()
                return (await answer.json())["data"]["allFactSheets"]["totalCount"]


def test_with_the_mock(leanix_mock):
    leanix_mock.add_graphql("allFactSheets", data={"allFactSheets": {"totalCount": 42}})
    client = FactSheets(leanix_mock.api_token)
    assert asyncio.run(client.count()) == 42
    leanix_mock.revoke_tokens()
    assert asyncio.run(client.count()) == 42  # a 401, one new exchange, resent
    assert len(leanix_mock.token_requests) == 2
    assert [r.bearer is not None for r in leanix_mock.api_requests] == [True] * 3


@pytest.mark.leanix(subdomain="contoso", api_token="fixed-for-this-test")
def test_the_marker_names_another_workspace(leanix_mock):
    leanix_mock.add_graphql("allFactSheets", data={"allFactSheets": {"totalCount": 7}})
    assert asyncio.run(FactSheets("fixed-for-this-test", subdomain="contoso").count()) == 7


def test_with_the_live_server(leanix_server):
    leanix_server.add_graphql("allFactSheets", data={"allFactSheets": {"totalCount": 3}})
    client = FactSheets(leanix_server.api_token, subdomain=None, base_url=leanix_server.base_url)
    assert asyncio.run(client.count()) == 3
    assert len(leanix_server.token_requests) == 1


def test_the_mock_leaves_other_hosts_to_aiohttp(leanix_mock, leanix_server):
    async def elsewhere():
        async with aiohttp.ClientSession() as session:
            async with session.get(leanix_server.base_url + "/services/a/v1") as answer:
                return answer.status

    assert asyncio.run(elsewhere()) == 401  # the live server answered: it wants a token
    assert len(leanix_server.api_requests) == 1
    assert leanix_mock.api_requests == []
'''


def test_a_fresh_suite_tests_an_aiohttp_client_with_the_fixtures_alone(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


def test_the_mock_gives_aiohttp_back_its_connector_when_it_stops() -> None:
    original = aiohttp.TCPConnector._create_connection
    with LeanIXMock():
        assert aiohttp.TCPConnector._create_connection is not original
    assert aiohttp.TCPConnector._create_connection is original
