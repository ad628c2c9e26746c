"""Turn constructor arguments and the environment into validated `Settings`.

Everything here runs once, at construction, so that a typo fails at start-up with a message that
says what to fix, not an hour later inside a request.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import SplitResult, urlsplit

from ._errors import LeanIXConfigError
from ._token_source import ApiTokenSource, Secret, source_of

# What `on_exchange=` is: `_observe.OnExchange`, named loosely here, since `_observe` builds on
# this module (and imports dataclasses, which a cached CLI token must not pay for).
OnExchange = Callable[[Any], object]

TOKEN_PATH = "/services/mtm/v1/oauth2/token"
# The defaults, stated once for both adapters and the CLI (botocore's advisory and mandatory
# refresh windows): seconds per exchange attempt, and how long before expiry one caller starts a
# refresh while the others go on (advisory) and all callers wait for it (mandatory).
DEFAULT_TIMEOUT = 10.0
DEFAULT_REFRESH_MARGIN = 300.0
DEFAULT_MANDATORY_MARGIN = 30.0
# No access token is trusted for longer, whatever its claims say (an exp in milliseconds would make
# it years) or a cache file holds: LeanIX's own tokens live an hour.
MAX_LIFETIME = 86400.0

# How a caller names each setting in error messages: Python keywords here, flags in the CLI.
PYTHON_WORDS = {
    "api_token": "api_token or LEANIX_API_TOKEN",
    "api_token_hint": "pass api_token=... or set LEANIX_API_TOKEN or LEANIX_API_TOKEN_FILE",
    "host_hint": (
        "pass subdomain='acme' (for https://acme.leanix.net) or base_url=..., "
        "or set LEANIX_SUBDOMAIN or LEANIX_BASE_URL"
    ),
    "subdomain": "subdomain",
    "base_url": "base_url",
    "token_url": "token_url",
    "timeout": "timeout",
}
_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", re.IGNORECASE)
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?", re.IGNORECASE)
_DOTTED_NUMBERS = re.compile(r"[0-9.]+")
_DEFAULT_PORTS = {"https": 443, "http": 80}


class Settings:
    """What one auth object needs to know. The API token never shows in its repr."""

    def __init__(
        self,
        *,
        source: ApiTokenSource,
        base_url: str,
        token_url: str,
        origin: str,
        timeout: float,
        refresh_margin: float,
        mandatory_margin: float,
        extra_origins: tuple[str, ...] = (),
        on_exchange: OnExchange | None = None,
    ) -> None:
        self.source = source
        self.base_url = base_url
        self.token_url = token_url
        self.origin = origin
        self.timeout = timeout
        self.refresh_margin = refresh_margin
        self.mandatory_margin = mandatory_margin
        self.extra_origins = extra_origins  # more origins that may receive the bearer
        self.on_exchange = on_exchange

    def __repr__(self) -> str:
        return (
            f"Settings(token_url={self.token_url!r}, timeout={self.timeout!r}, "
            f"refresh_margin={self.refresh_margin!r}, mandatory_margin={self.mandatory_margin!r})"
        )

    def refresh_lead(self, lifetime: float) -> float:
        """Seconds before expiry that one caller starts a refresh: at most a quarter of life."""
        return min(self.refresh_margin, lifetime * 0.25)

    def mandatory_lead(self, lifetime: float) -> float:
        """Seconds before expiry that callers wait for a new token: at most 5 % of life."""
        return min(self.mandatory_margin, lifetime * 0.05)

    def cache_key(self, api_token: Secret) -> str:
        """Names this workspace and the API token in use in a shared cache, without revealing
        the token: processes that have rotated the token and those that have not never meet."""
        digest = hashlib.sha256(f"{self.token_url}\0{api_token.reveal()}".encode()).hexdigest()
        host = (urlsplit(self.token_url).hostname or "leanix").replace(":", "_")
        return f"{host}-{digest[:32]}"


def resolve(
    api_token: str | Callable[[], str] | None,
    *,
    subdomain: str | None,
    base_url: str | None,
    token_url: str | None,
    timeout: float,
    refresh_margin: float,
    mandatory_margin: float,
    extra_origins: Iterable[str] = (),
    on_exchange: OnExchange | None = None,
    environ: Mapping[str, str] | None = None,
    words: Mapping[str, str] = PYTHON_WORDS,
) -> Settings:
    env = os.environ if environ is None else environ
    source = source_of(api_token, env, words)
    base = _base_url(subdomain, base_url, env, words)
    origin = origin_of(base, what=words["base_url"])
    token_url = _url(token_url, words["token_url"]) if token_url is not None else base + TOKEN_PATH
    return Settings(
        source=source,
        base_url=base,
        token_url=token_url,
        origin=origin,
        timeout=_positive(timeout, words["timeout"]),
        refresh_margin=_non_negative(refresh_margin, "refresh_margin"),
        mandatory_margin=_non_negative(mandatory_margin, "mandatory_margin"),
        extra_origins=_extra_origins(extra_origins, "extra_origins"),
        on_exchange=_callback(on_exchange, "on_exchange"),
    )


def _extra_origins(value: object, what: str) -> tuple[str, ...]:
    """Origins checked as a base_url is (https, or http on loopback; no path, no query), each
    in the form `BearerScope` compares. One string is one origin."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Iterable):
        raise LeanIXConfigError(
            f"{what} must be a list of origins such as ['https://eu-svc.leanix.net'], "
            f"not {type(value).__name__}"
        )
    return tuple(origin_of(_origin_url(item, what, "an origin")) for item in items)


def _callback(value: object, what: str) -> OnExchange | None:
    if value is not None and not callable(value):
        raise LeanIXConfigError(
            f"{what} must be a callable that takes one ExchangeEvent, not {type(value).__name__}"
        )
    return value


def _base_url(
    subdomain: str | None, base_url: str | None, env: Mapping[str, str], words: Mapping[str, str]
) -> str:
    if subdomain is not None and base_url is not None:
        raise LeanIXConfigError(
            f"pass either {words['subdomain']} or {words['base_url']}, not both"
        )
    if subdomain is not None:
        return _from_subdomain(subdomain, words["subdomain"], words)
    if base_url is not None:
        return _origin_url(base_url, words["base_url"])
    if env.get("LEANIX_BASE_URL"):
        return _origin_url(env["LEANIX_BASE_URL"], "LEANIX_BASE_URL")
    if env.get("LEANIX_SUBDOMAIN"):
        return _from_subdomain(env["LEANIX_SUBDOMAIN"], "LEANIX_SUBDOMAIN", words)
    raise LeanIXConfigError(f"no LeanIX workspace host: {words['host_hint']}")


def _from_subdomain(value: object, what: str, words: Mapping[str, str]) -> str:
    if not isinstance(value, str) or not _DNS_LABEL.fullmatch(value):
        raise LeanIXConfigError(
            f"{what} must be one DNS label such as 'acme' (letters, digits, inner hyphens, at most "
            f"63 characters), got {_shown(value)}; for a full URL use {words['base_url']}"
        )
    return f"https://{value.lower()}.leanix.net"


def _shown(value: object) -> str:
    # A long value in the wrong place may be the API token pasted there: do not echo it.
    if isinstance(value, str) and len(value) > 24:
        return f"a {len(value)}-character value"
    return repr(value)


def _url(value: object, what: str) -> str:
    """Validate an https URL (http only on loopback) and return it without a trailing slash."""
    if not isinstance(value, str):
        raise LeanIXConfigError(f"{what} must be a str, not {type(value).__name__}")
    if not value or any(c.isspace() or not c.isprintable() for c in value):
        raise LeanIXConfigError(f"{what} must be a URL without spaces or control characters")
    parts = _split(value, what)
    if parts.scheme not in _DEFAULT_PORTS:
        raise LeanIXConfigError(f"{what} must start with https://")
    if "@" in parts.netloc:
        raise LeanIXConfigError(f"{what} must not carry a user name or password")
    if "?" in value or "#" in value:
        raise LeanIXConfigError(f"{what} must not have a query or fragment")
    problem = _host_problem(parts)
    if problem:  # found now, not as a parse error deep inside the HTTP client at the first request
        raise LeanIXConfigError(f"{what} has no valid host name: {problem}")
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        raise LeanIXConfigError(
            f"{what} must use https:// (plain http:// is allowed only for localhost)"
        )
    return value.rstrip("/")


def _origin_url(value: object, what: str, whose: str = "the workspace's origin") -> str:
    """An origin, such as the workspace's: a path (a workspace name pasted from the browser, an
    API's address) would put the token endpoint where LeanIX has none."""
    url = _url(value, what)
    path = urlsplit(url).path
    if path not in ("", "/"):
        raise LeanIXConfigError(
            f"{what} is {whose}, without a path: use {origin_of(url)!r} (the path belongs in "
            "the URLs you call)"
        )
    return url


def _split(value: str, what: str) -> SplitResult:
    # The parser's own messages quote the value, which may be a secret pasted in the wrong place.
    try:
        parts = urlsplit(value)
    except ValueError:
        raise LeanIXConfigError(
            f"{what} is not a valid URL: check the brackets and the characters of its host"
        ) from None
    try:
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise LeanIXConfigError(
            f"{what} is not a valid URL: its port must be a number from 0 to 65535"
        ) from None
    return parts


def _host_problem(parts: SplitResult) -> str:
    """Why HTTP clients could not connect to this URL's host, in words that never quote it; ""
    if they could. requests and httpx accept such hosts and fail only when they connect."""
    host = parts.hostname or ""
    if not host:
        return "there is none"
    if "[" in parts.netloc:
        return "" if _is_ip_address(host) else "the brackets hold no IPv6 address"
    name = host.removesuffix(".")  # a fully qualified name's final dot
    if len(name) > 253:
        return "it is longer than 253 characters"
    if _DOTTED_NUMBERS.fullmatch(name):
        return "" if _is_ip_address(name) else "it is not an IPv4 address"
    labels = name.split(".")
    for label in labels:
        if not label:
            return "it has an empty label (two dots in a row, or a dot at the start)"
        if len(label) > 63:
            return "it has a label longer than 63 characters"
        if not _LABEL.fullmatch(label):
            if label.startswith("-") or label.endswith("-"):
                return "it has a label that starts or ends with a hyphen"
            return "it has characters other than ASCII letters, digits, hyphens and dots"
    if any(label[:4].lower() == "xn--" for label in labels) and not _is_punycode(name):
        return "it has an xn-- label that is not valid punycode"
    return ""


def _is_ip_address(host: str) -> bool:
    import ipaddress  # deferred: workspace hosts are names

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_punycode(name: str) -> bool:
    import idna  # deferred: only for an internationalized name; httpx decodes it with idna too

    try:
        idna.decode(name)
    except (idna.IDNAError, UnicodeError):
        return False
    return True


def origin_of(url: str, *, what: str = "URL") -> str:
    """`scheme://host[:port]` in lower case, the port only when it is not the default."""
    parts = _split(url, what)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is None or port == _DEFAULT_PORTS.get(parts.scheme):
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


class BearerScope:
    """The origins that may receive the bearer: the configured one, `extra` (extra_origins=),
    and the token's instanceUrl."""

    def __init__(self, origin: str, extra: Iterable[str] = ()) -> None:
        self.origin = origin
        self.prefix = origin + "/"
        self.extra = frozenset(extra)
        self.told: set[str] = set()  # LeanIX origins already named in the log as left without

    def admits(self, url: str, instance_origin: str | None) -> bool:
        if url.startswith(self.prefix):
            return True  # the common case, without parsing the URL
        try:
            origin = origin_of(url)
        except LeanIXConfigError:
            return False
        if origin == self.origin or origin in self.extra or origin == instance_origin:
            return True
        if origin not in self.told and _is_leanix(origin):
            self.told.add(origin)
            self._tell(origin)
        return False

    def _tell(self, origin: str) -> None:
        """Once per origin: a call to another LeanIX host (MTM on eu-svc.leanix.net, say) left
        without the bearer, and will get a 401 that does not say why."""
        import logging  # deferred: a cached CLI token never gets here, and must not pay for it

        logging.getLogger("leanix_auth").info(
            "LeanIX request to %s sent without the access token: only %s and the token's "
            "instanceUrl receive it; to send it there too, pass extra_origins=[%r]",
            origin,
            self.origin,
            origin,
        )


def _is_leanix(origin: str) -> bool:
    host = origin.partition("://")[2].rsplit(":", 1)[0]
    return host == "leanix.net" or host.endswith(".leanix.net")


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or (host.startswith("127.") and host.replace(".", "").isdigit()):
        return True  # the common cases, without importing ipaddress (a cached CLI token counts)
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _positive(value: object, what: str) -> float:
    number = _seconds(value, what)
    if not 0 < number <= 3600:
        raise LeanIXConfigError(
            f"{what} must be a positive number of seconds, at most an hour, got {number:g}"
        )
    return number


def _non_negative(value: object, what: str) -> float:
    number = _seconds(value, what)
    if number < 0:
        raise LeanIXConfigError(f"{what} must be zero or more seconds, got {number:g}")
    return number


def _seconds(value: object, what: str) -> float:
    # Says the type, never the value: a str here may be the API token given to the wrong keyword.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LeanIXConfigError(
            f"{what} must be a finite number of seconds, got a {type(value).__name__}"
        )
    try:
        number = float(value)
    except OverflowError:  # an int beyond any float
        number = math.inf
    if not math.isfinite(number):
        raise LeanIXConfigError(f"{what} must be a finite number of seconds, got {number:g}")
    return number
