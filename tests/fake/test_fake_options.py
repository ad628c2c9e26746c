"""A mistake in the fake's arguments or the `leanix` marker fails where it is made, naming the
argument, by the library's own rules: not later as a strange URL or an "already expired" token."""

from __future__ import annotations

import re
from typing import Any

import pytest

from leanix_auth import LeanIXConfigError
from leanix_auth.testing import LeanIXMock, LeanIXServer

pytest_plugins = ["pytester"]

SERVER_KEYWORDS = "host, port, tls, api_token, token_ttl, clock_offset, workspace_id, strict, clock"


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        (LeanIXMock, {"subdomain": "https://contoso.leanix.net"}, "subdomain must be one DNS"),
        (LeanIXMock, {"subdomain": "contoso.leanix.net"}, "subdomain must be one DNS"),
        (LeanIXServer, {"token_ttl": -1}, "token_ttl must be a positive number of seconds"),
        (LeanIXServer, {"token_ttl": "60"}, "token_ttl must be a finite number of seconds"),
        (LeanIXMock, {"clock_offset": float("nan")}, "clock_offset must be a finite number"),
        (LeanIXServer, {"strict": "yes"}, "strict must be True or False"),
        (LeanIXServer, {"tls": 1}, "tls must be True or False"),
        (LeanIXServer, {"port": 70000}, "port must be an int from 0 to 65535"),
        (LeanIXMock, {"workspace_id": ""}, "workspace_id must be a non-empty str"),
        (LeanIXMock, {"clock": 5}, "clock must be a callable"),
        (
            LeanIXServer,
            {"tokn_ttl": 5},
            f"unknown keyword 'tokn_ttl'; valid keywords: {SERVER_KEYWORDS}",
        ),
        (LeanIXMock, {"tls": True}, "unknown keyword 'tls'; valid keywords: subdomain, api_token"),
    ],
)
def test_a_bad_argument_is_a_config_error_naming_it(
    kind: type[LeanIXServer | LeanIXMock], options: dict[str, Any], message: str
) -> None:
    with pytest.raises(LeanIXConfigError, match=re.escape(message)):
        kind(**options)


def test_a_bad_api_token_is_described_never_echoed() -> None:
    with pytest.raises(LeanIXConfigError) as caught:
        LeanIXServer(api_token="secret with spaces")
    assert "api_token contains spaces" in str(caught.value)
    assert "secret" not in str(caught.value)


def test_the_repr_of_a_half_made_fake_does_not_raise() -> None:
    # A traceback through a failed __init__ shows `self`: it must not say "raised in repr()".
    assert repr(LeanIXServer.__new__(LeanIXServer)) == "LeanIXServer(base_url='?')"


MARKED_TESTS = """
import pytest

@pytest.mark.leanix(subdomain="https://contoso.leanix.net")
def test_url_as_subdomain(leanix_mock):
    pass

@pytest.mark.leanix(subdomain="https://contoso.leanix.net")
def test_url_as_subdomain_beside_the_live_server(leanix_server):
    pass

@pytest.mark.leanix(token_ttl=-1)
def test_negative_ttl(leanix_server):
    pass

@pytest.mark.leanix(token_ttl=-1)
def test_negative_ttl_on_the_shared_server(leanix_shared_server):
    pass

@pytest.mark.leanix(tokn_ttl=60)
def test_misspelled(leanix_mock):
    pass

@pytest.mark.leanix("contoso")
def test_positional(leanix_mock):
    pass
"""


def test_a_bad_marker_fails_the_setup_naming_the_argument(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=MARKED_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=6)
    output = result.stdout.str()
    expected = {
        "test_url_as_subdomain": "@pytest.mark.leanix: subdomain must be one DNS label",
        "test_url_as_subdomain_beside_the_live_server": "@pytest.mark.leanix: subdomain must be",
        "test_negative_ttl": "@pytest.mark.leanix: token_ttl must be a positive number",
        "test_negative_ttl_on_the_shared_server": "@pytest.mark.leanix: token_ttl must be a pos",
        "test_misspelled": "@pytest.mark.leanix got the unknown keyword 'tokn_ttl'; valid "
        "keywords: subdomain, api_token, token_ttl, clock_offset, workspace_id, strict, tls",
        "test_positional": "@pytest.mark.leanix takes keywords only",
    }
    for test, message in expected.items():
        result.stdout.fnmatch_lines([f"*ERROR at setup of {test} *", message + "*"])
    assert "raised in repr()" not in output
    assert "Traceback" not in output
