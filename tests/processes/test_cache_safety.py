"""Shared caches that others cannot turn against us: a fork holding a lock, a directory that is
not safely ours, planted files, poisoned entries."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pytest
import requests

from leanix_auth import FileCache, LeanIXAuth, MemoryCache, SharedToken
from leanix_auth.testing import HandClock, LeanIXServer

POSIX = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork and file modes are POSIX")


def fork_child_that_lives(seconds: int) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "fork() of a threaded process"
        pid = os.fork()
    if pid == 0:
        signal.alarm(seconds)
        signal.pause()
        os._exit(0)
    return pid


def reap(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


@POSIX
def test_a_file_lock_released_by_the_parent_is_free_though_a_forked_child_lives(
    tmp_path: Path,
) -> None:
    cache = FileCache(tmp_path / "cache")
    held = cache.lock("key", 60)
    assert held.acquire(timeout=1)
    child = fork_child_that_lives(30)  # inherits the descriptor that holds the flock
    try:
        held.release()
        other = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from leanix_auth import FileCache;"
                "print(FileCache(sys.argv[1]).lock('key', 60).acquire(timeout=3))",
                str(tmp_path / "cache"),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        reap(child)
    assert other.stdout.strip() == "True"


@POSIX
def test_a_memory_cache_lock_held_by_a_thread_is_free_in_a_forked_child() -> None:
    cache = MemoryCache()
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        lock = cache.lock("key", 60)
        lock.acquire(timeout=5)
        holding.set()
        done.wait(10)
        lock.release()

    thread = threading.Thread(target=hold)
    thread.start()
    holding.wait(5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        got = cache.lock("key", 60).acquire(timeout=2)  # no thread holds it in here
        os._exit(0 if got else 1)
    _, status = os.waitpid(pid, 0)
    done.set()
    thread.join()
    assert os.waitstatus_to_exitcode(status) == 0


@POSIX
@pytest.mark.parametrize("mode", [0o777, 0o770, 0o1777])
def test_a_directory_others_may_write_to_is_refused_with_one_warning(
    mode: int, leanix_server: LeanIXServer, tmp_path: Path, all_logs: list[logging.LogRecord]
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(mode)
    cache = FileCache(shared)
    auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url, cache=cache)
    assert auth.get_token() in leanix_server.issued_tokens  # no cache, still a token
    warnings_seen = [r.getMessage() for r in all_logs if r.levelno == logging.WARNING]
    assert len(warnings_seen) == 1
    assert "writable by group or others" in warnings_seen[0]
    assert list(shared.iterdir()) == []  # nothing written there


@POSIX
def test_a_directory_of_another_user_is_refused(tmp_path: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("making a directory of another user needs root")
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, 65534, 65534)
    with pytest.raises(PermissionError, match="belongs to another user"):
        FileCache(theirs).load("key")


@POSIX
def test_planted_symlinks_and_fifos_are_not_followed_nor_waited_on(
    leanix_server: LeanIXServer, tmp_path: Path
) -> None:
    directory = tmp_path / "cache"
    cache = FileCache(directory)
    auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url, cache=cache)
    auth.get_token()
    [entry] = directory.glob("*.json")
    key = entry.stem
    entry.unlink()
    os.mkfifo(entry)  # load() would hang for ever on a FIFO without O_NONBLOCK
    victim = tmp_path / "victim"
    (directory / f"{key}.lock").unlink()
    (directory / f"{key}.lock").symlink_to(victim)
    assert cache.load(key) is None
    fresh = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url, cache=cache)
    assert fresh.get_token() in leanix_server.issued_tokens
    assert not victim.exists()  # the lock was not created where the symlink pointed


@POSIX
@pytest.mark.parametrize("umask", [0, 0o377])  # none at all; one that takes owner bits too
def test_missing_parent_directories_are_made_0700_whatever_the_umask(
    umask: int, tmp_path: Path
) -> None:
    old = os.umask(umask)
    try:
        FileCache(tmp_path / "a" / "b" / "leanix-auth").store("key", SharedToken("v", 60, 60))
    finally:
        os.umask(old)
    for level in (tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "leanix-auth"):
        assert level.stat().st_mode & 0o777 == 0o700


class KeyRecordingCache(MemoryCache):
    def __init__(self) -> None:
        super().__init__()
        self.keys: list[str] = []

    def store(self, key: str, token: SharedToken) -> None:
        if key not in self.keys:
            self.keys.append(key)
        super().store(key, token)


@pytest.mark.parametrize("poison", ["bad\r\nX-Injected: 1", "tökén", ""])
def test_a_poisoned_shared_token_is_as_if_absent(poison: str, leanix_server: LeanIXServer) -> None:
    cache = KeyRecordingCache()
    auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url, cache=cache)
    auth.get_token()
    [key] = cache.keys
    cache.store(key, SharedToken(poison, 3600, 3600))  # what a bad writer could leave there
    victim = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url, cache=cache)
    with requests.Session() as session:
        session.auth = victim
        assert session.get(leanix_server.base_url + "/services/a/v1").status_code == 200
    assert len(leanix_server.token_requests) == 2  # exchanged anew, the poison ignored


def planted(server: LeanIXServer, lifetime: float, remaining: float) -> LeanIXAuth:
    """An auth object whose shared cache holds a real token, under a life a bad writer wrote."""
    cache = MemoryCache()
    value = LeanIXAuth(server.api_token, base_url=server.base_url, cache=cache).get_token()
    [key] = cache._tokens  # the one entry the exchange stored: overwritten
    cache.store(key, SharedToken(value, lifetime, remaining))
    return LeanIXAuth(server.api_token, base_url=server.base_url, cache=cache)


@pytest.mark.parametrize("claimed", [1e308, 1.79e12])  # any number; an exp in milliseconds
def test_a_shared_entry_lives_no_longer_than_a_day_whatever_it_claims(
    claimed: float, leanix_server: LeanIXServer, leanix_clock: HandClock
) -> None:
    auth = planted(leanix_server, claimed, claimed)
    taken = auth.get_token()
    assert len(leanix_server.token_requests) == 1  # taken from the cache
    leanix_clock.advance(86_400 - 10)  # a day, less 10 s: due for a new token whatever it says
    assert auth.get_token() != taken
    assert len(leanix_server.token_requests) == 2


@pytest.mark.parametrize(
    ("lifetime", "remaining"), [(float("inf"), float("inf")), (3600, float("nan")), (-1, 60)]
)
def test_a_shared_entry_whose_life_is_no_number_of_seconds_is_as_if_absent(
    lifetime: float, remaining: float, leanix_server: LeanIXServer
) -> None:
    planted(leanix_server, lifetime, remaining).get_token()
    assert len(leanix_server.token_requests) == 2  # not taken: exchanged anew


def victims_directory(tmp_path: Path) -> Path:
    """A directory of ours, open to read as such directories often are, with a file in it."""
    victim = tmp_path / "victim"
    victim.mkdir()
    victim.chmod(0o755)
    (victim / "notes").write_text("mine")
    return victim


def untouched(victim: Path) -> bool:
    return victim.stat().st_mode & 0o777 == 0o755 and sorted(victim.iterdir()) == [victim / "notes"]


def refused_once(server: LeanIXServer, cache: FileCache, logs: list[logging.LogRecord]) -> str:
    """Authentication through `cache` still works; the one warning it cost."""
    auth = LeanIXAuth(server.api_token, base_url=server.base_url, cache=cache)
    assert auth.get_token() in server.issued_tokens
    [warning] = [r.getMessage() for r in logs if r.levelno >= logging.WARNING]
    return warning


@POSIX
def test_a_cache_directory_planted_as_a_symlink_is_refused_and_its_target_untouched(
    leanix_server: LeanIXServer, tmp_path: Path, all_logs: list[logging.LogRecord]
) -> None:
    victim = victims_directory(tmp_path)
    shared = tmp_path / "shared"  # think $XDG_CACHE_HOME in a place another user may write
    shared.mkdir()
    (shared / "leanix-auth").symlink_to(victim)
    if os.getuid() == 0:
        os.lchown(shared / "leanix-auth", 65534, 65534)  # planted by another user
    warning = refused_once(leanix_server, FileCache(shared / "leanix-auth"), all_logs)
    assert "symbolic link" in warning
    assert untouched(victim)  # neither chmodded nor written to


@POSIX
@pytest.mark.parametrize("level", ["made", "leanix-auth"])
def test_a_symlink_planted_where_a_missing_level_is_being_made_is_refused(
    level: str,
    leanix_server: LeanIXServer,
    tmp_path: Path,
    all_logs: list[logging.LogRecord],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if level != "leanix-auth" and os.getuid() != 0:
        pytest.skip("a symlink of another user above the last level needs root to make")
    victim = victims_directory(tmp_path)
    real_mkdir = os.mkdir

    def mkdir_losing_a_race(path: str, mode: int = 0o777, *, dir_fd: int | None = None) -> None:
        # Another user wins the race for this level: their symlink is there before our mkdir.
        if os.path.basename(path) == level:
            os.symlink(victim, path, dir_fd=dir_fd)
            if os.getuid() == 0:
                os.chown(path, 65534, 65534, dir_fd=dir_fd, follow_symlinks=False)
        real_mkdir(path, mode, dir_fd=dir_fd)

    monkeypatch.setattr(os, "mkdir", mkdir_losing_a_race)
    cache = FileCache(tmp_path / "missing" / "made" / "leanix-auth")
    warning = refused_once(leanix_server, cache, all_logs)
    assert "symbolic link" in warning
    assert untouched(victim)


@POSIX
def test_a_users_own_symlink_above_the_cache_directory_is_followed(
    leanix_server: LeanIXServer, tmp_path: Path, all_logs: list[logging.LogRecord]
) -> None:
    elsewhere = tmp_path / "bigger-disk"
    elsewhere.mkdir()
    (tmp_path / "home-cache").symlink_to(elsewhere)  # ~/.cache on another disk, say
    cache = FileCache(tmp_path / "home-cache" / "leanix-auth")
    auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url, cache=cache)
    auth.get_token()
    assert [entry.suffix for entry in sorted((elsewhere / "leanix-auth").iterdir())] == [
        ".json",
        ".lock",
    ]
    assert not [r for r in all_logs if r.levelno >= logging.WARNING]
