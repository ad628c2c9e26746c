"""The shape of the package: no import circles, and a type checker's view that matches run time."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import leanix_auth

PACKAGE = Path(leanix_auth.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that `path` imports, those under TYPE_CHECKING and inside
    functions included."""
    name = _module_name(path)
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in modules else base)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return (found & modules) - {name}


def test_no_module_of_the_package_imports_itself_through_others() -> None:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {_module_name(path) for path in paths}
    graph = {_module_name(path): _imports(path, modules) for path in paths}

    def circle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        seen = set()
        while stack:
            node, trail = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    return [*trail, start]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*trail, nxt]))
        return None

    circles = [circle for name in graph if (circle := circle_from(name)) is not None]
    assert circles == []


def test_the_stub_names_what_the_package_exports() -> None:
    stub = ast.parse((PACKAGE / "__init__.pyi").read_text())
    named = {
        alias.asname or alias.name
        for node in stub.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert named == set(leanix_auth.__all__)
    for name in leanix_auth.__all__:
        assert getattr(leanix_auth, name) is not None


def test_mypy_catches_a_misspelt_name(tmp_path: Path) -> None:
    user = tmp_path / "user.py"
    user.write_text(
        "from leanix_auth import LeanIxAuth, LeanIXAuth\n"
        "auth = LeanIXAuth('t', subdomain='acme')\n"
        "auth.get_tokn()\n"
    )
    run = [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(user)]
    out = subprocess.run(run, capture_output=True, text=True, cwd=tmp_path, check=False)
    assert out.returncode == 1
    assert 'Module "leanix_auth" has no attribute "LeanIxAuth"' in out.stdout
    assert '"LeanIXAuth" has no attribute "get_tokn"' in out.stdout
