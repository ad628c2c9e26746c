"""`extra_origins=`: LeanIX's other hosts (MTM on the regional service hosts) get the bearer only
when listed; a call to an unlisted LeanIX host is named in the log once, with the remedy."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import aiohttp
import pytest
import requests

from leanix_auth import LeanIXAiohttpMiddleware, LeanIXAuth, LeanIXConfigError, LeanIXHttpxAuth
from leanix_auth.testing import LeanIXMock, LeanIXServer

from ..clients import Callers

API = "/services/mtm/v1/workspaces"


@pytest.fixture
def listed() -> Iterator[LeanIXServer]:
    """A host named in extra_origins, standing for eu-svc.leanix.net."""
    with LeanIXServer() as server:
        yield server


@pytest.fixture
def unlisted() -> Iterator[LeanIXServer]:
    with LeanIXServer() as server:
        yield server


def test_a_listed_origin_gets_the_bearer_and_an_unlisted_one_does_not(
    kind: str,
    leanix_server: LeanIXServer,
    listed: LeanIXServer,
    unlisted: LeanIXServer,
    make_caller: Callers,
) -> None:
    call, _ = make_caller(kind, leanix_server, extra_origins=[listed.base_url + "/"])
    # Before any token, and although the fake there refuses it (and gets it resent once).
    call(listed.base_url + API)
    call(unlisted.base_url + API)
    assert listed.api_requests
    assert all(r.bearer in leanix_server.issued_tokens for r in listed.api_requests)
    [to_unlisted] = unlisted.api_requests
    assert to_unlisted.bearer is None


def test_the_aiohttp_middleware_sends_the_bearer_to_a_listed_origin_only(
    leanix_server: LeanIXServer, listed: LeanIXServer, unlisted: LeanIXServer
) -> None:
    leanix = LeanIXAiohttpMiddleware(
        leanix_server.api_token, base_url=leanix_server.base_url, extra_origins=[listed.base_url]
    )

    async def main() -> None:
        async with aiohttp.ClientSession(middlewares=(leanix,)) as session:
            for server in (listed, unlisted):
                async with session.get(server.base_url + API):
                    pass

    asyncio.run(main())
    assert listed.api_requests
    assert all(r.bearer in leanix_server.issued_tokens for r in listed.api_requests)
    [to_unlisted] = unlisted.api_requests
    assert to_unlisted.bearer is None


@pytest.fixture
def leanix_env(leanix_mock: LeanIXMock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEANIX_API_TOKEN", leanix_mock.api_token)
    monkeypatch.setenv("LEANIX_SUBDOMAIN", "acme")


def bearer_for(auth: LeanIXAuth, url: str) -> str | None:
    """The Authorization header `auth` puts on a request to `url` (nothing is sent)."""
    return auth(requests.Request("GET", url).prepare()).headers.get("Authorization")


@pytest.mark.usefixtures("leanix_env")
def test_an_unlisted_leanix_host_is_named_in_the_log_once(
    all_logs: list[logging.LogRecord],
) -> None:
    auth = LeanIXAuth(extra_origins="https://eu-svc.leanix.net")  # one origin: a str will do
    assert bearer_for(auth, "https://eu-svc.leanix.net" + API) is not None
    assert bearer_for(auth, "https://us-svc.leanix.net" + API) is None
    assert bearer_for(auth, "https://us-svc.leanix.net/services/poll/v2/polls") is None
    assert bearer_for(auth, "https://svc.leanix.net" + API) is None
    assert bearer_for(auth, "https://example.com/") is None  # not LeanIX's: nothing to say
    told = [r.getMessage() for r in all_logs if "sent without the access token" in r.getMessage()]
    assert told == [
        f"LeanIX request to {origin} sent without the access token: only "
        "https://acme.leanix.net and the token's instanceUrl receive it; to send it there too, "
        f"pass extra_origins=['{origin}']"
        for origin in ("https://us-svc.leanix.net", "https://svc.leanix.net")
    ]
    assert all(r.levelno == logging.INFO for r in all_logs if r.getMessage() in told)


@pytest.mark.parametrize(
    ("origins", "problem"),
    [
        (["https://eu-svc.leanix.net/services/mtm"], "extra_origins is an origin, without a path"),
        (["https://eu-svc.leanix.net?region=eu"], "extra_origins must not have a query"),
        (["http://eu-svc.leanix.net"], "extra_origins must use https://"),
        (["eu-svc.leanix.net"], "extra_origins must start with https://"),
        ([42], "extra_origins must be a str"),
        (42, "extra_origins must be a list of origins"),
    ],
)
@pytest.mark.usefixtures("leanix_env")
def test_extra_origins_are_checked_like_base_url(origins: object, problem: str) -> None:
    for adapter in (LeanIXAuth, LeanIXHttpxAuth, LeanIXAiohttpMiddleware):
        with pytest.raises(LeanIXConfigError, match=problem):
            adapter(extra_origins=origins)  # type: ignore[arg-type]


@pytest.mark.usefixtures("leanix_env")
def test_http_is_allowed_on_loopback_and_origins_are_compared_normalized() -> None:
    auth = LeanIXAuth(extra_origins=["HTTP://LOCALHOST:80", "https://EU-SVC.leanix.net:443/"])
    assert bearer_for(auth, "http://localhost/x") is not None
    assert bearer_for(auth, "https://eu-svc.leanix.net/x") is not None
