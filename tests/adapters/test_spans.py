"""OpenTelemetry: each exchange is a span, the child of the span of the call that caused it (a
refresh ahead in a background thread included), with no secret in it; without
opentelemetry-api installed, no span and no error; and no import of it before an exchange."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from leanix_auth import LeanIXAuth, LeanIXTokenError, _observe
from leanix_auth._clock import HandClock
from leanix_auth.testing import LeanIXServer

from ..clients import Callers
from ..observing import Events

API = "/services/pathfinder/v1/x"


@pytest.fixture(scope="session")
def exporter() -> InMemorySpanExporter:
    """The SDK's in-memory exporter behind the process's tracer provider (which can be set only
    once a process)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


@pytest.fixture
def spans(exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    exporter.clear()
    yield exporter
    exporter.clear()


def exchanges(spans: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if s.name == _observe.SPAN_NAME]


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def test_each_exchange_is_a_span_under_the_call_that_caused_it(
    kind: str,
    leanix_server: LeanIXServer,
    make_caller: Callers,
    clock: HandClock,
    spans: InMemorySpanExporter,
) -> None:
    tracer = trace.get_tracer("a user's code")
    events = Events()
    call, _ = make_caller(kind, leanix_server, on_exchange=events)
    url = leanix_server.base_url + API
    with tracer.start_as_current_span("cold call") as cold:
        assert call(url) == 200
    clock.advance(3400)  # inside the last 300 s: requests and httpx.Client refresh in a thread
    with tracer.start_as_current_span("call in the refresh window") as warm:
        assert call(url) == 200
    events.wait(2)
    first, ahead = exchanges(spans)
    assert parent_of(first) == cold.get_span_context().span_id
    assert parent_of(ahead) == warm.get_span_context().span_id
    assert ahead.context is not None
    assert ahead.context.trace_id == warm.get_span_context().trace_id
    assert [s.attributes for s in (first, ahead)] == [
        {
            "leanix_auth.reason": reason,
            "leanix_auth.origin": leanix_server.base_url,
            "leanix_auth.outcome": "ok",
            "http.response.status_code": 200,
            "leanix_auth.lifetime": event.lifetime,
        }
        for reason, event in zip(["first", "ahead"], events.seen, strict=True)
    ]


def test_a_failed_exchange_is_an_error_span_that_names_the_class_only(
    leanix_server: LeanIXServer, clock: HandClock, spans: InMemorySpanExporter
) -> None:
    leanix_server.fail_token_requests(503, times=10)
    auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url)
    with pytest.raises(LeanIXTokenError):
        auth.get_token()
    [span] = exchanges(spans)
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "LeanIXTokenError"
    assert span.attributes is not None
    assert span.attributes["error.type"] == "LeanIXTokenError"
    assert span.attributes["http.response.status_code"] == 503
    assert span.parent is None  # no span of the caller's: a root of its own


def test_no_span_holds_a_secret(leanix_server: LeanIXServer, spans: InMemorySpanExporter) -> None:
    auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url)
    auth.get_token()
    auth.refresh()
    leanix_server.rotate_api_token()
    with pytest.raises(LeanIXTokenError):
        auth.refresh()
    exported = [s.to_json() for s in exchanges(spans)]
    assert len(exported) == 3
    for secret in [leanix_server.api_token, *leanix_server.issued_tokens]:
        assert not any(secret in text for text in exported)


def test_without_opentelemetry_an_exchange_makes_no_span_and_no_error(
    leanix_server: LeanIXServer, spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # import opentelemetry fails
    monkeypatch.setattr(_observe, "_tracer", _observe._UNSET)  # as in a fresh process
    auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url)
    assert auth.get_token() in leanix_server.issued_tokens
    assert exchanges(spans) == []


def test_opentelemetry_is_imported_at_the_first_exchange_not_before(
    leanix_server: LeanIXServer,
) -> None:
    code = (
        "import sys, leanix_auth;"
        f"auth = leanix_auth.LeanIXAuth({leanix_server.api_token!r}, "
        f"base_url={leanix_server.base_url!r});"
        "before = 'opentelemetry' in sys.modules;"
        "auth.get_token();"
        "print(before, 'opentelemetry' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
