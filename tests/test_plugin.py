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
