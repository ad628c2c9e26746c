"""Importing leanix_auth stays light: the HTTP clients and crypto load when used."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from leanix_auth.testing import LeanIXServer


def test_importing_leanix_auth_imports_no_http_client_and_no_crypto() -> None:
    code = (
        "import sys, leanix_auth;"
        "heavy = {'requests', 'httpx', 'aiohttp', 'anyio', 'jwt', 'cryptography', 'pytest'};"
        "heavy &= set(sys.modules);"
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_cached_cli_token_imports_only_what_reading_a_cache_file_needs(
    leanix_server: LeanIXServer, tmp_path: Path
) -> None:
    # Each of these costs a cached token more than reading the cache file does.
    heavy = "requests httpx aiohttp anyio urllib3 jwt cryptography redis valkey dataclasses "
    heavy += "logging tempfile opentelemetry"
    env = {
        **os.environ,
        "LEANIX_BASE_URL": leanix_server.base_url,
        "LEANIX_API_TOKEN": leanix_server.api_token,
        "XDG_CACHE_HOME": str(tmp_path),
        "HEAVY": heavy,
    }
    code = (
        "import os, sys;"
        "from leanix_auth._cli import main;"
        "main(['token']);"
        "print(sorted(set(sys.modules) & set(os.environ['HEAVY'].split())), file=sys.stderr)"
    )
    run = [sys.executable, "-c", code]
    miss = subprocess.run(run, env=env, capture_output=True, text=True, check=True)
    hit = subprocess.run(run, env=env, capture_output=True, text=True, check=True)
    assert miss.stdout.strip() in leanix_server.issued_tokens
    assert miss.stderr.strip() != "[]"  # a miss may import whatever it needs
    assert hit.stdout == miss.stdout
    assert hit.stderr.strip() == "[]"
