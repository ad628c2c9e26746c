"""`make demo` must keep telling the truth: run it and read what it says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.py"


def test_the_demo_shows_each_behaviour() -> None:
    result = subprocess.run(
        [sys.executable, str(DEMO)], capture_output=True, text=True, timeout=120, check=True
    )
    lines = result.stdout.splitlines()
    assert "- 50 GraphQL calls, all 200, 42 fact sheets: 1 token exchange" in lines
    assert any("got 401, exchanged once more, resent, and returned 200" in line for line in lines)
    assert any("old token, refresh in the background" in line for line in lines)
    assert any("64 answers 200, 1 token exchange" in line for line in lines)
    assert "- 200 concurrent tasks: 200 answers 200, 1 token exchange" in lines
    assert result.stderr == ""
