"""LeanIXAiohttpMiddleware as a user meets it: the keywords, sources and errors of the other
adapters, `aget_token()` / `arefresh()`, pickles, no secret shown, and the aiohttp extra."""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from leanix_auth import (
    LeanIXAiohttpMiddleware,
    LeanIXAuthError,
    LeanIXConfigError,
    LeanIXCredentialsError,
    api_token_file,
)
from leanix_auth.testing import LeanIXServer

from .test_aiohttp import run_calls
from .test_secrets import assert_nothing_secret

API = "/services/a/v1"


def test_aget_token_reuses_and_arefresh_replaces(leanix_server: LeanIXServer) -> None:
    middleware = LeanIXAiohttpMiddleware(leanix_server.api_token, base_url=leanix_server.base_url)

    async def main() -> list[str]:
        return [
            await middleware.aget_token(),
            await middleware.aget_token(),
            await middleware.arefresh(),
        ]

    first, again, new = asyncio.run(main())
    assert first == again != new
    assert middleware.get_token() == new  # the blocking face shares the token in hand
    assert len(leanix_server.token_requests) == 2


def test_the_blocking_face_exchanges_even_inside_an_event_loop(leanix_server: LeanIXServer) -> None:
    middleware = LeanIXAiohttpMiddleware(leanix_server.api_token, base_url=leanix_server.base_url)

    async def main() -> str:
        return middleware.refresh()  # blocks this loop, as documented, but works

    assert asyncio.run(main()) in leanix_server.issued_tokens
    assert middleware.get_token() in leanix_server.issued_tokens


@pytest.mark.parametrize("source", ["str", "callable", "file", "LEANIX_API_TOKEN", "…_FILE"])
def test_every_api_token_source_and_the_environment(
    source: str, leanix_server: LeanIXServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "leanix-token"
    secret.write_text(leanix_server.api_token + "\n")
    monkeypatch.setenv("LEANIX_BASE_URL", leanix_server.base_url)
    given: dict[str, Callable[[], LeanIXAiohttpMiddleware]] = {
        "str": lambda: LeanIXAiohttpMiddleware(leanix_server.api_token),
        "callable": lambda: LeanIXAiohttpMiddleware(lambda: leanix_server.api_token),
        "file": lambda: LeanIXAiohttpMiddleware(api_token_file(secret)),
        "LEANIX_API_TOKEN": LeanIXAiohttpMiddleware,
        "…_FILE": LeanIXAiohttpMiddleware,
    }
    if source == "LEANIX_API_TOKEN":
        monkeypatch.setenv("LEANIX_API_TOKEN", leanix_server.api_token)
    if source == "…_FILE":
        monkeypatch.setenv("LEANIX_API_TOKEN_FILE", str(secret))
    middleware = given[source]()
    assert run_calls(middleware, [leanix_server.base_url + API]) == [200]


def test_the_same_errors_as_the_other_adapters(
    leanix_server: LeanIXServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("LEANIX_BASE_URL", "LEANIX_SUBDOMAIN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(LeanIXConfigError, match="no LeanIX workspace host"):
        LeanIXAiohttpMiddleware("t")
    with pytest.raises(LeanIXConfigError, match="timeout"):
        LeanIXAiohttpMiddleware("t", subdomain="acme", timeout=0)
    wrong = LeanIXAiohttpMiddleware("wrong", base_url=leanix_server.base_url)
    with pytest.raises(LeanIXCredentialsError, match="rejected the API token"):
        run_calls(wrong, [leanix_server.base_url + API])


def test_a_pickle_carries_no_access_token_and_works_after(leanix_server: LeanIXServer) -> None:
    middleware = LeanIXAiohttpMiddleware(leanix_server.api_token, base_url=leanix_server.base_url)
    token = asyncio.run(middleware.aget_token())
    data = pickle.dumps(middleware)
    assert token.encode() not in data
    clone = pickle.loads(data)
    assert run_calls(clone, [leanix_server.base_url + API]) == [200]
    assert len(leanix_server.token_requests) == 2


def test_no_secret_in_logs_reprs_or_errors(
    leanix_server: LeanIXServer, all_logs: list[logging.LogRecord]
) -> None:
    middleware = LeanIXAiohttpMiddleware(leanix_server.api_token, base_url=leanix_server.base_url)
    assert run_calls(middleware, [leanix_server.base_url + API]) == [200]
    leanix_server.revoke_tokens()
    assert run_calls(middleware, [leanix_server.base_url + API]) == [200]  # 401, resent
    wrong = LeanIXAiohttpMiddleware(
        "wrong-" + leanix_server.api_token, base_url=leanix_server.base_url
    )
    with pytest.raises(LeanIXAuthError) as refused:
        run_calls(wrong, [leanix_server.base_url + API])
    texts = [repr(middleware), str(middleware), repr(refused.value), str(refused.value)]
    texts += [record.getMessage() for record in all_logs] + [repr(r.args) for r in all_logs]
    assert_nothing_secret(texts, leanix_server)


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
    )


def test_without_aiohttp_using_it_is_an_import_error_naming_the_extra(tmp_path: Path) -> None:
    blocked = tmp_path / "aiohttp"  # stands for an install without the [aiohttp] extra
    blocked.mkdir()
    (blocked / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'aiohttp'\", name='aiohttp')\n"
    )
    code = (
        "import leanix_auth\n"
        "try:\n"
        "    from leanix_auth import LeanIXAiohttpMiddleware\n"
        "except ImportError as error:\n"
        "    print(type(error).__name__, error)\n"
    )
    out = run_python(code, PYTHONPATH=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ImportError LeanIXAiohttpMiddleware needs aiohttp")
    assert 'pip install "leanix-auth[aiohttp]"' in out.stdout


def test_importing_leanix_auth_does_not_import_aiohttp() -> None:
    out = run_python("import sys, leanix_auth; print('aiohttp' in sys.modules)")
    assert out.stdout.strip() == "False", out.stderr
