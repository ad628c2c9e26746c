"""`LeanIXAuth`: the adapter for requests. It moves bytes; the core (`_flows`, `_keeper`,
`_exchange`) decides."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from requests.cookies import extract_cookies_to_jar
from requests.hooks import default_hooks
from requests.utils import rewind_body

from . import _config
from ._adapter import AuthAdapter, checked_client
from ._config import DEFAULT_MANDATORY_MARGIN, DEFAULT_REFRESH_MARGIN, DEFAULT_TIMEOUT, Settings
from ._effects import AccessToken, ExchangeRequest, Failure, Reply, too_slow
from ._exchange import MAX_TOKEN_RESPONSE, certificate_failure
from ._flows import obtain, replace_refused
from ._observe import OnExchange
from ._shared import TokenCache
from ._watchdog import Watchdog, watch


def _no_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    # Passed as the exchange's auth so that a session whose .auth is a LeanIXAuth does not try
    # to put a bearer on its own token request (and so that netrc is not consulted).
    return request


class LeanIXAuth(AuthAdapter, AuthBase):
    """requests auth for SAP LeanIX.

    Exchanges the API token for an access token, reuses it while valid, refreshes it ahead of
    expiry in the background, and resends a request once if LeanIX answers 401. The bearer goes
    only to the workspace's origin (and the token's instanceUrl); other hosts see nothing.

    Usage::

        >>> session = requests.Session()
        >>> session.auth = LeanIXAuth(api_token, subdomain="acme")
    """

    def __init__(
        self,
        api_token: str | Callable[[], str] | None = None,
        *,
        subdomain: str | None = None,
        base_url: str | None = None,
        token_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        mandatory_margin: float = DEFAULT_MANDATORY_MARGIN,
        session: requests.Session | None = None,
        cache: TokenCache | None = None,
        extra_origins: Iterable[str] = (),
        on_exchange: OnExchange | None = None,
    ) -> None:
        """An auth for `session.auth` or `auth=`; one object serves every thread.

        **Parameters:**

        * **api_token** - the Technical User's API token, or a callable that returns it (read
          at each exchange, so a rotated secret is picked up: see `api_token_file`). Default
          None: `LEANIX_API_TOKEN`, else the file named by `LEANIX_API_TOKEN_FILE`.
        * **subdomain** - the workspace's subdomain: `"acme"` for `https://acme.leanix.net`.
        * **base_url** - the workspace's origin, for a host outside `*.leanix.net`; https, or
          http on loopback. Default None for both: `LEANIX_BASE_URL`, else `LEANIX_SUBDOMAIN`.
        * **token_url** - the token endpoint. Default: `base_url` +
          `/services/mtm/v1/oauth2/token`.
        * **timeout** - seconds an attempt of the exchange waits for each read; an attempt as
          a whole ends at 1.2 times that, however slowly an answer drips. Default 10.
        * **refresh_margin** - seconds before expiry that one caller refreshes while the others
          go on. Default 300 (at most a quarter of the token's life).
        * **mandatory_margin** - seconds before expiry that every caller waits for a new token.
          Default 30 (at most 5 % of its life).
        * **session** - the `requests.Session` that carries the exchange (a proxy, a client
          certificate, `verify`). Default None: a private session per exchange that honours
          the environment's proxies and CA bundle.
        * **cache** - a `TokenCache` (`MemoryCache()`, `FileCache()`, `RedisCache(...)`) to
          share one token between auth objects, processes or machines. Default None.
        * **extra_origins** - more origins that receive the bearer, such as
          `["https://eu-svc.leanix.net"]` for MTM on a regional service host; checked like
          `base_url`. Default: only the workspace's origin and the token's `instanceUrl`.
        * **on_exchange** - called with an `ExchangeEvent` after each exchange (why, outcome,
          duration; no secret), off the event loop; what it raises is logged. Default None.

        **Raises:** `LeanIXConfigError` (a `ValueError`) at once for any argument or environment
        variable that names no usable workspace, saying what to fix. Nothing is exchanged yet.
        """
        settings = _config.resolve(
            api_token,
            subdomain=subdomain,
            base_url=base_url,
            token_url=token_url,
            timeout=timeout,
            refresh_margin=refresh_margin,
            mandatory_margin=mandatory_margin,
            extra_origins=extra_origins,
            on_exchange=on_exchange,
        )
        self._session = checked_client(session, requests.Session, "session")
        self._hold(settings, cache)

    _configuration = (*AuthAdapter._configuration, "_session")

    def _hold(self, settings: Settings, cache: TokenCache | None) -> None:
        super()._hold(settings, cache)
        # Bound once, not per request: the hot path below reads them as plain attributes.
        self._prefix = self._scope.prefix
        self._clock = self._keeper.clock
        self._hook = self._retry_on_401

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Put the bearer on `request` if its origin may receive it (requests calls this)."""
        # Every request comes through here. The common case is one prefix test, one clock
        # read, one header and one hook: the same checks as `fresh_token`, written out.
        url = request.url or ""
        try:
            ours = url.startswith(self._prefix) or self._admits(url)
        except AttributeError:  # not a requests request: the wrong adapter (checked only now)
            raise _wrong_client(request) from None
        if ours:
            token = self._keeper.current
            if token is None or self._clock.monotonic() >= token.refresh_at:
                token = self._token()
            request.headers["Authorization"] = token.authorization
            request.hooks["response"].append(self._hook)
        return request

    def _token(self) -> AccessToken:
        token = self._keeper.fresh_token()
        if token is not None:
            return token
        return self._drive(obtain(self._keeper, self._settings, self._shared))

    def _retry_on_401(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        request = response.request
        sent = request.headers.get("Authorization")
        keeper = self._keeper
        if response.status_code != 401:
            if sent is not None and (keeper.probation is not None or keeper.cooling is not None):
                keeper.accepted(sent)
            return response
        if sent is None or not _rewind(request) or not keeper.heals(sent):
            return response
        # Drain first, so the connection goes back to the pool even if no new token can be had.
        response.content  # noqa: B018
        response.close()
        token = self._drive(replace_refused(self._keeper, self._settings, self._shared, sent))
        retry = request.copy()
        retry.headers["Authorization"] = token.authorization
        extract_cookies_to_jar(retry._cookies, request, response.raw)  # type: ignore[attr-defined,no-untyped-call]
        retry.prepare_cookies(retry._cookies)  # type: ignore[attr-defined]
        # The adapter's send runs no hooks, so the retried response is never retried again.
        second: requests.Response = response.connection.send(retry, **kwargs)
        second.history.append(response)
        second.request = retry
        self._judge_resend(second.status_code, token.authorization)
        return second

    def _send(self, request: ExchangeRequest) -> Reply | Failure:
        if self._session is not None:
            return _post(self._session, request)
        # A private session for one exchange an hour: nothing pooled, nothing left open. It still
        # honours the environment's proxies and CA bundle (trust_env).
        with requests.Session() as session:
            session.mount("http://", _WatchedAdapter())
            session.mount("https://", _WatchedAdapter())
            return _post(session, request)


def _post(session: requests.Session, request: ExchangeRequest) -> Reply | Failure:
    """One attempt, bounded as a whole: on the private session, the watchdog shuts its socket
    down at the limit, however slowly the answer drips."""
    with Watchdog(request.limit) as watchdog:
        answer = _attempt(session, request)
    return too_slow(request) if watchdog.fired else answer


def _attempt(session: requests.Session, request: ExchangeRequest) -> Reply | Failure:
    deadline = time.monotonic() + request.limit
    try:
        response = _post_without_hooks(session, request)
    except requests.exceptions.SSLError as exc:
        return certificate_failure(exc, _TRUST) or Failure(_reason(exc), retryable=True)
    except requests.exceptions.ConnectTimeout:
        return Failure(f"no connection within {request.timeout:g} s", retryable=True)
    except requests.exceptions.Timeout:
        return Failure(f"no answer within {request.timeout:g} s", retryable=False)
    except requests.exceptions.ConnectionError as exc:
        return Failure(_reason(exc), retryable=True)
    except requests.exceptions.RequestException as exc:
        return Failure(_reason(exc), retryable=False)
    with response:
        body = _read_body(response.raw, deadline, request)
    if isinstance(body, Failure):
        return body
    headers = {key.lower(): value for key, value in response.headers.items()}
    return Reply(response.status_code, headers, body)


class _WatchedConnection(urllib3.connection.HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        watch(sock)  # the attempt's watchdog may shut it down
        return sock


class _WatchedTLSConnection(_WatchedConnection, urllib3.connection.HTTPSConnection):
    pass


class _WatchedPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedConnection


class _WatchedTLSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedTLSConnection


class _WatchedAdapter(HTTPAdapter):
    """requests' own adapter, whose new connections show their sockets to the watchdog."""

    _pools: ClassVar[dict[str, type[urllib3.HTTPConnectionPool]]] = {
        "http": _WatchedPool,
        "https": _WatchedTLSPool,
    }

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pools

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> urllib3.ProxyManager:
        manager: urllib3.ProxyManager = super().proxy_manager_for(proxy, **kwargs)
        manager.pool_classes_by_scheme = self._pools
        return manager


def _post_without_hooks(session: requests.Session, request: ExchangeRequest) -> requests.Response:
    """POST through `session` (its adapters, proxies, certificates and cookies) but without its
    response hooks: a user's raise_for_status or rewriting hook must not change what the token
    endpoint's answer means."""
    prepared = session.prepare_request(
        requests.Request(
            "POST", request.url, data=request.body, headers=dict(request.headers), auth=_no_auth
        )
    )
    prepared.hooks = default_hooks()
    verify = _ca_from_environment(session)
    environment = session.merge_environment_settings(prepared.url, {}, True, verify, None)
    return session.send(prepared, timeout=request.timeout, allow_redirects=False, **environment)


def _read_body(raw: Any, deadline: float, request: ExchangeRequest) -> bytes | Failure:
    """The answer's body up to the cap, by the attempt's deadline. Once the status line has
    come, a break (a reset, bad chunking, a corrupt gzip, a stall) is worth another attempt."""
    read = getattr(raw, "read1", None) or raw.read  # read1: what has come, without waiting for more
    chunks: list[bytes] = []
    size = 0
    try:
        while size <= MAX_TOKEN_RESPONSE:
            if time.monotonic() > deadline:
                return too_slow(request)
            chunk = read(64 * 1024, decode_content=True)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except (
        requests.exceptions.RequestException,
        urllib3.exceptions.HTTPError,
        OSError,
        ValueError,
    ) as exc:
        return Failure(f"the answer broke off ({type(exc).__name__})", retryable=True)
    return b"".join(chunks)


def _wrong_client(request: object) -> TypeError:
    return TypeError(
        f"LeanIXAuth is the auth for requests; this is a {type(request).__module__}."
        f"{type(request).__qualname__}: for httpx use LeanIXHttpxAuth"
    )


def _rewind(request: requests.PreparedRequest) -> bool:
    """Make the body ready to send again; False if it cannot be (a generator, a pipe)."""
    body = request.body
    if body is None or isinstance(body, bytes | str):
        return True
    if getattr(request, "_body_position", None) is None:
        return False
    try:
        rewind_body(request)
    except requests.exceptions.UnrewindableBodyError:
        return False
    return True


_TRUST = (
    "pass session=requests.Session() with session.verify set to its CA bundle, or set "
    "REQUESTS_CA_BUNDLE or SSL_CERT_FILE to that bundle"
)


def _ca_from_environment(session: requests.Session) -> str | None:
    """SSL_CERT_FILE (or SSL_CERT_DIR), as httpx and OpenSSL honour them, for a session that
    trusts the environment and has no CA of its own; requests itself reads only
    REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE, which still come first. None: requests decides."""
    if not session.trust_env or session.verify is not True:
        return None
    if os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE"):
        return None
    return os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR") or None


def _reason(exc: BaseException) -> str:
    # urllib3 nests the useful part ("Connection refused") under several wrappers.
    while exc.args and isinstance(exc.args[0], BaseException):
        exc = exc.args[0]
    reason = getattr(exc, "reason", None)
    text = str(reason if reason is not None else exc) or type(exc).__name__
    return text[:200]
