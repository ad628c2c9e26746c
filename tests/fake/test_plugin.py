"""The pytest plugin as a user meets it: a fresh directory, one test file, no conftest."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

USER_TESTS = """
import asyncio

import httpx
import jwt
import pytest
import requests

from leanix_auth import LeanIXAuth, LeanIXHttpxAuth


def test_live_server_with_requests(leanix_server):
    session = requests.Session()
    session.auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url)
    leanix_server.add_graphql("allFactSheets", data={"allFactSheets": {"totalCount": 3}})
    query = {"query": "{ allFactSheets { totalCount } }"}
    answer = session.post(leanix_server.graphql_url, json=query)
    assert answer.json() == {"data": {"allFactSheets": {"totalCount": 3}}}
    assert len(leanix_server.token_requests) == 1


def test_live_server_with_async_httpx(leanix_server):
    auth = LeanIXHttpxAuth(leanix_server.api_token, base_url=leanix_server.base_url)

    async def main():
        async with httpx.AsyncClient(auth=auth) as client:
            return (await client.get(leanix_server.base_url + "/services/a/v1")).status_code

    assert asyncio.run(main()) == 200


def test_mock_answers_the_real_url_for_requests_and_httpx(leanix_mock):
    session = requests.Session()
    session.auth = LeanIXAuth(leanix_mock.api_token, subdomain=leanix_mock.subdomain)
    leanix_mock.add("GET", "/services/pathfinder/v1/factSheets", json={"data": []})
    url = "https://acme.leanix.net/services/pathfinder/v1/factSheets"
    assert session.get(url).json() == {"data": []}
    auth = LeanIXHttpxAuth(leanix_mock.api_token, subdomain="acme")
    with httpx.Client(auth=auth) as client:
        assert client.get(url).status_code == 200

    async def main():
        async with httpx.AsyncClient(auth=auth) as client:
            return (await client.get("https://acme.leanix.net/services/a/v1")).status_code

    assert asyncio.run(main()) == 200
    assert [r.path for r in leanix_mock.api_requests][-1] == "/services/a/v1"


@pytest.mark.leanix(subdomain="contoso", token_ttl=120, api_token="fixed-for-this-test")
def test_marker_configures_the_fakes(leanix_mock, leanix_server):
    assert leanix_mock.base_url == "https://contoso.leanix.net"
    assert leanix_mock.api_token == leanix_server.api_token == "fixed-for-this-test"
    auth = LeanIXAuth(leanix_mock.api_token, subdomain="contoso")
    claims = jwt.decode(auth.get_token(), options={"verify_signature": False})
    assert 110 < claims["exp"] - leanix_mock.now() <= 120


def test_token_factory(leanix_token):
    claims = jwt.decode(leanix_token(region="us"), options={"verify_signature": False})
    assert claims["region"] == "us"
    assert "iat" not in claims
    assert claims["principal"]["permission"]["workspaceId"]
"""


def test_a_fresh_suite_gets_the_fixtures_from_the_entry_point(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)


def test_without_the_testing_extra_a_fixture_says_what_to_install(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A `responses` that cannot be imported stands for an install without the [testing] extra.
    blocked = pytester.mkdir("blocked")
    (blocked / "responses.py").write_text("raise ImportError('No module named responses')\n")
    monkeypatch.setenv("PYTHONPATH", str(blocked))
    pytester.makepyfile(test_user="def test_it(leanix_mock):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    output = result.stdout.str()
    assert 'pip install "leanix-auth[testing]"' in output
    assert "Traceback" not in output
    assert "During handling" not in output


SHOULD_MOCK_TESTS = """
import httpx
import pytest

from leanix_auth import LeanIXHttpxAuth

# The user's rule: never mock loopback (their own live server), mock every other host.
NOT_LOOPBACK = pytest.mark.httpx_mock(should_mock=lambda request: request.url.host != "127.0.0.1")
{module_level}


def check(leanix_mock, leanix_server, httpx_mock):
    httpx_mock.add_response(url="https://other.example/", text="from httpx_mock")
    auth = LeanIXHttpxAuth(leanix_mock.api_token, subdomain="acme")
    with httpx.Client() as client:
        assert client.get("https://other.example/").text == "from httpx_mock"
        assert client.get(leanix_server.base_url + "/services/a/v1").status_code == 401  # live
        assert client.get("https://acme.leanix.net/services/a/v1", auth=auth).status_code == 200
    assert len(leanix_server.api_requests) == 1


{test}
"""

LEVELS = {
    "module": (
        "pytestmark = NOT_LOOPBACK",
        "def test_it(leanix_mock, leanix_server, httpx_mock):\n"
        "    check(leanix_mock, leanix_server, httpx_mock)",
    ),
    "class": (
        "",
        "@NOT_LOOPBACK\nclass TestIt:\n"
        "    def test_it(self, leanix_mock, leanix_server, httpx_mock):\n"
        "        check(leanix_mock, leanix_server, httpx_mock)",
    ),
    "function": (
        "",
        "@NOT_LOOPBACK\ndef test_it(leanix_mock, leanix_server, httpx_mock):\n"
        "    check(leanix_mock, leanix_server, httpx_mock)",
    ),
}


@pytest.mark.parametrize("level", sorted(LEVELS))
def test_the_users_should_mock_decides_for_every_host_but_leanixs(
    pytester: pytest.Pytester, level: str
) -> None:
    module_level, test = LEVELS[level]
    pytester.makepyfile(test_user=SHOULD_MOCK_TESTS.format(module_level=module_level, test=test))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


SHARED_SERVER_TESTS = """
import pytest
import requests

from leanix_auth import LeanIXAuth

seen = {}


def test_first(leanix_shared_server):
    server, session = leanix_shared_server, requests.Session()
    session.auth = LeanIXAuth(server.api_token, base_url=server.base_url)
    server.add("GET", "/services/a/v1/x", json={"stubbed": True})
    assert session.get(server.base_url + "/services/a/v1/x").json() == {"stubbed": True}
    seen.update(server=server, bearer=session.auth.get_token())


@pytest.mark.leanix(token_ttl=120, api_token="fixed-for-this-test")
def test_second_sees_none_of_it(leanix_shared_server):
    assert leanix_shared_server is seen["server"]  # one server for the session
    assert leanix_shared_server.token_requests == leanix_shared_server.api_requests == []
    assert leanix_shared_server.api_token == "fixed-for-this-test"
    url = leanix_shared_server.base_url + "/services/a/v1/x"
    old = requests.get(url, headers={"Authorization": "Bearer " + seen["bearer"]})
    assert old.status_code == 401  # the first test's token is no more
    assert leanix_shared_server.token_ttl == 120


@pytest.mark.leanix(tls=True)
def test_tls_from_the_marker(leanix_shared_server, leanix_server):
    assert leanix_shared_server.base_url.startswith("https://")
    assert leanix_server.base_url.startswith("https://")
    assert leanix_shared_server.ca_bundle == leanix_server.ca_bundle
"""


def test_the_shared_server_is_one_for_the_session_and_reset_for_each_test(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_user=SHARED_SERVER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


CLOCK_TESTS = """
import anyio
import httpx
import requests

from leanix_auth import LeanIXAuth, LeanIXHttpxAuth


def test_my_requests_client_crosses_an_expiry_on_the_mock(leanix_mock, leanix_clock):
    session = requests.Session()
    session.auth = LeanIXAuth(leanix_mock.api_token, base_url=leanix_mock.base_url)
    url = leanix_mock.base_url + "/services/pathfinder/v1/graphql"
    assert session.post(url, json={"query": "{ a }"}).status_code == 200
    [old] = leanix_mock.issued_tokens
    leanix_clock.advance(3600)
    assert session.post(url, json={"query": "{ a }"}).status_code == 200
    assert len(leanix_mock.token_requests) == 2  # a new exchange, no wait
    stale = requests.get(url, headers={"Authorization": "Bearer " + old})
    assert stale.status_code == 401  # the fake's clock moved too: the old token expired


def test_my_async_client_refreshes_ahead_on_the_live_server(leanix_server, leanix_clock):
    auth = LeanIXHttpxAuth(leanix_server.api_token, base_url=leanix_server.base_url)

    async def calls():
        async with httpx.AsyncClient(auth=auth) as client:
            await client.get(leanix_server.base_url + "/services/a/v1")
            leanix_clock.advance(3600 - 200)  # into the refresh window, before the expiry
            await client.get(leanix_server.base_url + "/services/a/v1")
        return [r.bearer for r in leanix_server.api_requests]

    first, second = anyio.run(calls)
    assert len(leanix_server.token_requests) == 2
    assert first != second
"""


def test_a_users_suite_crosses_an_hour_with_leanix_clock_on_both_faces(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_user=CLOCK_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--durations=0", "-vv")
    result.assert_outcomes(passed=2)
