"""What a live fake LeanIX costs a suite: N tests that each take one fixture, and the time pytest
spends in their setup and teardown, summed. Not one of `make bench`'s tables: run it by hand,

    .venv/bin/python benchmarks/fixture_cost.py [--tests 200] [--fixture leanix_server]

and compare fixtures (leanix_server, leanix_shared_server) or commits.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

TESTS = """
import pytest

@pytest.mark.parametrize("n", range({tests}))
def test_uses_the_fake(n, {fixture}):
    assert {fixture}.base_url
"""

# A plugin that adds up setup and teardown durations and prints the sum on the last line.
TIMING = """
total = 0.0

def pytest_runtest_logreport(report):
    global total
    if report.when in ("setup", "teardown"):
        total += report.duration

def pytest_unconfigure(config):
    print(f"\\nfixture time: {total:.3f} s")
"""


def measure(tests: int, fixture: str) -> float:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "test_many.py").write_text(TESTS.format(tests=tests, fixture=fixture))
        (root / "timing.py").write_text(TIMING)
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "timing", "-p", "no:cacheprovider"],
            cwd=root,
            env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        )
    last = result.stdout.strip().splitlines()[-1]
    return float(last.split()[-2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=200)
    parser.add_argument("--fixture", default="leanix_server")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    figures = [measure(args.tests, args.fixture) for _ in range(args.rounds)]
    print(
        f"{args.tests} tests with {args.fixture}: fixture time "
        + ", ".join(f"{f:.3f} s" for f in figures)
        + f" (best {min(figures):.3f} s, {min(figures) / args.tests * 1000:.2f} ms a test)"
    )


if __name__ == "__main__":
    main()
