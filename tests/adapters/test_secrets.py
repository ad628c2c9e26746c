"""The API token and access tokens never appear in logs, reprs or errors, on any path."""

from __future__ import annotations

import base64
import dataclasses
import logging
import socket
from collections import deque
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType
from urllib.parse import quote, quote_plus

import pytest

from leanix_auth import LeanIXAuth, LeanIXAuthError, LeanIXHttpxAuth, MemoryCache, SharedToken
from leanix_auth.testing import HandClock, LeanIXServer

from ..clients import Callers

TESTS = str(Path(__file__).parents[1])


def secrets_of(server: LeanIXServer) -> list[str]:
    """The API token and every access token, each also as the 40-character prefix a log might
    cut it to."""
    whole = [server.api_token, *server.issued_tokens]
    return whole + [s[:40] for s in whole if len(s) > 40]


def assert_nothing_secret(texts: list[str], server: LeanIXServer) -> None:
    for secret in secrets_of(server):
        for text in texts:
            assert secret not in text


def test_no_secret_in_logs_reprs_or_errors_on_any_path(
    kind: str,
    leanix_server: LeanIXServer,
    make_caller: Callers,
    all_logs: list[logging.LogRecord],
    clock: HandClock,
) -> None:
    leanix_server.token_ttl = 5
    call, auth = make_caller(kind, leanix_server)
    texts = [repr(auth), str(auth)]
    assert call(leanix_server.base_url + "/services/a/v1") == 200  # a good exchange
    leanix_server.revoke_tokens()
    assert call(leanix_server.base_url + "/services/a/v1") == 200  # a 401 and a retry
    leanix_server.fail_token_requests(503, times=1)
    clock.advance(3.1)  # into the refresh window
    assert (
        call(leanix_server.base_url + "/services/a/v1") == 200
    )  # a refresh ahead, failed once, retried
    leanix_server.add("POST", "/services/mtm/v1/oauth2/token", body=leanix_server.api_token)
    leanix_server.revoke_tokens()
    with pytest.raises(LeanIXAuthError) as broken:  # a 200 that is not JSON but is a secret
        call(leanix_server.base_url + "/services/a/v1")
    wrong, _ = make_caller(kind, leanix_server, api_token="wrong-" + leanix_server.api_token)
    with pytest.raises(LeanIXAuthError) as refused:
        wrong(leanix_server.base_url + "/services/a/v1")
    texts += [repr(broken.value), str(broken.value), repr(refused.value), str(refused.value)]
    texts += [record.getMessage() for record in all_logs]
    texts += [repr(record.args) for record in all_logs]
    assert any("leanix_auth" in r.name for r in all_logs)  # our own logging ran
    assert_nothing_secret(texts, leanix_server)


def test_settings_and_tokens_keep_secrets_out_of_repr(leanix_server: LeanIXServer) -> None:
    auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url)
    auth.get_token()
    texts = [repr(vars(auth)), repr(auth._settings), repr(auth._keeper.valid_token())]
    assert_nothing_secret(texts, leanix_server)


@pytest.mark.parametrize("offset", [280, 295, 299])
def test_an_echoed_api_token_is_redacted_before_the_message_is_cut(
    offset: int, leanix_server: LeanIXServer
) -> None:
    token = leanix_server.api_token
    basic = base64.b64encode(f"apitoken:{token}".encode()).decode()
    description = "x" * offset + token + " and as sent: " + basic
    leanix_server.add(
        "POST",
        "/services/mtm/v1/oauth2/token",
        status=401,
        json={"error": "unauthorized", "error_description": description},
    )
    with pytest.raises(LeanIXAuthError) as caught:
        LeanIXAuth(token, base_url=leanix_server.base_url).get_token()
    text = str(caught.value)
    for secret in (token, basic):
        for size in (8, 12, 20):
            assert secret[:size] not in text  # not even the head of it, where the cut fell


@pytest.mark.parametrize("auth_class", [LeanIXAuth, LeanIXHttpxAuth])
def test_the_repr_of_a_half_built_auth_object_never_raises(
    auth_class: type[LeanIXAuth],
) -> None:
    half_built = auth_class.__new__(auth_class)
    assert repr(half_built) == f"{auth_class.__name__}(not configured)"


def shown_by_a_crash_reporter(value: object, depth: int = 0) -> Iterator[str]:
    """What Sentry, rich tracebacks or `pytest -l` show of a frame's local: strings and bytes as
    they are, containers walked, a dataclass's shown fields walked, anything else by repr."""
    if depth > 6:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, bytes | bytearray):
        yield bytes(value).decode("latin-1")
    elif isinstance(value, Mapping):
        for key, item in list(value.items()):
            yield from shown_by_a_crash_reporter(key, depth + 1)
            yield from shown_by_a_crash_reporter(item, depth + 1)
    elif isinstance(value, list | tuple | set | frozenset | deque):
        for item in list(value):
            yield from shown_by_a_crash_reporter(item, depth + 1)
    else:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            for field in dataclasses.fields(value):
                if field.repr:
                    yield from shown_by_a_crash_reporter(getattr(value, field.name), depth + 1)
        yield repr(value)
        yield str(value)


def frames_of(error: BaseException) -> Iterator[FrameType]:
    """Every frame of the traceback, and of the exceptions it was raised from or during."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        exc = pending.pop()
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        tb = exc.__traceback__
        while tb is not None:
            yield tb.tb_frame
            tb = tb.tb_next
        pending += [exc.__cause__, exc.__context__]


def failing_exchanges() -> list[str]:
    return ["refused", "not json", "retry later", "unreachable", "forbidden"]


@pytest.mark.parametrize("cached", [False, True], ids=["no cache", "memory cache"])
@pytest.mark.parametrize("failure", failing_exchanges())
def test_no_frame_of_a_failed_exchange_holds_the_api_token_as_a_plain_string(
    kind: str,
    failure: str,
    cached: bool,
    leanix_server: LeanIXServer,
    clock: HandClock,
    make_caller: Callers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api_token = leanix_server.api_token
    basic = base64.b64encode(f"apitoken:{api_token}".encode()).decode()
    monkeypatch.setenv("LEANIX_API_TOKEN", api_token)
    base_url = leanix_server.base_url
    path = "/services/mtm/v1/oauth2/token"
    if failure == "refused":
        leanix_server.rotate_api_token()
    elif failure == "not json":
        leanix_server.add("POST", path, body=b"<html>")
    elif failure == "retry later":
        leanix_server.fail_token_requests(503, times=1, retry_after=3600)
    elif failure == "forbidden":
        leanix_server.fail_token_requests(403, times=1)
    else:
        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            base_url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    call, _ = make_caller(
        kind,
        leanix_server,
        api_token=None,
        base_url=base_url,
        cache=MemoryCache() if cached else None,
    )
    with pytest.raises(LeanIXAuthError) as caught:
        call(base_url + "/services/a/v1")
    frames = [f for f in frames_of(caught.value) if not f.f_code.co_filename.startswith(TESTS)]
    assert any(f.f_code.co_name == "exchange" for f in frames)
    for frame in frames:
        for name, value in frame.f_locals.items():
            for text in shown_by_a_crash_reporter(value):
                where = f"{frame.f_code.co_name}: {name}"
                assert api_token not in text, where
                assert basic not in text, where


ODD_TOKEN = "leanix+Api/Token=Value~" + "k9" * 12  # characters that URL-encoding changes


def echoed_forms() -> dict[str, dict[str, str]]:
    basic = base64.b64encode(f"apitoken:{ODD_TOKEN}".encode()).decode()
    plain = base64.b64encode(ODD_TOKEN.encode()).decode()
    return {
        "url-encoded": {"error_description": f"bad token {quote(ODD_TOKEN, safe='')}"},
        "form-encoded": {"error_description": f"token={quote_plus(ODD_TOKEN)}"},
        "unpadded base64": {"error_description": "sent " + basic.rstrip("=")},
        "lowercased base64": {"error_description": "sent basic " + basic.lower()},
        "urlsafe base64": {
            "error_description": base64.urlsafe_b64encode(ODD_TOKEN.encode()).decode()
        },
        "base64 of the token": {"error_description": plain.rstrip("=")},
        "lowercased": {"message": ODD_TOKEN.lower()},
        "split across fields": {"error": ODD_TOKEN[:20], "error_description": ODD_TOKEN[20:]},
        "basic split across fields": {"error": basic[:16], "message": basic[16:]},
    }


@pytest.mark.parametrize("form", list(echoed_forms()))
@pytest.mark.parametrize("status", [401, 403])
def test_an_error_body_that_echoes_the_api_token_in_any_form_is_withheld(
    form: str, status: int, leanix_server: LeanIXServer
) -> None:
    body = echoed_forms()[form]
    leanix_server.add("POST", "/services/mtm/v1/oauth2/token", status=status, json=body)
    with pytest.raises(LeanIXAuthError) as caught:
        LeanIXAuth(ODD_TOKEN, base_url=leanix_server.base_url).get_token()
    text = str(caught.value)
    assert "body withheld: it quotes the API token" in text
    for value in body.values():
        assert value[:8] not in text


def test_an_error_body_without_the_api_token_is_quoted(leanix_server: LeanIXServer) -> None:
    body = {"error": "invalid_client", "error_description": "Bad credentials (see the docs)"}
    leanix_server.add("POST", "/services/mtm/v1/oauth2/token", status=401, json=body)
    with pytest.raises(LeanIXAuthError, match=r"invalid_client: Bad credentials \(see the docs\)"):
        LeanIXAuth(ODD_TOKEN, base_url=leanix_server.base_url).get_token()


class EchoingCache(MemoryCache):
    """A custom cache whose store fails, quoting what it could not store."""

    def store(self, key: str, token: SharedToken) -> None:
        raise OSError(f"disk full, could not write {token.value}")


def test_a_cache_error_that_quotes_the_access_token_is_logged_without_it(
    leanix_server: LeanIXServer, all_logs: list[logging.LogRecord]
) -> None:
    cache = EchoingCache()
    auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url, cache=cache)
    value = auth.get_token()
    said = [r.getMessage() for r in all_logs if "token cache unavailable" in r.getMessage()]
    assert said == [
        "token cache unavailable, going on without it until it answers again: OSError: its "
        "message withheld: it quotes the access token"
    ]
    assert all(value not in r.getMessage() for r in all_logs)
