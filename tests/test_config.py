"""Construction: arguments, the environment, and clear errors for what is wrong."""

from __future__ import annotations

import pytest

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
