"""The fake LeanIX: one application (token endpoint and API) that every face serves.

`FakeLeanIX.handle()` takes a request as plain values and returns a `FakeResponse`; the live
server and the in-process mocks only translate to and from their own request types.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from email.utils import formatdate
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import parse_qs

from requests.structures import CaseInsensitiveDict

from .._clock import SYSTEM_CLOCK
from . import _options as check
from ._tokens import WORKSPACE_ID, leanix_claims, sign
from ._wire import (
    FakeResponse,
    RecordedRequest,
    Stub,
    basic_token,
    content_of,
    graphql_query,
    path_and_query,
)

TOKEN_PATH = "/services/mtm/v1/oauth2/token"
# Where LeanIX's APIs live: under a service (/services/pathfinder/v1/...), or in the older form
# scoped by the workspace's name (/demo/api/v1/services, as in LeanIX's authentication guide).
_API_PATH = re.compile(r"/services/[^/]+/v\d+(/|$)|/[^/]+/api/v\d+(/|$)")
_REPEATED_SLASHES = re.compile(r"//+")
_OAUTH_HEADERS = {
    "Content-Type": "application/json;charset=UTF-8",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
}
GRAPHQL_PATH = "/services/pathfinder/v1/graphql"


_Face = TypeVar("_Face", bound="FakeLeanIX")


def _library_wall() -> float:
    return SYSTEM_CLOCK.wall()


class FakeLeanIX:
    """A LeanIX workspace in a box: token endpoint, API, recordings and controls.

    Options (checked at once, `LeanIXConfigError` naming the mistake): `api_token` (default: a
    random one), `token_ttl` (seconds), `clock_offset` (seconds added to the server's clock),
    `workspace_id`, `strict`; and `clock`, the one wall clock (seconds since the epoch) from which
    the fake reads "now", `time.time` unless a test moves time by hand.

    Controls: `token_delay` (seconds the token endpoint takes), `revoke_tokens()`,
    `rotate_api_token()`, `fail_token_requests()`, `add()`, `add_graphql()` and `reset()`. With
    `strict=True` every request without a stub is a 404; otherwise requests under a LeanIX API
    (`/services/<name>/v<N>/...`, `/<workspace>/api/v<N>/...`) without one are echoed. Requests
    answered 404 for want of a route or stub are listed in `unmatched_requests`.

    Usage::

        >>> fake = FakeLeanIX("https://acme.leanix.net")
        >>> fake.handle("GET", "/services/pathfinder/v1/x", {}, b"").status
        401
    """

    _OWN_OPTIONS: tuple[str, ...] = ()  # what a face takes besides FAKE_OPTIONS and clock

    def __init__(
        self, base_url: str, *, clock: Callable[[], float] | None = None, **options: Any
    ) -> None:
        """**Parameters:**

        * **base_url** - the workspace's origin this fake stands for.
        * **clock** - a callable returning "now" in seconds since the epoch. Default None:
          leanix-auth's wall clock, which `leanix_clock` moves by hand.
        * **options** - those of `reset()`: `api_token`, `token_ttl`, `clock_offset`,
          `workspace_id`, `strict`.

        **Raises:** `LeanIXConfigError` naming an unknown keyword or a wrong value.
        """
        self.base_url = base_url.rstrip("/")
        check.check_keywords(
            options,
            (*self._OWN_OPTIONS, *check.FAKE_OPTIONS, "clock"),
            f"{type(self).__name__}()",
        )
        # By default leanix-auth's own wall clock: a HandClock installed for a test (the
        # leanix_clock fixture) moves the fake's "now" with the auth objects'.
        self.clock = check.clock(clock if clock is not None else _library_wall)
        self._lock = threading.Lock()
        self.reset(**options)

    def reset(
        self,
        *,
        api_token: str | None = None,
        token_ttl: float = 3600,
        clock_offset: float = 0.0,
        workspace_id: str = WORKSPACE_ID,
        strict: bool = False,
    ) -> None:
        """Be as if just made with these options, on the same address: every recording, stub,
        injected failure and issued token is forgotten, and without `api_token` a new random one
        is accepted, so that a client left over from an earlier test is refused.

        **Parameters:**

        * **api_token** - the API token the token endpoint accepts. Default None: a random one.
        * **token_ttl** - seconds each access token lives. Default 3600.
        * **clock_offset** - seconds added to the fake's clock (a server clock that is off).
          Default 0.
        * **workspace_id** - the workspace id in the tokens' claims. Default a fixed UUID.
        * **strict** - True: every request without a stub is a 404. Default False.

        **Raises:** `LeanIXConfigError` naming a wrong value.

        Usage::

            >>> server.reset(token_ttl=60, strict=True)
        """
        options = (
            secrets.token_urlsafe(30) if api_token is None else check.api_token(api_token),
            check.positive_seconds(token_ttl, "token_ttl"),
            check.seconds(clock_offset, "clock_offset"),
            check.text(workspace_id, "workspace_id"),
            check.flag(strict, "strict"),
        )
        with self._lock:
            self.api_token, self.token_ttl, self.clock_offset, self.workspace_id, self.strict = (
                options
            )
            self.token_delay = 0.0
            self.token_requests: list[RecordedRequest] = []
            self.api_requests: list[RecordedRequest] = []
            self.unmatched_requests: list[RecordedRequest] = []
            self._issued: dict[str, float] = {}  # access token -> exp, on the server's clock
            self._failures: deque[tuple[int, float | None]] = deque()
            self._stubs: list[Stub] = []

    def __repr__(self) -> str:
        # Never raises, even for an object whose __init__ failed half-way (a traceback shows it).
        return f"{type(self).__name__}(base_url={getattr(self, 'base_url', '?')!r})"

    # A face (live server, in-process mock) starts and stops serving this application.

    def start(self: _Face) -> _Face:
        """Start serving (`with fake:` does it); returns the fake."""
        return self

    def stop(self) -> None:
        """Stop serving (the end of `with fake:` does it)."""

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
        """The token endpoint's URL."""
        return self.base_url + TOKEN_PATH

    @property
    def graphql_url(self) -> str:
        """The GraphQL API's URL."""
        return self.base_url + GRAPHQL_PATH

    @property
    def issued_tokens(self) -> list[str]:
        """Every access token the fake has issued since it was made or reset."""
        with self._lock:
            return list(self._issued)

    def now(self) -> float:
        """The server's clock: `clock()` plus `clock_offset`. Every expiry, `exp` and `Date` the
        fake reckons comes from here."""
        return self.clock() + self.clock_offset

    # Controls

    def revoke_tokens(self) -> None:
        """Make every token issued so far invalid, as when LeanIX revokes a session."""
        with self._lock:
            self._issued.clear()

    def rotate_api_token(self) -> str:
        """Accept a new API token from now on, and refuse the old one (401): what LeanIX does when
        a Technical User's token is replaced. Returns the new token."""
        with self._lock:
            self.api_token = secrets.token_urlsafe(30)
            return self.api_token

    def fail_token_requests(
        self, status: int = 503, times: int = 1, retry_after: float | None = None
    ) -> None:
        """Answer the next `times` token requests with `status`, and a `Retry-After:
        retry_after` header when that is given. Defaults: 503, once, no header.

        Usage::

            >>> server.fail_token_requests(503, times=2, retry_after=1)
        """
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
        newest stub for a route wins; unstubbed API paths answer 200 with an echo.

        **Parameters:** **method**, **path**; **json** (a body as JSON, default None) or
        **body** (bytes or text, default empty); **status** (default 200); **headers** (default
        None: a Content-Type for JSON).

        Usage::

            >>> server.add("GET", "/services/mtm/v1/workspaces", json={"data": []})
        """
        content, all_headers = content_of(json, body, headers)
        with self._lock:
            self._stubs.insert(0, Stub(method.upper(), path, status, all_headers, content))

    def add_graphql(
        self,
        query_contains: str,
        *,
        data: Any = None,
        errors: list[Any] | None = None,
        status: int = 200,
    ) -> None:
        """Answer GraphQL queries that contain `query_contains` with `{"data":…, "errors":…}`.

        **Parameters:** **query_contains** (a piece of the query text), **data** (default
        None), **errors** (default None: no "errors" key), **status** (default 200).

        Usage::

            >>> server.add_graphql("allFactSheets", data={"allFactSheets": {"totalCount": 3}})
        """
        payload: dict[str, Any] = {"data": data}
        if errors is not None:
            payload["errors"] = errors
        content, headers = content_of(payload, b"", None)
        stub = Stub("POST", GRAPHQL_PATH, status, headers, content, query_contains)
        with self._lock:
            self._stubs.insert(0, stub)

    def issue_token(self, **claims: Any) -> str:
        """Mint a token this fake accepts, as if the token endpoint had issued it; `claims`
        override LeanIX's (None removes one): `server.issue_token(exp=None)`."""
        now = self.now()
        merged = leanix_claims(
            self.base_url, exp=now + self.token_ttl, workspace_id=self.workspace_id
        )
        merged.update(claims)
        claims = {key: value for key, value in merged.items() if value is not None}
        token = sign(claims)
        with self._lock:  # a token without exp is good for ever, as far as this fake goes
            self._issued[token] = float(claims.get("exp", math.inf))
        return token

    # The application

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> FakeResponse:
        """Answer one request (`method`, `headers` and `body` as sent). `target` is the path with
        its query, or a whole URL, as sent: it is recorded so, and routed with repeated slashes
        folded, as LeanIX's gateway does."""
        request, path = self._record(method, target, headers, body)
        if path == TOKEN_PATH:
            return self._token_endpoint(request)
        return self._api(request, path)

    def screen(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> FakeResponse | None:
        """For a request (`method`, `target`, `headers`, `body`, as for `handle`) that a stub of
        the user's own mock would answer: the fake's answer if LeanIX would not let it through
        (the token endpoint, always the fake's; a missing or bad bearer), else None, and the
        user's stub answers. It is recorded either way."""
        request, path = self._record(method, target, headers, body)
        if path == TOKEN_PATH:
            return self._token_endpoint(request)
        return self._refusal(request)

    def _record(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[RecordedRequest, str]:
        sent = path_and_query(target)
        path = _REPEATED_SLASHES.sub("/", sent.partition("?")[0])
        recorded = RecordedRequest(method.upper(), sent, CaseInsensitiveDict(headers), body)
        with self._lock:
            (self.token_requests if path == TOKEN_PATH else self.api_requests).append(recorded)
        return recorded, path

    def _token_endpoint(self, request: RecordedRequest) -> FakeResponse:
        if self.token_delay:
            time.sleep(self.token_delay)  # time spent, not time reckoned: the real clock's
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
            return self._oauth(405, {"error": "method_not_allowed"})
        if basic_token(request.headers.get("Authorization", "")) != self.api_token:
            return self._oauth(
                401, {"error": "unauthorized", "error_description": "Bad credentials"}
            )
        # Spring reads the grant from the query string or the form body: LeanIX's own SDKs send
        # it in the query, with no body at all.
        query = parse_qs(request.path.partition("?")[2])
        grant = (query.get("grant_type") or request.form().get("grant_type") or [""])[0]
        if grant != "client_credentials":
            return self._oauth(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": f"Unsupported grant type: {grant}",
                },
            )
        token = self.issue_token()
        return self._oauth(
            200,
            {
                "scope": "",
                "expired": False,
                "access_token": token,
                "token_type": "bearer",
                "expires_in": max(int(self.token_ttl) - 1, 0),
            },
        )

    def _oauth(self, status: int, payload: Any) -> FakeResponse:
        """An answer of the token endpoint: never to be cached (RFC 6749, section 5.1)."""
        return self._json(status, payload, _OAUTH_HEADERS)

    def _api(self, request: RecordedRequest, path: str) -> FakeResponse:
        stub = self._find_stub(request, path)
        if stub is None and not _API_PATH.match(path):
            return self._not_found(request)  # no such route: before any credential check
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        if stub is not None:
            return FakeResponse(stub.status, {**stub.headers, "Date": self._date()}, stub.body)
        if self.strict:
            return self._not_found(request)
        echo = {
            "method": request.method,
            "path": request.path,
            "body": request.body.decode("utf-8", "replace"),
        }
        return self._json(200, echo)

    def _refusal(self, request: RecordedRequest) -> FakeResponse | None:
        """LeanIX's 401 for a request without a valid, unexpired token this fake issued."""
        token = request.bearer
        with self._lock:
            exp = self._issued.get(token) if token else None
        if exp is not None and exp > self.now():
            return None
        challenge = 'Bearer error="invalid_token"' if token else "Bearer"  # RFC 6750
        return self._json(
            401,
            {"status": "ERROR", "errors": [{"message": "Unauthorized"}]},
            {"WWW-Authenticate": challenge},
        )

    def _not_found(self, request: RecordedRequest) -> FakeResponse:
        with self._lock:
            self.unmatched_requests.append(request)
        message = f"No route or stub for {request.method} {request.path}"
        return self._json(404, {"status": "ERROR", "errors": [{"message": message}]})

    def _find_stub(self, request: RecordedRequest, path: str) -> Stub | None:
        query = None
        with self._lock:
            stubs = list(self._stubs)
        for stub in stubs:
            if stub.method != request.method or stub.path != path:
                continue
            if stub.query_contains is None:
                return stub
            if query is None:
                query = graphql_query(request.body)
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
