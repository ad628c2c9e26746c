"""Construction: arguments, the environment, and clear errors for what is wrong."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx
import pytest
import requests

from leanix_auth import LeanIXAuth, LeanIXAuthError, LeanIXConfigError, LeanIXHttpxAuth

AUTHS = [LeanIXAuth, LeanIXHttpxAuth]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LEANIX_API_TOKEN", "LEANIX_SUBDOMAIN", "LEANIX_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("auth_class", AUTHS)
def test_subdomain_names_the_leanix_host(auth_class: type[LeanIXAuth]) -> None:
    auth = auth_class("secret-token", subdomain="Acme")
    assert auth.base_url == "https://acme.leanix.net"
    assert auth.token_url == "https://acme.leanix.net/services/mtm/v1/oauth2/token"


@pytest.mark.parametrize("auth_class", AUTHS)
def test_environment_supplies_token_and_host(
    auth_class: type[LeanIXAuth], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEANIX_API_TOKEN", "from-env")
    monkeypatch.setenv("LEANIX_SUBDOMAIN", "envco")
    assert auth_class().base_url == "https://envco.leanix.net"


def test_base_url_in_environment_wins_over_subdomain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEANIX_SUBDOMAIN", "envco")
    monkeypatch.setenv("LEANIX_BASE_URL", "https://eu-svc.leanix.net/")
    assert LeanIXAuth("t").base_url == "https://eu-svc.leanix.net"


def test_explicit_arguments_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEANIX_BASE_URL", "https://eu-svc.leanix.net")
    monkeypatch.setenv("LEANIX_API_TOKEN", "")
    assert LeanIXAuth("explicit", subdomain="mine").base_url == "https://mine.leanix.net"


def test_token_url_may_live_on_another_origin() -> None:
    auth = LeanIXAuth("t", subdomain="acme", token_url="https://login.example.com/oauth/token")
    assert auth.token_url == "https://login.example.com/oauth/token"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"api_token": None, "subdomain": "acme"}, "no LeanIX API token"),
        ({"api_token": "", "subdomain": "acme"}, "API token is empty"),
        ({"api_token": "  \n", "subdomain": "acme"}, "API token is empty"),
        ({"api_token": "has space", "subdomain": "acme"}, "spaces, control"),
        ({"api_token": "t"}, "no LeanIX workspace host"),
        ({"api_token": "t", "subdomain": "acme", "base_url": "https://x.leanix.net"}, "not both"),
        ({"api_token": "t", "subdomain": "acme.leanix.net"}, "one DNS label"),
        ({"api_token": "t", "subdomain": "-acme"}, "one DNS label"),
        ({"api_token": "t", "subdomain": "a" * 64}, "one DNS label"),
        ({"api_token": "t", "base_url": "http://acme.leanix.net"}, "must use https://"),
        ({"api_token": "t", "base_url": "ftp://acme.leanix.net"}, "must start with https://"),
        (
            {"api_token": "t", "base_url": "https://user:pw@acme.leanix.net"},
            "user name or password",
        ),
        ({"api_token": "t", "base_url": "https://acme.leanix.net/?x=1"}, "query or fragment"),
        ({"api_token": "t", "base_url": "https://acme.leanix.net/#top"}, "query or fragment"),
        ({"api_token": "t", "base_url": "https:///path"}, "no valid host"),
        ({"api_token": "t", "base_url": "https://acme.leanix.net:70000"}, "not a valid URL"),
        ({"api_token": "t", "base_url": "acme.leanix.net"}, "must start with https://"),
        ({"api_token": "t", "subdomain": "acme", "token_url": "http://evil.example"}, "https://"),
        ({"api_token": "t", "subdomain": "acme", "timeout": 0}, "timeout must be a positive"),
        ({"api_token": "t", "subdomain": "acme", "refresh_margin": -1}, "zero or more"),
    ],
)
@pytest.mark.parametrize("auth_class", AUTHS)
def test_bad_configuration_is_a_value_error_that_says_what_to_fix(
    auth_class: type[LeanIXAuth], kwargs: dict[str, object], fragment: str
) -> None:
    with pytest.raises(LeanIXConfigError, match=fragment) as caught:
        auth_class(**kwargs)  # type: ignore[arg-type]
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, LeanIXAuthError)


@pytest.mark.parametrize("url", ["http://localhost:8080", "http://127.0.0.1:1", "http://[::1]:9"])
def test_plain_http_is_allowed_on_loopback(url: str) -> None:
    assert LeanIXAuth("t", base_url=url).base_url == url


@pytest.mark.parametrize("auth_class", AUTHS)
@pytest.mark.parametrize(
    "base_url",
    ["https://acme.leanix.net/acmeWorkspace", "https://acme.leanix.net/services/pathfinder/v1"],
)
def test_a_base_url_with_a_path_is_refused_with_the_origin_to_use(
    auth_class: type[LeanIXAuth], base_url: str
) -> None:
    with pytest.raises(LeanIXConfigError, match=r"use 'https://acme\.leanix\.net'"):
        auth_class("t", base_url=base_url)


@pytest.mark.parametrize("auth_class", AUTHS)
@pytest.mark.parametrize("timeout", [float("inf"), float("nan"), 0, -1, 3601, 10**400])
def test_a_timeout_that_is_not_a_sane_number_of_seconds_is_refused(
    auth_class: type[LeanIXAuth], timeout: float
) -> None:
    with pytest.raises(LeanIXConfigError, match="timeout"):
        auth_class("t", subdomain="acme", timeout=timeout)


@pytest.mark.parametrize("auth_class", AUTHS)
@pytest.mark.parametrize("cache", ["file", object(), {"load": 1}])
def test_a_cache_that_is_no_token_cache_is_refused(
    auth_class: type[LeanIXAuth], cache: object
) -> None:
    with pytest.raises(LeanIXConfigError, match="cache must be a TokenCache"):
        auth_class("t", subdomain="acme", cache=cache)  # type: ignore[arg-type]


def test_a_session_that_is_no_requests_session_is_refused() -> None:
    with httpx.Client() as client, pytest.raises(LeanIXConfigError, match=r"requests\.Session"):
        LeanIXAuth("t", subdomain="acme", session=client)  # type: ignore[arg-type]


def test_the_wrong_adapter_for_the_client_names_the_right_one() -> None:
    with (
        httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))) as client,
        pytest.raises(TypeError, match="for httpx use LeanIXHttpxAuth"),
    ):
        client.get("https://acme.leanix.net/x", auth=LeanIXAuth("t", subdomain="acme"))  # type: ignore[arg-type]
    with requests.Session() as session, pytest.raises(TypeError, match="wants LeanIXAuth"):
        session.get("https://acme.leanix.net/x", auth=LeanIXHttpxAuth("t", subdomain="acme"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("missing", "code", "extra"),
    [
        ("redis", "from leanix_auth import RedisCache; RedisCache.from_url('redis://x')", "redis"),
        ("responses", "import leanix_auth.testing", "testing"),
        ("respx", "import leanix_auth.testing", "testing"),
    ],
)
def test_a_missing_extra_names_the_install_command(missing: str, code: str, extra: str) -> None:
    blocked = f"import sys; sys.modules[{missing!r}] = None; {code}"
    result = subprocess.run(
        [sys.executable, "-c", blocked], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert "ImportError: " in result.stderr
    assert f'pip install "leanix-auth[{extra}]"' in result.stderr.splitlines()[-1]


@pytest.mark.parametrize("auth_class", AUTHS)
@pytest.mark.parametrize(
    ("host", "fragment"),
    [
        ("a" * 64 + ".example.com", "a label longer than 63 characters"),
        ("a..b", "an empty label"),
        (".acme.leanix.net", "an empty label"),
        ("xn--zz.example", "not valid punycode"),
        ("acme-.leanix.net", "a label that starts or ends with a hyphen"),
        ("999.1.1.1", "not an IPv4 address"),
        ("1.2.3", "not an IPv4 address"),
        (("a" * 60 + ".") * 5 + "com", "longer than 253 characters"),
    ],
)
@pytest.mark.parametrize("keyword", ["base_url", "token_url"])
def test_a_host_the_clients_cannot_resolve_is_refused_at_construction(
    auth_class: type[LeanIXAuth], host: str, fragment: str, keyword: str
) -> None:
    kwargs: dict[str, Any] = {"subdomain": "acme", keyword: f"https://{host}"}
    if keyword == "base_url":
        del kwargs["subdomain"]
    with pytest.raises(LeanIXConfigError, match=fragment):
        auth_class("t", **kwargs)


@pytest.mark.parametrize(
    "host", ["xn--bcher-kva.ch", "XN--BCHER-KVA.CH", "acme.leanix.net.", "127.0.0.1", "[::1]"]
)
def test_hosts_the_clients_resolve_are_accepted(host: str) -> None:
    assert LeanIXHttpxAuth("t", base_url=f"https://{host}").base_url == f"https://{host}"


SECRET = "s3cr3t-" + "k" * 33  # an API token pasted into the wrong place


@pytest.mark.parametrize(
    "kwargs",
    [
        {"subdomain": "acme", "timeout": SECRET},
        {"subdomain": "acme", "refresh_margin": SECRET},
        {"subdomain": "acme", "mandatory_margin": SECRET},
        {"base_url": f"https://acme.leanix.net/{SECRET}"},
        {"base_url": SECRET},
        {"base_url": f"https://acme.leanix.net:{SECRET}"},
        {"base_url": f"https://[{SECRET}]"},
        {"base_url": f"http://{SECRET}.example"},
        {"base_url": f"{SECRET}://acme.leanix.net"},
        {"base_url": f"https://acme.leanix.net?{SECRET}"},
        {"base_url": f"https://{SECRET}_x.example"},
        {"subdomain": "acme", "token_url": f"http://login.example/{SECRET}"},
        {"subdomain": "acme", "token_url": f"https://login.example/{SECRET}#x"},
        {"subdomain": "acme", "token_url": f"https://a..b/{SECRET}"},
    ],
)
@pytest.mark.parametrize("auth_class", AUTHS)
def test_a_config_error_says_what_is_wrong_without_quoting_the_value(
    auth_class: type[LeanIXAuth], kwargs: dict[str, object]
) -> None:
    with pytest.raises(LeanIXConfigError) as caught:
        auth_class("t", **kwargs)  # type: ignore[arg-type]
    assert SECRET not in str(caught.value)
    assert SECRET[:12] not in str(caught.value)
