"""What a user installs: the wheel and sdist carry the license text, the version is one."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import leanix_auth

ROOT = Path(__file__).resolve().parents[2]


def build(kind: str, into: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", kind, "-d", str(into)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    [built] = into.iterdir()
    return built


def test_the_wheel_ships_the_license_and_the_one_version(tmp_path: Path) -> None:
    wheel = build("wheel", tmp_path)
    assert wheel.name == f"leanix_auth-{leanix_auth.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = f"leanix_auth-{leanix_auth.__version__}.dist-info"
        metadata = archive.read(f"{info}/METADATA").decode()
        license_text = archive.read(f"{info}/licenses/LICENSE").decode()
    assert "MIT License" in license_text
    assert "leanix-auth contributors" in license_text
    assert "License-Expression: MIT" in metadata
    assert "License-File: LICENSE" in metadata
    assert f"Version: {leanix_auth.__version__}" in metadata
    for line in [
        "Author: leanix-auth contributors",
        "Keywords: access-token,auth,httpx,leanix,oauth2,pytest,requests,sap",
        "Classifier: Intended Audience :: Developers",
        "Classifier: Topic :: Internet :: WWW/HTTP",
        "Classifier: Framework :: Pytest",
    ]:
        assert line in metadata
    assert "Classifier: License" not in metadata  # PEP 639: the expression replaces it
    assert "leanix_auth/__main__.py" in names


def test_the_sdist_ships_the_license(tmp_path: Path) -> None:
    sdist = build("sdist", tmp_path)
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"LICENSE", "CHANGELOG.md", "pyproject.toml"} <= names
