"""The token logic, shared by every adapter and free of I/O.

Four pieces, in this order below:

* `exchange()` is a generator that describes one token exchange with its retries: it yields an
  `ExchangeRequest` (send it, send back a `Reply` or a `Failure`) or a `Sleep`, and returns an
  `AccessToken`. Adapters drive it with whatever HTTP client they wrap, like httpx drives an auth
  flow, so the retry and parsing rules exist once.
* `parse_token_response()` reads the endpoint's answer and works out when the token expires, on
  the server's clock (the client's wall clock may be hours off) carried over to our monotonic one.
* `TokenKeeper` decides, per request, whether to use the token in hand, refresh it ahead of
  expiry (one caller, while the others go on with the valid token), wait for an exchange already
  under way, or exchange now. Its lock guards only its own fields and is never held across I/O.
  `obtain()` turns its plan into effects (`Wait`, `Background`) for the adapters to carry out.
* `TokenCache` and `shared_exchange()`: the same rules across processes and machines, with the
  cache's I/O yielded as `CacheCall` effects so that async adapters can run it off the loop.
"""

from __future__ import annotations

import copy
import enum
import json
import logging
import math
import os
import random
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Protocol

from ._config import Settings, is_loopback, origin_of
from ._errors import LeanIXAuthError, LeanIXConfigError, LeanIXCredentialsError, LeanIXTokenError

logger = logging.getLogger("leanix_auth")

Clock = Callable[[], float]

ATTEMPTS = 4  # one try and three retries of a 429, a 5xx or a failed connection
MAX_RETRY_AFTER = 20.0  # seconds we honour of a Retry-After before giving up on that attempt
FAILED_REFRESH_BACKOFF = (1.0, 60.0)  # first and longest pause after a failed refresh ahead
_HEADER_SAFE = frozenset(chr(c) for c in range(0x21, 0x7F))


@dataclass(frozen=True, eq=False)
class AccessToken:
    """An access token and the moments, on the monotonic clock, that matter for it."""

    value: str = field(repr=False)
    expires_at: float
    refresh_at: float
    mandatory_at: float
    lifetime: float
    claims: Mapping[str, Any] = field(repr=False)
    instance_origin: str | None
    authorization: str = field(repr=False)  # "Bearer …", built once rather than per request


@dataclass(frozen=True)
class ExchangeRequest:
    url: str
    headers: Mapping[str, str] = field(repr=False)
    body: bytes
    timeout: float


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]  # keys in lower case
    body: bytes = field(repr=False)


@dataclass(frozen=True)
class Failure:
    """The endpoint did not answer. `retryable` is False for a read timeout: the endpoint may be
    working on it, and a second request would only queue behind the first."""

    description: str
    retryable: bool


@dataclass(frozen=True)
class Sleep:
    seconds: float


ExchangeFlow = Generator[ExchangeRequest | Sleep, Reply | Failure | None, AccessToken]


@dataclass(frozen=True)
class Wait:
    """Wait until exchange `ticket` ends; send back its error, or None if it succeeded."""

    ticket: int


@dataclass(frozen=True)
class Background:
    """Run `flow` without holding up this caller if you can (a thread); else run it here."""

    flow: TokenFlow


@dataclass(frozen=True)
class CacheCall:
    """Call `call` (blocking I/O on a shared token cache) and send back what it returns. Async
    adapters run it in a worker thread, so a cache never blocks an event loop."""

    call: Callable[[], Any]


Effect = ExchangeRequest | Sleep | Wait | Background | CacheCall
TokenFlow = Generator[Effect, Any, AccessToken]


def exchange(settings: Settings, clock: Clock = time.monotonic) -> ExchangeFlow:
    request = ExchangeRequest(
        url=settings.token_url,
        headers={
            "Authorization": settings.basic_credentials,
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
            # One exchange an hour gains nothing from keep-alive; an idle pooled socket costs.
            "Connection": "close",
        },
        body=b"grant_type=client_credentials",
        timeout=settings.timeout,
    )
    for attempt in range(1, ATTEMPTS + 1):
        sent_at = clock()
        answer = yield request
        if isinstance(answer, Reply) and answer.status == 200:
            return parse_token_response(answer, sent_at, settings)
        error, delay = _judge(answer, attempt, settings)
        if delay is None or attempt == ATTEMPTS:
            raise error
        logger.info("LeanIX token exchange failed, retrying in %.1f s: %s", delay, error)
        yield Sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _judge(
    answer: Reply | Failure | None, attempt: int, settings: Settings
) -> tuple[LeanIXTokenError, float | None]:
    """The error this answer means, and how long to wait before retrying (None: do not retry)."""
    url = settings.token_url
    if not isinstance(answer, Reply):
        if answer is None:
            return LeanIXTokenError(f"token exchange with {url} was interrupted"), None
        text = f"LeanIX token endpoint {url} could not be reached: {answer.description}"
        return LeanIXTokenError(text), _backoff(attempt) if answer.retryable else None
    status = answer.status
    detail = _describe(answer, settings)
    if status in (400, 401):
        text = (
            f"LeanIX rejected the API token (HTTP {status} from {url}{detail}); check "
            "LEANIX_API_TOKEN and that the Technical User still exists in this workspace"
        )
        return LeanIXCredentialsError(text, status=status), None
    if 300 <= status < 400:
        where = _safe_origin(answer.headers.get("location", ""))
        text = (
            f"LeanIX token endpoint {url} redirected (HTTP {status}) to {where}; leanix-auth "
            "does not follow redirects with the API token: set token_url to the final address"
        )
        return LeanIXTokenError(text, status=status), None
    text = f"LeanIX token endpoint {url} answered HTTP {status}{detail}"
    error = LeanIXTokenError(text, status=status)
    if status == 429 or status >= 500:
        retry_after = _retry_after(answer.headers.get("retry-after"))
        return error, _backoff(attempt) if retry_after is None else retry_after
    return error, None


def _backoff(attempt: int) -> float:
    # Jitter keeps a fleet of clients that failed together from retrying together.
    return 0.25 * 2.0 ** (attempt - 1) * random.uniform(0.5, 1.0)


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _describe(reply: Reply, settings: Settings) -> str:
    """LeanIX's own explanation from an error body, if it has one, made safe to print."""
    try:
        body = json.loads(reply.body)
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    words = [body.get(key) for key in ("error", "error_description", "message")]
    text = ": ".join(w for w in words if isinstance(w, str) and w)[:300]
    text = text.replace(settings.api_token, "***")
    text = "".join(c if c.isprintable() else "?" for c in text)
    return f": {text}" if text else ""


def _safe_origin(url: str) -> str:
    try:
        return origin_of(url) if url else "an unnamed location"
    except LeanIXConfigError:
        return "an unparseable location"


def parse_token_response(reply: Reply, sent_at: float, settings: Settings) -> AccessToken:
    """Read a 200 from the token endpoint. `sent_at` is the monotonic time the request left."""
    url = settings.token_url
    try:
        body = json.loads(reply.body)
    except ValueError:
        raise LeanIXTokenError(
            f"LeanIX token endpoint {url} answered 200 but not with JSON "
            f"({len(reply.body)} bytes, content-type {reply.headers.get('content-type')!r})",
            status=200,
        ) from None
    value = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(value, str) or not value:
        raise LeanIXTokenError(
            f"LeanIX token endpoint {url} answered 200 without a string 'access_token'",
            status=200,
        )
    if not _HEADER_SAFE.issuperset(value):
        raise LeanIXTokenError(
            f"LeanIX token endpoint {url} returned an access token with characters that cannot "
            "go into an HTTP header",
            status=200,
        )
    claims = _claims(value)
    lifetime = _server_lifetime(claims, body, reply.headers)
    if lifetime is None:
        raise LeanIXTokenError(
            f"LeanIX token endpoint {url} returned a token whose lifetime is unknown: it is not a "
            "JWT with a numeric 'exp' claim and the answer has no numeric 'expires_in'",
            status=200,
        )
    if lifetime < 1:  # exp has whole seconds: under one means expired, or as good as
        raise LeanIXTokenError(
            f"LeanIX token endpoint {url} returned an access token that has already expired "
            f"(its life on the endpoint's clock: {lifetime:.0f} s)",
            status=200,
        )
    # exp and Date have whole-second resolution: count the lifetime a second short.
    lifetime -= min(1.0, lifetime / 2)
    return _token(value, claims, lifetime, sent_at + lifetime, settings)


def _token(
    value: str, claims: Mapping[str, Any], lifetime: float, expires_at: float, settings: Settings
) -> AccessToken:
    return AccessToken(
        value=value,
        expires_at=expires_at,
        refresh_at=expires_at - settings.refresh_lead(lifetime),
        mandatory_at=expires_at - settings.mandatory_lead(lifetime),
        lifetime=lifetime,
        claims=claims,
        instance_origin=_instance_origin(claims),
        authorization="Bearer " + value,
    )


def _claims(value: str) -> dict[str, Any]:
    import jwt  # deferred: PyJWT is needed only once a token arrives

    try:
        claims = jwt.decode(value, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return claims if isinstance(claims, dict) else {}


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int beyond any float: no real expiry
        return None
    return number if math.isfinite(number) else None


def _server_lifetime(
    claims: Mapping[str, Any], body: Mapping[str, Any], headers: Mapping[str, str]
) -> float | None:
    """Seconds the token has left, measured on the server's clock where we can."""
    exp = _number(claims.get("exp"))
    if exp is None:
        return _number(body.get("expires_in"))
    issued = _number(claims.get("iat"))
    if issued is None:
        issued = _http_date(headers.get("date"))
    if issued is None:
        issued = time.time()  # no server clock to read: our own is all there is
    return exp - issued


def _http_date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _instance_origin(claims: Mapping[str, Any]) -> str | None:
    url = claims.get("instanceUrl")
    if not isinstance(url, str):
        return None
    try:
        origin = origin_of(url)
    except LeanIXConfigError:
        return None
    scheme, _, host = origin.partition("://")
    if scheme == "https" or (scheme == "http" and is_loopback(host.rsplit(":", 1)[0])):
        return origin
    return None


class Audience:
    """The origins that may receive the bearer: the configured one, and the token's instanceUrl."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.prefix = origin + "/"

    def admits(self, url: str, token: AccessToken | None) -> bool:
        if url.startswith(self.prefix):
            return True  # the common case, without parsing the URL
        try:
            origin = origin_of(url)
        except LeanIXConfigError:
            return False
        return origin == self.origin or (token is not None and origin == token.instance_origin)


class Action(enum.Enum):
    USE = "use the token in hand"
    REFRESH = "use the token in hand and refresh it: this caller was chosen to"
    EXCHANGE = "exchange now and wait for it: this caller was chosen to"
    WAIT = "wait for the exchange under way"


@dataclass(frozen=True)
class Plan:
    action: Action
    token: AccessToken | None
    ticket: int = 0  # with WAIT: the exchange to wait for


Waiter = Callable[[LeanIXAuthError | None], None]


class TokenKeeper:
    """Holds the current token and decides who exchanges, for any number of threads or tasks."""

    _all: ClassVar[weakref.WeakSet[TokenKeeper]] = weakref.WeakSet()

    def __init__(self, clock: Clock = time.monotonic) -> None:
        TokenKeeper._all.add(self)
        self.clock = clock
        self.current: AccessToken | None = None  # read without the lock: one attribute load
        self._lock = threading.Lock()
        self._in_flight = False
        self._ticket = 0
        self._waiters: list[Waiter] = []
        self._last_error: LeanIXAuthError | None = None
        self._retry_at = 0.0
        self._failures = 0
        self.refused: deque[str] = deque(maxlen=4)  # tokens the API answered 401: never again

    def fresh_token(self) -> AccessToken | None:
        """The token, if it is before its refresh point: the lock-free path of every request."""
        token = self.current
        if token is not None and self.clock() < token.refresh_at:
            return token
        return None

    def valid_token(self) -> AccessToken | None:
        token = self.current
        if token is not None and self.clock() < token.expires_at:
            return token
        return None

    def plan(self) -> Plan:
        token = self.fresh_token()
        if token is not None:
            return Plan(Action.USE, token)
        with self._lock:
            now = self.clock()
            token = self.current
            if token is not None and now >= token.expires_at:
                token = self.current = None
            if token is not None and now < token.refresh_at:
                return Plan(Action.USE, token)
            if self._in_flight:
                if token is not None and now < token.mandatory_at:
                    return Plan(Action.USE, token)
                return Plan(Action.WAIT, token, self._ticket)
            if token is not None and now < self._retry_at:
                return Plan(Action.USE, token)  # a refresh failed lately: back off, token is good
            self._in_flight = True
            if token is not None and now < token.mandatory_at:
                return Plan(Action.REFRESH, token)
            return Plan(Action.EXCHANGE, token)

    def wait(self, ticket: int, waiter: Waiter) -> None:
        """Call `waiter` when exchange `ticket` ends (at once if it has), with its error if any."""
        with self._lock:
            if ticket == self._ticket and self._in_flight:
                self._waiters.append(waiter)
                return
            error = self._last_error
        waiter(error)

    def store(self, token: AccessToken) -> None:
        with self._lock:
            self.current = token
            self._failures = 0
            self._retry_at = 0.0
            waiters = self._finish(None)
        for waiter in waiters:
            waiter(None)
        logger.debug("LeanIX access token stored, valid for %.0f s", token.lifetime)

    def failed(self, error: LeanIXAuthError) -> AccessToken | None:
        """Record a failed exchange. Returns the token still worth using, if there is one."""
        with self._lock:
            self._failures += 1
            low, high = FAILED_REFRESH_BACKOFF
            self._retry_at = self.clock() + min(low * 2 ** (self._failures - 1), high)
            waiters = self._finish(error)
        for waiter in waiters:
            waiter(error)
        token = self.valid_token()
        if token is not None:
            logger.warning(
                "LeanIX token refresh failed; the current token stays in use for %.0f s more: %s",
                token.expires_at - self.clock(),
                error,
            )
        return token

    def _finish(self, error: LeanIXAuthError | None) -> list[Waiter]:
        self._in_flight = False
        self._ticket += 1
        self._last_error = error
        waiters, self._waiters = self._waiters, []
        return waiters

    def discard(self, authorization: str) -> None:
        """Forget the token sent as `authorization` after the API refused it, unless another
        caller has replaced it already: one revocation, one exchange."""
        with self._lock:
            self.refused.append(authorization.removeprefix("Bearer "))
            if self.current is not None and self.current.authorization == authorization:
                self.current = None

    def _reset_after_fork(self) -> None:
        # In a forked child no exchange of the parent's is running, and the lock may be held by
        # a thread that does not exist here: start clean, keeping the token.
        self._lock = threading.Lock()
        self._in_flight = False
        self._waiters = []

    @classmethod
    def _reset_all_after_fork(cls) -> None:
        for keeper in list(cls._all):
            keeper._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=TokenKeeper._reset_all_after_fork)


def obtain(keeper: TokenKeeper, settings: Settings, cache: TokenCache | None = None) -> TokenFlow:
    """A token for one request: the one in hand, or one this caller or another exchanges."""
    while True:
        plan = keeper.plan()
        if plan.action is Action.USE and plan.token is not None:
            return plan.token
        if plan.action is Action.REFRESH and plan.token is not None:
            flow = settle(keeper, settings, cache, ahead=True)
            detached = yield Background(flow)
            if detached:
                return plan.token
            return (yield from flow)
        if plan.action is Action.EXCHANGE:
            return (yield from settle(keeper, settings, cache, ahead=False))
        error = yield Wait(plan.ticket)
        if error is not None:
            token = keeper.valid_token()
            if token is None:
                raise copy_error(error)
            return token


def settle(
    keeper: TokenKeeper, settings: Settings, cache: TokenCache | None = None, *, ahead: bool = False
) -> TokenFlow:
    """Run the exchange this caller was chosen for, and tell the keeper how it went."""
    try:
        if cache is None:
            token = yield from exchange(settings, keeper.clock)
        else:
            token = yield from shared_exchange(keeper, settings, cache, ahead=ahead)
    except LeanIXAuthError as error:
        fallback = keeper.failed(error)
        if fallback is None:
            raise
        return fallback
    except BaseException:
        # Cancelled, interrupted or closed mid-exchange: waiters must not wait forever.
        keeper.failed(LeanIXTokenError(f"token exchange with {settings.token_url} was cancelled"))
        raise
    keeper.store(token)
    return token


def copy_error(error: LeanIXAuthError) -> LeanIXAuthError:
    """A fresh copy to raise in one more thread, so tracebacks do not pile onto one instance."""
    clone = copy.copy(error)
    clone.__traceback__ = None
    return clone


# Shared caches: one token for many processes and machines


@dataclass(frozen=True)
class SharedToken:
    """A token as a cache holds it. `remaining` is counted by the cache's own clock (Redis's TTL,
    or one machine's clock for files), so no reader trusts its own wall clock across machines."""

    value: str = field(repr=False)
    lifetime: float
    remaining: float


class CacheLock(Protocol):
    def acquire(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the lock; False if another holder kept it."""

    def release(self) -> None: ...


class TokenCache(Protocol):
    """Where processes share tokens. Keys are derived from the token URL and a hash of the API
    token (`Settings.cache_key`), never the token itself."""

    def load(self, key: str) -> SharedToken | None: ...

    def store(self, key: str, token: SharedToken) -> None: ...

    def discard(self, key: str, value: str) -> None:
        """Forget the token for `key` if it is still `value` (a newer one stays)."""

    def lock(self, key: str, ttl: float) -> CacheLock:
        """A lock for single flight across processes; it lapses after `ttl` seconds if its holder
        dies without releasing it."""


def exchange_budget(settings: Settings) -> float:
    """How long one exchange may take, retries included: how long others wait for it."""
    return settings.timeout * ATTEMPTS + 2.0


def shared_exchange(
    keeper: TokenKeeper, settings: Settings, cache: TokenCache, *, ahead: bool
) -> TokenFlow:
    """An exchange for everyone who shares `cache`: take a token another process stored if it
    will do; else take the lock, look again, and only then exchange and store."""
    key = settings.cache_key
    token = yield from _adopt(keeper, settings, cache, ahead=ahead)
    if token is not None:
        return token
    budget = exchange_budget(settings)
    lock: CacheLock | None = yield CacheCall(_guarded(lambda: cache.lock(key, budget), None))
    held = False
    if lock is not None:
        held = bool((yield CacheCall(_guarded(lambda: lock.acquire(budget), False))))
    try:
        token = (yield from _adopt(keeper, settings, cache, ahead=ahead)) if held else None
        if token is None:
            token = yield from exchange(settings, keeper.clock)
            shared = SharedToken(token.value, token.lifetime, token.expires_at - keeper.clock())
            yield CacheCall(_guarded(lambda: cache.store(key, shared), None))
    except BaseException:
        if lock is not None and held:  # we may be closing and unable to yield: release here
            _guarded(lock.release, None)()
        raise
    if lock is not None and held:
        yield CacheCall(_guarded(lock.release, None))
    return token


def _adopt(
    keeper: TokenKeeper, settings: Settings, cache: TokenCache, *, ahead: bool
) -> Generator[Effect, Any, AccessToken | None]:
    """The cache's token, if it is good enough: before its refresh window when we are refreshing
    ahead, before its mandatory window when we have none, and never one the API refused."""
    shared = yield CacheCall(_guarded(lambda: cache.load(settings.cache_key), None))
    if not isinstance(shared, SharedToken) or shared.value in keeper.refused:
        return None
    now = keeper.clock()
    token = _token(
        shared.value, _claims(shared.value), shared.lifetime, now + shared.remaining, settings
    )
    if now < (token.refresh_at if ahead else token.mandatory_at):
        return token
    return None


def refused(
    keeper: TokenKeeper, cache: TokenCache | None, settings: Settings, token: str
) -> TokenFlow:
    """The API answered 401 to `token` ("Bearer …"): forget it here and, if it is still the shared
    one, in the cache."""
    keeper.discard(token)
    value = token.removeprefix("Bearer ")
    if cache is not None:
        yield CacheCall(_guarded(lambda: cache.discard(settings.cache_key, value), None))
    return (yield from obtain(keeper, settings, cache))


def _guarded(call: Callable[[], Any], fallback: Any) -> Callable[[], Any]:
    """`call`, but a broken cache only costs a warning: the integration goes on without it."""

    def run() -> Any:
        try:
            return call()
        except Exception as error:
            logger.warning(
                "token cache unavailable, going on without it: %s: %s",
                type(error).__name__,
                str(error)[:200],
            )
            return fallback

    return run
