"""Every Python block of the README runs as written, against the fake LeanIX, so that the
README cannot drift from the library. Blocks that define tests run under pytest, as a user's
suite would; the others run with `api_token`, `secret_path` (a file holding it) and the
environment of a workspace named acme. The secret stores the README names as examples (keyring,
boto3, hvac) are no dependency of ours: stand-ins take their place, and the callables that would
call them are built, never called, as an auth object is built."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from unittest.mock import MagicMock

import pytest

from leanix_auth.testing import LeanIXMock

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = [
    pytest.param(
        match.group(1), id=f"line-{README.read_text()[: match.start()].count(chr(10)) + 1}"
    )
    for match in re.finditer(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
]


def test_the_readme_has_python_blocks() -> None:
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("code", BLOCKS)
def test_a_readme_block_runs_as_written(
    code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if re.search(r"^def test_", code, re.MULTILINE):
        (tmp_path / "test_from_readme.py").write_text(code)
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
            capture_output=True,
            text=True,
            check=False,
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    for name in ("keyring", "boto3", "hvac"):
        monkeypatch.setitem(sys.modules, name, MagicMock(name=name))
    monkeypatch.delenv("LEANIX_BASE_URL", raising=False)
    with LeanIXMock(subdomain="acme") as mock:
        monkeypatch.setenv("LEANIX_API_TOKEN", mock.api_token)
        monkeypatch.setenv("LEANIX_SUBDOMAIN", "acme")
        secret_path = tmp_path / "leanix-api-token"
        secret_path.write_text(mock.api_token + "\n")
        names = {"api_token": mock.api_token, "secret_path": str(secret_path)}
        exec(compile(code, str(README), "exec"), names)  # raises if the block is wrong
