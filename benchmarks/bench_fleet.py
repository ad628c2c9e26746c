"""The fleet: cold processes started at once, with and without a shared FileCache."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from harness import Table, tempfile_dir

from leanix_auth.testing import LeanIXServer

FLEET_WORKER = """
import sys
from leanix_auth import FileCache, LeanIXAuth
cache = FileCache(sys.argv[1]) if len(sys.argv) > 1 else None
LeanIXAuth(cache=cache).get_token()
"""


def fleet() -> Table:
    rows = []
    for label, shared in [("no shared cache", False), ("FileCache on one directory", True)]:
        with LeanIXServer() as server, tempfile_dir() as directory:
            server.token_delay = 0.2
            env = {
                **os.environ,
                "LEANIX_BASE_URL": server.base_url,
                "LEANIX_API_TOKEN": server.api_token,
            }
            args = [sys.executable, "-c", FLEET_WORKER, *([directory] if shared else [])]
            started = time.perf_counter()
            processes = [subprocess.Popen(args, env=env) for _ in range(16)]
            failed = sum(p.wait(timeout=60) != 0 for p in processes)
            took = time.perf_counter() - started
            rows.append([label, str(len(server.token_requests)), str(failed), f"{took:.1f} s"])
    return (
        "The fleet: 16 cold processes started at once, token endpoint takes 200 ms",
        ["cache", "token exchanges", "failed", "wall time"],
        rows,
    )
