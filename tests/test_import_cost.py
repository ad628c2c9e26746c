"""Importing leanix_auth stays light: the HTTP clients and crypto load when used."""

from __future__ import annotations

import subprocess
import sys


def test_importing_leanix_auth_imports_no_http_client_and_no_crypto() -> None:
    code = (
        "import sys, leanix_auth;"
        "heavy = {'requests', 'httpx', 'jwt', 'cryptography', 'pytest'} & set(sys.modules);"
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
