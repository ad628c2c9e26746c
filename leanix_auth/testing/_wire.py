"""Requests and answers of the fake LeanIX as plain values, and the reading of what arrives: what
every face translates to and from its own request types."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class RecordedRequest:
    """A request as it arrived, in `token_requests`, `api_requests`, `unmatched_requests`.

    `method`; `path` as sent, with its query; `headers`, case-insensitive; `body` as bytes.

    Usage::

        >>> [request] = server.api_requests
        >>> request.bearer, request.json()
    """

    method: str
    path: str
    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(repr=False)

    @property
    def bearer(self) -> str | None:
        """The bearer token sent, or None."""
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        return token if scheme.lower() == "bearer" and token else None

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)

    def form(self) -> dict[str, list[str]]:
        """The body as a form: each name with its values."""
        return parse_qs(self.body.decode("latin-1"), keep_blank_values=True)


@dataclass
class FakeResponse:
    """What the fake answers to one request: `status`, `headers` and `body`, as
    `FakeLeanIX.handle()` returns it.

    Usage::

        >>> answer = fake.handle("GET", "/services/a/v1/x", {}, b"")
        >>> answer.status, answer.headers, answer.body
    """

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Stub:
    method: str
    path: str
    status: int
    headers: dict[str, str]
    body: bytes
    query_contains: str | None = None  # GraphQL stubs answer the queries that contain this


def content_of(
    payload: Any, body: bytes | str, headers: Mapping[str, str] | None
) -> tuple[bytes, dict[str, str]]:
    all_headers = dict(headers or {})
    if payload is not None:
        all_headers.setdefault("Content-Type", "application/json")
        return json.dumps(payload).encode(), all_headers
    return (body.encode() if isinstance(body, str) else body), all_headers


def basic_token(header: str) -> str | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return password if user == "apitoken" else None


def graphql_query(body: bytes) -> str:
    try:
        query = json.loads(body).get("query", "")
    except (ValueError, AttributeError):
        return ""
    return query if isinstance(query, str) else ""


def path_and_query(target: str) -> str:
    """The path and query as the client sent them. An origin-form target ("/x?y") is taken as
    it is: urlsplit would read the host out of "//services/..."."""
    if target.startswith("/"):
        return target.partition("#")[0]
    parts = urlsplit(target)
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path
