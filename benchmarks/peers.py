"""The contestants: leanix-auth and whichever of requests-auth, httpx-auth and Authlib is
installed (benchmarks/requirements.txt; a missing one skips its rows), set up alike for one fake
LeanIX, and a static header as the floor."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import httpx
import requests

from leanix_auth import LeanIXAuth, LeanIXHttpxAuth
from leanix_auth.testing import LeanIXServer


def peer(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError:
        return None


requests_auth = peer("requests_auth")


httpx_auth = peer("httpx_auth")


authlib = peer("authlib")
if authlib is not None:
    from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuth2Client
    from authlib.integrations.requests_client import OAuth2Session


def requests_auths(server: LeanIXServer, **tuning: float) -> Iterator[tuple[str, Any]]:
    """(name, thing to put on a requests call). Authlib's is a whole session."""
    margin = tuning.get("refresh_margin", 300.0)
    yield (
        "leanix-auth",
        LeanIXAuth(server.api_token, base_url=server.base_url, refresh_margin=margin),
    )
    if requests_auth is not None:
        yield (
            "requests-auth",
            requests_auth.OAuth2ClientCredentials(
                server.token_url,
                client_id="apitoken",
                client_secret=server.api_token,
                early_expiry=tuning.get("refresh_margin", 30.0),
            ),
        )
    if authlib is not None:
        yield (
            "Authlib",
            OAuth2Session(
                client_id="apitoken",
                client_secret=server.api_token,
                token_endpoint=server.token_url,
                grant_type="client_credentials",
                leeway=int(tuning.get("refresh_margin", 60)),
            ),
        )


def requests_session(auth: Any) -> requests.Session:
    if authlib is not None and isinstance(auth, OAuth2Session):
        return cast(requests.Session, auth)
    session = requests.Session()
    session.auth = auth
    return session


def ensure_token(session: requests.Session) -> None:
    # Authlib leaves the first fetch to its user; this is how its documentation does it.
    if authlib is not None and isinstance(session, OAuth2Session) and not session.token:
        session.fetch_token()


async def aensure_token(client: Any) -> None:
    """`ensure_token` for Authlib's async client."""
    if authlib is not None and isinstance(client, AsyncOAuth2Client) and not client.token:
        await client.fetch_token()


def httpx_auths(server: LeanIXServer, *, is_async: bool) -> Iterator[tuple[str, Any]]:
    yield "leanix-auth", LeanIXHttpxAuth(server.api_token, base_url=server.base_url)
    if httpx_auth is not None:
        yield (
            "httpx-auth",
            httpx_auth.OAuth2ClientCredentials(
                server.token_url, client_id="apitoken", client_secret=server.api_token
            ),
        )
    if authlib is not None:
        yield "Authlib", ("authlib", is_async)


def httpx_client(server: LeanIXServer, auth: Any, is_async: bool, **options: Any) -> Any:
    if isinstance(auth, tuple):  # Authlib: the client is the auth
        cls = AsyncOAuth2Client if is_async else OAuth2Client
        return cls(
            client_id="apitoken",
            client_secret=server.api_token,
            token_endpoint=server.token_url,
            grant_type="client_credentials",
            **options,
        )
    cls = httpx.AsyncClient if is_async else httpx.Client
    return cls(auth=auth, **options)


class StaticHeader(requests.auth.AuthBase, httpx.Auth):
    """The simplest auth there is: one fixed header, for requests and for httpx."""

    def __init__(self, header: str) -> None:
        self.header = header

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self.header
        return request

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:  # type: ignore[override]
        request.headers["Authorization"] = self.header
        yield request
