"""The effects the core yields and the adapters carry out: the whole vocabulary between them.

A core flow is a generator. It yields one of these, the adapter does what it says with its own
HTTP client, clock and threads, and sends back the answer named in each docstring. So the rules
live once, in plain code, and each adapter is a loop over this short list.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._errors import LeanIXAuthError


@dataclass(frozen=True, eq=False)
class AccessToken:
    """An access token and the moments, on the monotonic clock, that matter for it: what every
    flow returns."""

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
    """POST this to the token endpoint; send back a `Reply`, or a `Failure` if none came.
    `timeout` bounds each read; `limit` the attempt as a whole, a little longer, so that a read
    timeout ends a silent endpoint and `limit` one that drips its answer."""

    url: str
    headers: Mapping[str, str] = field(repr=False)
    body: bytes
    timeout: float

    @property
    def limit(self) -> float:
        return self.timeout * ATTEMPT_LIMIT


ATTEMPT_LIMIT = 1.2  # an attempt as a whole may take this many times its timeout


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


def too_slow(request: ExchangeRequest) -> Failure:
    """The answer came too slowly to be whole within the attempt's limit: worth another try."""
    return Failure(f"the answer was too slow: not whole within {request.limit:g} s", retryable=True)


@dataclass(frozen=True)
class Sleep:
    """Pause this caller for `seconds`; send back None."""

    seconds: float


Wake = Callable[[LeanIXAuthError | None], None]


@dataclass(frozen=True)
class Wait:
    """Wait until another caller's exchange ends: call `subscribe(wake)`, and `wake` is called,
    from any thread, with the exchange's error, or None if it succeeded or was abandoned (plan
    again). Send back what `wake` got, or a `TimeoutError` if it has not come after `timeout`
    seconds."""

    subscribe: Callable[[Wake], None]
    timeout: float
    thread: int | None = None  # the thread whose code runs that exchange, if it has started


@dataclass(frozen=True)
class Background:
    """Run `flow` without holding up this caller if you can (a thread) and send back True; if you
    cannot, send back False and the caller runs it itself."""

    flow: TokenFlow


@dataclass(frozen=True)
class BlockingCall:
    """Call `call` (blocking I/O: a shared token cache, the API token's source) and send back
    what it returns, or throw into the flow what it raised. Async adapters run it in a worker
    thread, so that it never blocks an event loop; if the caller is cancelled while the thread
    runs, the thread passes what `call` returned to `undo`."""

    call: Callable[[], Any]
    undo: Callable[[Any], object] | None = None


Effect = ExchangeRequest | Sleep | Wait | Background | BlockingCall
ExchangeFlow = Generator[ExchangeRequest | Sleep, Reply | Failure | None, AccessToken]
TokenFlow = Generator[Effect, Any, AccessToken]


def unknown(effect: object) -> TypeError:
    """What an adapter raises for an effect it does not know: a bug, never to be skipped."""
    return TypeError(f"leanix-auth: no adapter handles the effect {effect!r}")
