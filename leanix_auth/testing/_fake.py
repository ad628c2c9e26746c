"""The fake LeanIX: one application (token endpoint and API) that every face serves.

`FakeLeanIX.handle()` takes a request as plain values and returns a `FakeResponse`; the live
server and the in-process mocks only translate to and from their own request types.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from requests.structures import CaseInsensitiveDict

TOKEN_PATH = "/services/mtm/v1/oauth2/token"
GRAPHQL_PATH = "/services/pathfinder/v1/graphql"
WORKSPACE_ID = "5f5e6b2c-0000-4000-8000-00000000ace1"


@dataclass(frozen=True)
class RecordedRequest:
    """A request as it arrived. `headers` is case-insensitive; `path` includes the query."""

    method: str
    path: str
    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(repr=False)

    @property
    def bearer(self) -> str | None:
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        return token if scheme.lower() == "bearer" and token else None

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode("latin-1"), keep_blank_values=True)


@dataclass
class FakeResponse:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class _Stub:
    method: str
    path: str
    status: int
    headers: dict[str, str]
    body: bytes
    query_contains: str | None = None  # GraphQL stubs answer the queries that contain this


@functools.cache
def _signing_key() -> Any:
    # One RSA key per process: generating one costs tens of milliseconds, and the fake's token
    # registry, not the key, keeps tests apart.
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_key_pem() -> bytes:
    """The public half of the fake's signing key, for tests that verify its tokens."""
    from cryptography.hazmat.primitives import serialization

    return bytes(
        _signing_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def leanix_claims(base_url: str, *, exp: float, workspace_id: str = WORKSPACE_ID) -> dict[str, Any]:
    """Claims shaped like a real LeanIX access token's: no `iat`, as LeanIX sends none."""
    user_id = str(uuid.uuid4())
    return {
        "sub": f"{user_id}@technical.leanix.net",
        "principal": {
            "id": user_id,
            "username": "fake-technical-user",
            "role": "ACCOUNTUSER",
            "status": "ACTIVE",
            "account": {"id": str(uuid.uuid4()), "name": "fake-account"},
            "permission": {
                "id": str(uuid.uuid4()),
                "workspaceId": workspace_id,
                "workspaceName": "fake-workspace",
                "role": "ADMIN",
                "customerRoles": None,
                "accessControlEntities": None,
                "status": "ACTIVE",
            },
        },
        "iss": f"{base_url}/services/mtm/v1",
        "jti": str(uuid.uuid4()),
        "exp": int(exp),
        "instanceUrl": base_url,
        "region": "westeurope",
    }


def sign(claims: Mapping[str, Any]) -> str:
    import jwt

    return jwt.encode(dict(claims), _signing_key(), algorithm="RS256")


def make_token(
    base_url: str = "https://acme.leanix.net", *, ttl: float = 3600, **claims: Any
) -> str:
    """A LeanIX-shaped RS256 JWT. Keyword claims override the defaults; None removes one."""
    merged = leanix_claims(base_url, exp=time.time() + ttl)
    merged.update(claims)
    return sign({key: value for key, value in merged.items() if value is not None})


_Face = TypeVar("_Face", bound="FakeLeanIX")


class FakeLeanIX:
    """A LeanIX workspace in a box: token endpoint, API, recordings and controls.

    Controls: `token_ttl` (seconds), `clock_offset` (seconds added to the server's clock),
    `token_delay` (seconds the token endpoint takes), `revoke_tokens()`,
    `fail_token_requests()`, `add()` and `add_graphql()`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_token: str | None = None,
        token_ttl: float = 3600,
        clock_offset: float = 0.0,
        workspace_id: str = WORKSPACE_ID,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_token = api_token or secrets.token_urlsafe(30)
        self.token_ttl = token_ttl
        self.clock_offset = clock_offset
        self.token_delay = 0.0
        self.workspace_id = workspace_id
        self.token_requests: list[RecordedRequest] = []
        self.api_requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._issued: dict[str, float] = {}  # access token -> exp, on the server's clock
        self._failures: deque[tuple[int, float | None]] = deque()
        self._stubs: list[_Stub] = []

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    # A face (live server, in-process mock) starts and stops serving this application.

    def start(self: _Face) -> _Face:
        return self

    def stop(self) -> None:
        pass

    def __enter__(self: _Face) -> _Face:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def token_url(self) -> str:
        return self.base_url + TOKEN_PATH

    @property
    def graphql_url(self) -> str:
        return self.base_url + GRAPHQL_PATH

    @property
    def issued_tokens(self) -> list[str]:
        with self._lock:
            return list(self._issued)

    def now(self) -> float:
        """The server's clock: the wall clock plus `clock_offset`."""
        return time.time() + self.clock_offset

    # Controls

    def revoke_tokens(self) -> None:
        """Make every token issued so far invalid, as when LeanIX revokes a session."""
        with self._lock:
            self._issued.clear()

    def fail_token_requests(
        self, status: int = 503, times: int = 1, retry_after: float | None = None
    ) -> None:
        """Answer the next `times` token requests with `status` (and a Retry-After header)."""
        with self._lock:
            self._failures.extend([(status, retry_after)] * times)

    def add(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        body: bytes | str = b"",
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer `method path` (the path without query) with this response from now on. The
        newest stub for a route wins; unstubbed API paths answer 200 with an echo."""
        content, all_headers = _content(json, body, headers)
        with self._lock:
            self._stubs.insert(0, _Stub(method.upper(), path, status, all_headers, content))

    def add_graphql(
        self,
        query_contains: str,
        *,
        data: Any = None,
        errors: list[Any] | None = None,
        status: int = 200,
    ) -> None:
        """Answer GraphQL queries that contain `query_contains` with `{"data":…, "errors":…}`."""
        payload: dict[str, Any] = {"data": data}
        if errors is not None:
            payload["errors"] = errors
        content, headers = _content(payload, b"", None)
        stub = _Stub("POST", GRAPHQL_PATH, status, headers, content, query_contains)
        with self._lock:
            self._stubs.insert(0, stub)

    def issue_token(self, **claims: Any) -> str:
        """Mint a token this fake accepts, as if the token endpoint had issued it."""
        now = self.now()
        merged = leanix_claims(
            self.base_url, exp=now + self.token_ttl, workspace_id=self.workspace_id
        )
        merged.update(claims)
        token = sign({key: value for key, value in merged.items() if value is not None})
        with self._lock:
            self._issued[token] = float(merged.get("exp", now + self.token_ttl))
        return token

    # The application

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> FakeResponse:
        """Answer one request. `target` is the path with its query, or a whole URL."""
        path = urlsplit(target).path or "/"
        recorded = RecordedRequest(
            method.upper(), _path_and_query(target), CaseInsensitiveDict(headers), body
        )
        if path == TOKEN_PATH:
            with self._lock:
                self.token_requests.append(recorded)
            if self.token_delay:
                time.sleep(self.token_delay)
            return self._token_endpoint(recorded)
        with self._lock:
            self.api_requests.append(recorded)
        return self._api(recorded, path)

    def _token_endpoint(self, request: RecordedRequest) -> FakeResponse:
        with self._lock:
            failure = self._failures.popleft() if self._failures else None
        if failure is not None:
            status, retry_after = failure
            extra = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
            return self._json(
                status, {"error": "unavailable", "error_description": "Injected"}, extra
            )
        stub = self._find_stub(request, TOKEN_PATH)
        if stub is not None:
            return FakeResponse(stub.status, {**stub.headers, "Date": self._date()}, stub.body)
        if request.method != "POST":
            return self._json(405, {"error": "method_not_allowed"})
        if _basic_token(request.headers.get("Authorization", "")) != self.api_token:
            return self._json(
                401, {"error": "unauthorized", "error_description": "Bad credentials"}
            )
        grant = request.form().get("grant_type", [""])[0]
        if grant != "client_credentials":
            return self._json(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": f"Unsupported grant type: {grant}",
                },
            )
        token = self.issue_token()
        return self._json(
            200,
            {
                "scope": "",
                "expired": False,
                "access_token": token,
                "token_type": "bearer",
                "expires_in": max(int(self.token_ttl) - 1, 0),
            },
        )

    def _api(self, request: RecordedRequest, path: str) -> FakeResponse:
        token = request.bearer
        with self._lock:
            exp = self._issued.get(token) if token else None
        if exp is None or exp <= self.now():
            return self._json(401, {"status": "ERROR", "errors": [{"message": "Unauthorized"}]})
        stub = self._find_stub(request, path)
        if stub is not None:
            return FakeResponse(stub.status, {**stub.headers, "Date": self._date()}, stub.body)
        echo = {
            "method": request.method,
            "path": request.path,
            "body": request.body.decode("utf-8", "replace"),
        }
        return self._json(200, echo)

    def _find_stub(self, request: RecordedRequest, path: str) -> _Stub | None:
        query = None
        with self._lock:
            stubs = list(self._stubs)
        for stub in stubs:
            if stub.method != request.method or stub.path != path:
                continue
            if stub.query_contains is None:
                return stub
            if query is None:
                query = _graphql_query(request.body)
            if stub.query_contains in query:
                return stub
        return None

    def _json(
        self, status: int, payload: Any, extra: Mapping[str, str] | None = None
    ) -> FakeResponse:
        headers = {"Content-Type": "application/json", "Date": self._date(), **(extra or {})}
        return FakeResponse(status, headers, json.dumps(payload).encode())

    def _date(self) -> str:
        return formatdate(self.now(), usegmt=True)


def _content(
    payload: Any, body: bytes | str, headers: Mapping[str, str] | None
) -> tuple[bytes, dict[str, str]]:
    all_headers = dict(headers or {})
    if payload is not None:
        all_headers.setdefault("Content-Type", "application/json")
        return json.dumps(payload).encode(), all_headers
    return (body.encode() if isinstance(body, str) else body), all_headers


def _basic_token(header: str) -> str | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return password if user == "apitoken" else None


def _graphql_query(body: bytes) -> str:
    try:
        query = json.loads(body).get("query", "")
    except (ValueError, AttributeError):
        return ""
    return query if isinstance(query, str) else ""


def _path_and_query(target: str) -> str:
    parts = urlsplit(target)
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path
