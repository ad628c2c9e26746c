"""`leanix-auth token` with a cache it cannot use: a planted symlink, a read-only file system, a
full disk. Each costs one warning line; the token is printed all the same."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from leanix_auth.testing import HandClock, LeanIXServer

from .test_cli import run, user_env

POSIX = pytest.mark.skipif(os.name != "posix", reason="FileCache is POSIX only")


def token_env(server: LeanIXServer, tmp_path: Path) -> dict[str, str]:
    return user_env(tmp_path, LEANIX_BASE_URL=server.base_url, LEANIX_API_TOKEN=server.api_token)


def printed_with_one_warning(server: LeanIXServer, tmp_path: Path) -> str:
    """Runs `token`: it must print a token the server issued; returns its one warning line."""
    result = run("token", env=token_env(server, tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in server.issued_tokens
    [warning] = result.stderr.splitlines()
    assert warning.startswith("leanix-auth: warning: ")
    return warning


@POSIX
def test_a_cache_directory_planted_as_a_symlink_is_refused_and_its_target_untouched(
    leanix_server: LeanIXServer, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"  # a directory of the user's, readable by others
    victim.mkdir()
    victim.chmod(0o755)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "leanix-auth").symlink_to(victim)
    warning = printed_with_one_warning(leanix_server, tmp_path)
    assert "symbolic link" in warning
    assert victim.stat().st_mode & 0o777 == 0o755  # not chmodded
    assert list(victim.iterdir()) == []  # no token, no lock written there


def writes_fail_under(
    root: Path, code: int, monkeypatch: pytest.MonkeyPatch
) -> Callable[[], list[str]]:
    """Every change to the directories under `root` fails with `code`, as on a read-only file
    system (EROFS) or a full disk (ENOSPC); reading works. Returns what was refused."""
    ours = {(info.st_dev, info.st_ino) for info in map(os.stat, [root, *root.rglob("*")])}
    refused: list[str] = []

    def under(path: Any, dir_fd: int | None = None) -> bool:
        if dir_fd is not None:
            return (os.fstat(dir_fd).st_dev, os.fstat(dir_fd).st_ino) in ours
        return str(os.fspath(path)).startswith(str(root))

    def guarded(name: str, changes: Callable[..., bool]) -> None:
        real = getattr(os, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            if changes(*args, **kwargs):
                refused.append(name)
                raise OSError(code, os.strerror(code), str(args[0]))
            return real(*args, **kwargs)

        monkeypatch.setattr(os, name, call)

    writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT
    guarded("open", lambda p, flags, *_, dir_fd=None: flags & writing and under(p, dir_fd))
    guarded("mkdir", lambda p, *_, dir_fd=None: under(p, dir_fd))
    guarded("chmod", lambda p, *_, **__: under(p))
    guarded("fchmod", lambda fd, *_: (os.fstat(fd).st_dev, os.fstat(fd).st_ino) in ours)
    return lambda: refused


@POSIX
@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC, errno.EACCES])
def test_a_cache_directory_that_cannot_be_written_costs_one_warning(
    code: int, leanix_server: LeanIXServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "cache" / "leanix-auth"
    directory.mkdir(parents=True)
    directory.chmod(0o755)  # made by hand, as a read-only image may hold it
    refused = writes_fail_under(tmp_path / "cache", code, monkeypatch)
    warning = printed_with_one_warning(leanix_server, tmp_path)
    assert os.strerror(code) in warning
    assert refused()  # the cache was tried, and failed as a read-only one does
    assert list(directory.iterdir()) == []
    assert printed_with_one_warning(leanix_server, tmp_path)  # and so on each call
    assert len(leanix_server.token_requests) == 2


@POSIX
def test_a_refresh_that_cannot_be_stored_next_to_a_valid_token_is_no_error(
    leanix_server: LeanIXServer,
    tmp_path: Path,
    leanix_clock: HandClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    leanix_server.token_ttl = 7  # 6 s counted: the CLI refreshes from 4.5 s on
    assert run("token", env=token_env(leanix_server, tmp_path)).returncode == 0
    leanix_clock.advance(4.6)
    writes_fail_under(tmp_path / "cache", errno.EROFS, monkeypatch)
    warning = printed_with_one_warning(leanix_server, tmp_path)
    assert os.strerror(errno.EROFS) in warning
    assert len(leanix_server.token_requests) == 2
