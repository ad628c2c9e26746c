"""What the README and the CHANGELOG say of the package stays true: links that work on a package
index's page, the test count, the versions the extras ask for, the version released last."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import metadata
from pathlib import Path

import leanix_auth
from leanix_auth import pytest_plugin

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
CHANGELOG = (ROOT / "CHANGELOG.md").read_text()
# What pyproject.toml says, as the installed package's metadata has it (make reinstalls on a
# change of pyproject.toml); tomllib is not in Python 3.10.
METADATA = metadata("leanix-auth")


def test_the_readme_links_only_to_absolute_addresses() -> None:
    # A package index shows the README without the repository: a relative link or an anchor of
    # a heading leads nowhere there. The project has no public address yet: name files in text.
    targets = re.findall(r"\]\(([^)]*)\)", README)
    assert [t for t in targets if not t.startswith("https://")] == []


def test_the_readme_counts_the_tests_within_a_tenth() -> None:
    [quoted] = re.findall(r"about (\d+) tests", README)
    run = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly"]
    out = subprocess.run(run, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    [counted] = re.findall(r"^(\d+) tests? collected", out, re.MULTILINE)
    assert abs(int(counted) - int(quoted)) <= int(quoted) / 10, f"{counted} tests now"


def minimum(package: str, extra: str) -> str:
    """The lowest version of `package` that `extra` allows."""
    [found] = [
        match.group(1)
        for requirement in METADATA.get_all("Requires-Dist") or []
        if (
            match := re.fullmatch(
                rf"{re.escape(package)}>=([\w.]+); extra == '{extra}'", requirement
            )
        )
    ]
    return found


def test_the_versions_the_readme_asks_for_are_those_the_extras_ask_for() -> None:
    assert f"`httpx_mock` ({minimum('pytest-httpx', 'dev')} or newer)" in README
    assert f"(aiohttp {minimum('aiohttp', 'aiohttp')} or newer)" in README
    assert f"(3.{METADATA['Requires-Python'].removeprefix('>=3.')} or newer)" in README
    assert '"leanix-auth[otel]"' in README
    assert minimum("opentelemetry-api", "otel") == minimum("opentelemetry-api", "dev")


def test_the_version_is_the_one_the_changelog_released_last() -> None:
    sections = re.findall(r"^## \[([^]]+)\](?: - (\d{4}-\d\d-\d\d))?$", CHANGELOG, re.MULTILINE)
    assert sections[0] == ("Unreleased", "")
    version, date = sections[1]
    assert version == leanix_auth.__version__
    assert date  # a released version has its day


def test_the_changelog_names_every_fixture_as_public_api() -> None:
    public = CHANGELOG.split("## What is public API")[1].split("\n## ")[0]
    fixtures = [
        name
        for name, value in vars(pytest_plugin).items()
        if hasattr(value, "_fixture_function") or hasattr(value, "_pytestfixturefunction")
    ]
    assert len(fixtures) >= 7
    assert [name for name in fixtures if f"`{name}`" not in public] == []
