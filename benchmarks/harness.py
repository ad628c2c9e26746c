"""The shared harness of `make bench`: interleaved rounds, a fake LeanIX in its own process,
and the table writer."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


Table = tuple[str, list[str], list[list[str]]]


def rotated(items: dict[str, Any], by: int) -> list[tuple[str, Any]]:
    """The items in an order that shifts every round, so that going first favours none."""
    pairs = list(items.items())
    by %= len(pairs)
    return pairs[by:] + pairs[:by]


def best_rates(
    calls: dict[str, Callable[[], object]], rounds: int = 6, n: int = 300
) -> dict[str, float]:
    """Calls per second of each, best of interleaved rounds: load on the machine hits both."""
    best = dict.fromkeys(calls, 0.0)
    for call in calls.values():
        call()
    for round_ in range(rounds):
        for name, call in rotated(calls, round_):
            started = time.perf_counter()
            for _ in range(n):
                call()
            best[name] = max(best[name], n / (time.perf_counter() - started))
    return best


@contextmanager
def served(ttl: float = 3600) -> Iterator[tuple[str, str]]:
    """The fake LeanIX in its own process, so that client and server do not share one GIL."""
    exe = Path(sys.executable).with_name("leanix-auth")
    process = subprocess.Popen(
        [str(exe), "serve", "--ttl", str(ttl)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    base_url = process.stdout.readline().split()[-1]
    api_token = process.stdout.readline().removeprefix("api token: ").strip()
    try:
        yield base_url, api_token
    finally:
        process.terminate()
        process.communicate(timeout=10)


@contextmanager
def tempfile_dir() -> Iterator[str]:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        yield directory


def markdown(table: Table) -> str:
    title, header, rows = table
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
