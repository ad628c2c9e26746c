"""Start-up: the wall time of whole processes, the cached `leanix-auth token` among them."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from harness import Table, served, tempfile_dir

import leanix_auth


def startup() -> Table:
    def wall(args: list[str], env: dict[str, str] | None = None, n: int = 10) -> float:
        times = []
        for _ in range(n):
            started = time.perf_counter()
            subprocess.run(args, check=True, capture_output=True, env=env)
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    py = sys.executable
    # As a pip install does: compiled once, so that no row pays for compiling our modules.
    subprocess.run(
        [py, "-m", "compileall", "-q", str(Path(leanix_auth.__file__).parent)], check=True
    )
    bare = wall([py, "-c", "pass"], n=20)
    baseline = wall([py, "-c", "import requests"])
    rows: list[tuple[str, float]] = [
        ("python -c 'pass'", bare),
        ("python -c 'import requests'", baseline),
        ("python -c 'import leanix_auth'", wall([py, "-c", "import leanix_auth"])),
        (
            "python -c 'from leanix_auth import LeanIXAuth'",
            wall([py, "-c", "from leanix_auth import LeanIXAuth"]),
        ),
    ]
    with served() as (base_url, api_token), tempfile_dir() as cache:
        env = {
            **os.environ,
            "LEANIX_BASE_URL": base_url,
            "LEANIX_API_TOKEN": api_token,
            "XDG_CACHE_HOME": cache,
        }
        exe = str(Path(sys.executable).with_name("leanix-auth"))
        subprocess.run([exe, "token"], check=True, capture_output=True, env=env)
        rows.append(("leanix-auth token (cached)", wall([exe, "token"], env=env, n=20)))
    return (
        "Start-up: wall time of a whole process, median of 10 (20 for the first and last)",
        ["command", "time", "÷ python -c 'pass'", "÷ import requests"],
        [
            [name, f"{value * 1000:.0f} ms", f"{value / bare:.2f}×", f"{value / baseline:.2f}×"]
            for name, value in rows
        ],
    )
