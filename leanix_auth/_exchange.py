"""One token exchange, as the wire protocol defines it: no state, no I/O.

`exchange()` is a generator that describes one exchange with its retries: it yields an
`ExchangeRequest` (send it, send back a `Reply` or a `Failure`) or a `Sleep`, and returns an
`AccessToken`. Adapters drive it with whatever HTTP client they wrap, like httpx drives an auth
flow, so the retry and parsing rules exist once. `parse_token_response()` reads the endpoint's
answer and works out when the token expires, on the server's clock (the client's wall clock may
be hours off) carried over to our monotonic one.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import random
from collections.abc import Generator, Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote_plus

from ._clock import SYSTEM_CLOCK, Clock
from ._config import MAX_LIFETIME, Settings, is_loopback, origin_of
from ._effects import (
    ATTEMPT_LIMIT,
    AccessToken,
    BlockingCall,
    ExchangeFlow,
    ExchangeRequest,
    Failure,
    Reply,
    Sleep,
)
from ._errors import LeanIXConfigError, LeanIXCredentialsError, LeanIXTokenError
from ._observe import ExchangeEvent, Reason, observed
from ._token_source import Secret, basic_credentials

logger = logging.getLogger("leanix_auth")

ATTEMPTS = 4  # one try and three retries of a 429, a 5xx or a failed connection
MAX_RETRY_AFTER = 20.0  # the longest Retry-After we wait for; a longer one ends the exchange
MAX_TOKEN_RESPONSE = 1 << 20  # bytes of an answer we read; a token answer is about 2 KB
HEADER_SAFE = frozenset(chr(c) for c in range(0x21, 0x7F))


def exchange_budget(settings: Settings) -> float:
    """How long one exchange may take, retries and their pauses included: `exchange()` keeps
    within it, so it is how long others wait for an exchange and how long a shared lock lives."""
    return settings.timeout * ATTEMPT_LIMIT * ATTEMPTS + 2.0


def read_api_token(settings: Settings) -> Generator[BlockingCall, Any, Secret]:
    """The API token now: the given value, or what its source (a file, a callable) holds, read
    off the event loop."""
    if settings.source.value is not None:
        return settings.source.value
    # Within one attempt's timeout: the rest of the exchange's budget is the exchange's, and
    # callers waiting for it give up when the budget ends.
    api_token: Secret = yield BlockingCall(lambda: settings.source(within=settings.timeout))
    return api_token


def exchange_rotating(
    settings: Settings,
    clock: Clock,
    api_token: Secret,
    reason: Reason = "first",
    seen: list[ExchangeEvent] | None = None,
) -> Generator[ExchangeRequest | Sleep | BlockingCall, Any, tuple[AccessToken, Secret]]:
    """`exchange()` for `reason`, and if LeanIX rejects the API token while its source now holds
    another (rotated in a file or a secrets manager), one more with that: no error, no restart.
    Returns the token and the API token that got it; notes each exchange's event in `seen`."""
    seen = [] if seen is None else seen
    ahead = reason in ("ahead", "forced")  # said in the log line
    flow = exchange(settings, clock, api_token, ahead=ahead)
    try:
        return (yield from observed(flow, reason, settings, clock, seen)), api_token
    except LeanIXCredentialsError:
        if settings.source.value is not None:
            raise  # a fixed value: nothing new to read
        fresh = yield from read_api_token(settings)
        if fresh.reveal() == api_token.reveal():
            raise
        logger.info("LeanIX rejected the API token; %s holds a new one", settings.source.name)
        flow = exchange(settings, clock, fresh, ahead=ahead)
        return (yield from observed(flow, "rotated", settings, clock, seen)), fresh


def exchange(
    settings: Settings, clock: Clock, api_token: Secret, *, ahead: bool = False
) -> ExchangeFlow:
    """One exchange with its retries. `ahead`: a refresh ahead of expiry (said in the log)."""
    request = ExchangeRequest(
        url=settings.token_url,
        headers={
            "Authorization": basic_credentials(api_token).reveal(),
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
            # One exchange an hour gains nothing from keep-alive; an idle pooled socket costs.
            "Connection": "close",
        },
        body=b"grant_type=client_credentials",
        timeout=settings.timeout,
    )
    started = clock.monotonic()
    budget = exchange_budget(settings)
    for attempt in range(1, ATTEMPTS + 1):
        sent_at = clock.monotonic()
        answer = yield request
        if isinstance(answer, Reply) and answer.status == 200:
            token = parse_token_response(answer, sent_at, settings, clock)
            logger.info(
                "LeanIX access token from %s, valid for %.0f s%s",
                _safe_origin(settings.token_url),
                token.lifetime,
                " (a refresh ahead of expiry)" if ahead else "",
            )
            return token
        error, delay = _judge(answer, attempt, settings, api_token, clock)
        if delay is None or attempt == ATTEMPTS:
            raise error
        # Pauses count against the one budget: after this one, a whole attempt must still fit.
        left = budget - (clock.monotonic() - started) - request.limit
        asked = isinstance(answer, Reply) and "retry-after" in answer.headers
        if delay > left and not asked:
            raise error  # no time left for another attempt: what went wrong is the answer
        if delay > min(left, MAX_RETRY_AFTER):
            raise LeanIXTokenError(
                f"{error}; LeanIX asked to be called again in {delay:.0f} s, later than this "
                f"exchange may take ({budget:g} s in all)",
                status=error.status,
            )
        logger.info("LeanIX token exchange failed, retrying in %.1f s: %s", delay, error)
        yield Sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _judge(
    answer: Reply | Failure | None,
    attempt: int,
    settings: Settings,
    api_token: Secret,
    clock: Clock,
) -> tuple[LeanIXTokenError, float | None]:
    """The error this answer means, and how long to wait before retrying (None: do not retry)."""
    url = settings.token_url
    if not isinstance(answer, Reply):
        if answer is None:
            return LeanIXTokenError(f"token exchange with {url} was interrupted"), None
        text = f"LeanIX token endpoint {url} could not be reached: {answer.description}"
        return LeanIXTokenError(text), _backoff(attempt) if answer.retryable else None
    status = answer.status
    detail = _describe(answer, api_token)
    if status in (400, 401):
        text = (
            f"LeanIX rejected the API token (HTTP {status} from {url}{detail}); check "
            f"{settings.source.name} and that the Technical User still exists in this workspace"
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
        retry_after = _retry_after(answer.headers.get("retry-after"), clock.wall())
        return error, _backoff(attempt) if retry_after is None else retry_after
    return error, None


def _backoff(attempt: int) -> float:
    # Jitter keeps a fleet of clients that failed together from retrying together.
    return 0.25 * 2.0 ** (attempt - 1) * random.uniform(0.5, 1.0)


def _retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After of either form (seconds, or an HTTP date)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        moment = _http_date(value)
        if moment is None:
            return None
        seconds = moment - now
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


def _http_date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _describe(reply: Reply, api_token: Secret) -> str:
    """LeanIX's own explanation from an error body, if it has one, made safe to print."""
    body = _json(reply.body)
    if not isinstance(body, dict):
        return ""
    words = [body.get(key) for key in ("error", "error_description", "message")]
    text = ": ".join(w for w in words if isinstance(w, str) and w)
    if text and _quotes(text, api_token):
        return ": body withheld: it quotes the API token"
    text = text[:300]
    text = "".join(c if c.isprintable() else "?" for c in text)
    return f": {text}" if text else ""


def _quotes(text: str, api_token: Secret) -> bool:
    """Does `text` hold the API token in a form an endpoint may echo it in: as sent, URL-encoded,
    in base64 (padded or not, in any case, the Basic credentials or the token alone), or split
    across fields? Redacting copies misses those, so a body that has one is withheld whole."""
    token = api_token.reveal()
    basic = basic_credentials(api_token).reveal().removeprefix("Basic ")
    forms = [token, basic, base64.b64encode(token.encode()).decode()]
    seen = {_letters_and_digits(text), _letters_and_digits(unquote_plus(text))}
    for form in forms:
        loose = _letters_and_digits(form)
        if len(loose) < 8:  # too short to look for loosely without finding it in every word
            if form in text:
                return True
        elif any(loose in haystack for haystack in seen):
            return True
    return False


def _letters_and_digits(text: str) -> str:
    # Without case, separators, padding or the characters that base64 variants disagree on.
    return "".join(c for c in text.lower() if c.isalnum())


def certificate_failure(exc: BaseException, remedy: str) -> Failure | None:
    """The Failure a transport error means if a certificate failed verification; None if not.
    Deterministic, so never retried: say how to trust a private CA instead."""
    import ssl  # deferred: loaded by then, as the client that raised `exc` has imported it

    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:  # the clients wrap it: in causes, contexts, args and urllib3's reason
        cause = pending.pop()
        if not isinstance(cause, BaseException) or id(cause) in seen:
            continue
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = str(cause)[:200]  # [SSL: CERTIFICATE_VERIFY_FAILED] and what failed
            return Failure(
                f"the TLS certificate of the token endpoint could not be verified ({reason}); "
                f"if a private CA signed it, {remedy}",
                retryable=False,
            )
        seen.add(id(cause))
        pending += [cause.__cause__, cause.__context__, getattr(cause, "reason", None)]
        pending += cause.args
    return None


def _safe_origin(url: str) -> str:
    try:
        return origin_of(url) if url else "an unnamed location"
    except LeanIXConfigError:
        return "an unparseable location"


def parse_token_response(
    reply: Reply, sent_at: float, settings: Settings, clock: Clock = SYSTEM_CLOCK
) -> AccessToken:
    """Read a 200 from the token endpoint. `sent_at` is the monotonic time the request left."""
    url = settings.token_url
    body = _json(reply.body)
    if body is _NOT_JSON:
        raise LeanIXTokenError(
            f"LeanIX token endpoint {url} answered 200 but not with JSON of at most "
            f"{MAX_TOKEN_RESPONSE} bytes ({len(reply.body)} bytes, content-type "
            f"{reply.headers.get('content-type')!r})",
            status=200,
        )
    value = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(value, str) or not value:
        raise LeanIXTokenError(
            f"LeanIX token endpoint {url} answered 200 without a string 'access_token'",
            status=200,
        )
    if not HEADER_SAFE.issuperset(value):
        raise LeanIXTokenError(
            f"LeanIX token endpoint {url} returned an access token with characters that cannot "
            "go into an HTTP header",
            status=200,
        )
    claims = claims_of(value)
    lifetime = _server_lifetime(claims, body, reply.headers, clock.wall())
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
    lifetime = min(lifetime, MAX_LIFETIME)  # whatever the claims say (an exp in milliseconds)
    # exp and Date have whole-second resolution: count the lifetime a second short.
    lifetime -= min(1.0, lifetime / 2)
    return access_token(value, claims, lifetime, sent_at + lifetime, settings)


_NOT_JSON = object()


def _json(body: bytes) -> Any:
    """The body's JSON, or _NOT_JSON: also for a body over the cap (never parsed) and for one
    nested so deep that the parser recurses out of stack."""
    if len(body) > MAX_TOKEN_RESPONSE:
        return _NOT_JSON
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return _NOT_JSON


def access_token(
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


def claims_of(value: str) -> dict[str, Any]:
    """The JWT's claims, unverified (we are its bearer, not its audience); {} if not a JWT."""
    import jwt  # deferred: PyJWT is needed only once a token arrives

    try:
        claims = jwt.decode(value, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return claims if isinstance(claims, dict) else {}


def _finite_or_none(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int beyond any float: no real expiry
        return None
    return number if math.isfinite(number) else None


def _server_lifetime(
    claims: Mapping[str, Any], body: Mapping[str, Any], headers: Mapping[str, str], wall: float
) -> float | None:
    """Seconds the token has, on the clock of whoever issued it: `exp - iat`; without `iat`
    (LeanIX sends none), `exp` against the answer's `Date`; without either, against our clock.

    The issuer's own clock decides, never the later of two clocks: an issuer whose clock runs
    behind its HTTP front would otherwise have every token refused as expired, an outage no
    retry heals. A token issued long ago that the API refuses anyway is healed by the resend
    on 401."""
    exp = _finite_or_none(claims.get("exp"))
    if exp is None:
        return _finite_or_none(body.get("expires_in"))
    for issued in (_finite_or_none(claims.get("iat")), _http_date(headers.get("date"))):
        if issued is not None:
            return exp - issued
    return exp - wall


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
