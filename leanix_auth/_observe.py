"""What is told of each token exchange: an `ExchangeEvent` for the `on_exchange=` callback, and an
OpenTelemetry span when `opentelemetry-api` is installed. Neither ever holds a secret.

`observed()` wraps one exchange (`_exchange.exchange`, retries included) and notes its event;
`tell()` hands the events to the callback as a `BlockingCall`, after the keeper has stored the
token and woken the callers waiting for it, so that the callback holds up nobody but the caller
that ran the exchange (a worker thread under async code; the refresh thread for a refresh ahead).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Literal

from ._clock import Clock
from ._config import Settings, origin_of
from ._effects import BlockingCall, ExchangeFlow
from ._errors import LeanIXAuthError, LeanIXTokenError

logger = logging.getLogger("leanix_auth")

Reason = Literal["first", "ahead", "expired", "refused", "rotated", "forced"]
SPAN_NAME = "leanix-auth token exchange"


@dataclass(frozen=True)
class ExchangeEvent:
    """One exchange of the API token for an access token, as `on_exchange=` receives it.

    Attributes:
        reason: why it ran: ``"first"`` (this auth object had no token yet), ``"ahead"`` (a
            refresh ahead of expiry), ``"expired"`` (the token expired, or is in its last
            seconds), ``"refused"`` (the API answered 401 to it), ``"rotated"`` (the API token's
            source holds a new token after LeanIX rejected the old one), ``"forced"``
            (``refresh()`` or ``arefresh()``).
        outcome: ``"ok"``, or the class name of the error it ended in, such as
            ``"LeanIXCredentialsError"``.
        status: the token endpoint's last HTTP status (200 when ok); None if it never answered.
        duration: seconds it took, retries and their pauses included.
        origin: the token endpoint's origin, such as ``"https://acme.leanix.net"``.
        lifetime: seconds the new token is trusted for; None when it failed.

    No field holds the API token or an access token. A token taken from a shared cache that
    another process stored is no exchange and makes no event.

    Example:
        >>> seen = []
        >>> auth = LeanIXAuth(api_token, subdomain="acme", on_exchange=seen.append)
    """

    reason: Reason
    outcome: str
    status: int | None
    duration: float
    origin: str
    lifetime: float | None

    @property
    def ok(self) -> bool:
        """Did the exchange get a token?"""
        return self.outcome == "ok"


OnExchange = Callable[[ExchangeEvent], object]


def observed(
    flow: ExchangeFlow, reason: Reason, settings: Settings, clock: Clock, seen: list[ExchangeEvent]
) -> ExchangeFlow:
    """`flow`, one exchange, with its span (if OpenTelemetry is installed) and its event noted
    in `seen`. An exchange abandoned mid-way (a cancelled task) ends its span and makes no
    event: nobody is left to count it for."""
    origin = origin_of(settings.token_url)
    span = _start_span(reason, origin)
    started = clock.monotonic()
    try:
        token = yield from flow
    except LeanIXAuthError as error:
        status = error.status if isinstance(error, LeanIXTokenError) else None
        event = ExchangeEvent(
            reason, type(error).__name__, status, clock.monotonic() - started, origin, None
        )
        seen.append(event)
        _end_span(span, event)
        raise
    except BaseException:
        _end_span(span, None)
        raise
    event = ExchangeEvent(reason, "ok", 200, clock.monotonic() - started, origin, token.lifetime)
    seen.append(event)
    _end_span(span, event)
    return token


def tell(
    on_exchange: OnExchange | None, seen: list[ExchangeEvent]
) -> Generator[BlockingCall, Any, None]:
    """Hand the events noted in `seen` to `on_exchange`, off the event loop."""
    if on_exchange is None or not seen:
        return
    events = tuple(seen)
    seen.clear()
    yield BlockingCall(lambda: _call_each(on_exchange, events))


def _call_each(on_exchange: OnExchange, events: tuple[ExchangeEvent, ...]) -> None:
    for event in events:
        try:
            on_exchange(event)
        except Exception:  # the user's code: logged, never a failed authentication
            logger.exception("the on_exchange callback raised; authentication goes on")


# OpenTelemetry, imported at the first exchange and only if installed: `import leanix_auth` and a
# cached CLI token never pay for it.
_UNSET: Any = object()
_tracer: Any = _UNSET


def _start_span(reason: Reason, origin: str) -> Any:
    """A span for this exchange, the child of the caller's current span; None without
    OpenTelemetry. Not made current: the flow yields, and its context must stay the caller's."""
    tracer = _get_tracer()
    if tracer is None:
        return None
    attributes = {"leanix_auth.reason": reason, "leanix_auth.origin": origin}
    return tracer.start_span(SPAN_NAME, attributes=attributes)


def _end_span(span: Any, event: ExchangeEvent | None) -> None:
    if span is None:
        return
    if event is None:
        span.set_attribute("leanix_auth.outcome", "abandoned")
    else:
        span.set_attributes(_attributes(event))
        if not event.ok:
            from opentelemetry.trace import Status, StatusCode

            # The class, never the message: a span is exported to whoever runs the collector.
            span.set_status(Status(StatusCode.ERROR, event.outcome))
    span.end()


def _attributes(event: ExchangeEvent) -> dict[str, str | int | float]:
    attributes: dict[str, str | int | float] = {"leanix_auth.outcome": event.outcome}
    if event.status is not None:
        attributes["http.response.status_code"] = event.status
    if event.lifetime is not None:
        attributes["leanix_auth.lifetime"] = event.lifetime
    if not event.ok:
        attributes["error.type"] = event.outcome
    return attributes


def _get_tracer() -> Any:
    global _tracer  # noqa: PLW0603 - looked up once per process
    if _tracer is _UNSET:
        try:
            from opentelemetry import trace
        except ImportError:
            _tracer = None
        else:
            from . import __version__

            _tracer = trace.get_tracer("leanix_auth", __version__)
    return _tracer
