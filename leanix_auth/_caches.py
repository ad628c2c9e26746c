"""Token caches that let processes and machines share one token: pass one as `cache=`.

* `MemoryCache`: auth objects in one process share tokens.
* `FileCache`: processes on one machine (cron jobs, CLI calls, workers) share tokens through
  private files, with the operating system's file locks for single flight.
* `RedisCache` (in `_redis_cache.py`): machines share tokens through Redis or Valkey, one
  server, a Cluster or Sentinel's master: its TTL carries the remaining life, and redis-py's
  lock is the lock.

Each implements the `TokenCache` protocol. None ever holds the API token: keys carry a hash.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import threading
import time
import weakref
from pathlib import Path
from typing import IO, TYPE_CHECKING, ClassVar

from ._clock import SYSTEM_CLOCK
from ._errors import LeanIXConfigError
from ._redis_cache import RedisCache
from ._shared_token import SharedToken

if TYPE_CHECKING:
    from ._shared import CacheLock

__all__ = ["FileCache", "MemoryCache", "RedisCache"]

_POLL = 0.02  # seconds between looks at a lock held elsewhere


class MemoryCache:
    """Tokens shared by the auth objects of one process that are given the same instance: one
    exchange per token lifetime for all of them. Takes no parameters; raises nothing.

    Usage::

        >>> cache = MemoryCache()
        >>> one, two = LeanIXAuth(cache=cache), LeanIXHttpxAuth(cache=cache)
    """

    _all: ClassVar[weakref.WeakSet[MemoryCache]] = weakref.WeakSet()

    def __init__(self) -> None:
        MemoryCache._all.add(self)
        self._tokens: dict[str, tuple[SharedToken, float]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @classmethod
    def _reset_all_after_fork(cls) -> None:
        # A forked child has none of the parent's threads: no lock held there is held here.
        for cache in list(cls._all):
            cache._locks = {}
            cache._guard = threading.Lock()

    def __repr__(self) -> str:
        return "MemoryCache()"

    def load(self, key: str) -> SharedToken | None:
        entry = self._tokens.get(key)
        if entry is None:
            return None
        token, stored_at = entry
        remaining = token.remaining - (SYSTEM_CLOCK.monotonic() - stored_at)
        return SharedToken(token.value, token.lifetime, remaining) if remaining > 0 else None

    def store(self, key: str, token: SharedToken) -> None:
        self._tokens[key] = (token, SYSTEM_CLOCK.monotonic())

    def discard(self, key: str, value: str) -> None:
        with self._guard:
            entry = self._tokens.get(key)
            if entry is not None and entry[0].value == value:
                del self._tokens[key]

    def lock(self, key: str, ttl: float) -> CacheLock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())


def default_directory() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "leanix-auth"


class FileCache:
    """One private file per key under `directory` (default `$XDG_CACHE_HOME/leanix-auth`).

    Files, lock files and temporary files are created 0600 in a 0700 directory and replaced
    whole. A file that is corrupt, not ours, readable by others, or not a regular file (a
    symlink, a FIFO) is ignored and replaced. A directory that belongs to another user or that
    group or others may write to (think /tmp/shared) is refused: a warning, then no cache. The
    remaining life is kept on this machine's clock, which all its processes share.

    POSIX only: Windows reports every directory as writable by all and has no `fcntl` locks,
    so there a FileCache is refused when made rather than failing on every call.

    Usage::

        >>> auth = LeanIXAuth(cache=FileCache())  # cron jobs, CLI calls, gunicorn workers
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        """**Parameters:**

        * **directory** - where the files go, made 0700 if missing. Default None:
          `$XDG_CACHE_HOME/leanix-auth` (`~/.cache/leanix-auth`).

        **Raises:** `LeanIXConfigError` on Windows. Nothing is read or made until first used.
        """
        if os.name != "posix":
            raise LeanIXConfigError(
                "FileCache needs POSIX file modes and locks (Linux, macOS); "
                "on Windows use MemoryCache() or RedisCache"
            )
        self.directory = Path(directory) if directory is not None else default_directory()

    def __repr__(self) -> str:
        return f"FileCache({str(self.directory)!r})"

    def load(self, key: str) -> SharedToken | None:
        """The token for `key`, or None. Raises PermissionError for a directory that is not
        safely ours."""
        self._check_directory()
        try:
            with os.fdopen(_open_private(self._path(key), os.O_RDONLY), "rb") as file:
                data = json.loads(file.read(64 * 1024))
            value, lifetime = data["access_token"], float(data["lifetime"])
            remaining = float(data["expires_at"]) - SYSTEM_CLOCK.wall()
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            return None
        if not isinstance(value, str) or not value or not 0 < remaining <= lifetime + 1:
            return None  # a clock set back would make an old token look young
        return SharedToken(value, lifetime, remaining)

    def store(self, key: str, token: SharedToken) -> None:
        payload = {
            "access_token": token.value,
            "lifetime": token.lifetime,
            "expires_at": SYSTEM_CLOCK.wall() + token.remaining,
        }
        self._ensure_directory()
        import tempfile  # deferred: reading a cache, the common case, needs none of it

        # mkstemp creates the file 0600; the rename makes the new content appear all at once.
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=f".{key}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as file:
                json.dump(payload, file)
            os.replace(temporary, self._path(key))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    def discard(self, key: str, value: str) -> None:
        lock = self.lock(key, 0)
        if not lock.acquire(timeout=0):
            return  # someone is exchanging right now: what they store will be newer anyway
        try:
            current = self.load(key)
            if current is not None and current.value == value:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._path(key))
        finally:
            lock.release()

    def lock(self, key: str, ttl: float) -> CacheLock:
        # The OS releases a file lock when its holder dies, so `ttl` is not needed here.
        self._ensure_directory()
        return _FileLock(self.directory / f"{key}.lock")

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def _ensure_directory(self) -> None:
        # Every missing level 0700, whatever the umask: a parent made 0777 would let others
        # swap the directory below it.
        missing = []
        path = self.directory
        while not path.exists() and path != path.parent:
            missing.append(path)
            path = path.parent
        for level in reversed(missing):
            with contextlib.suppress(FileExistsError):
                os.mkdir(level, 0o700)
            os.chmod(level, 0o700)
        self._check_directory()

    def _check_directory(self) -> None:
        try:
            info = os.stat(self.directory)
        except FileNotFoundError:
            return  # nothing cached yet; created 0700 when something is
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            raise PermissionError(f"token cache directory {self.directory} belongs to another user")
        if info.st_mode & 0o022:
            raise PermissionError(
                f"token cache directory {self.directory} is writable by group or others"
            )
        if info.st_mode & 0o077:
            os.chmod(self.directory, 0o700)  # readable by others, made by hand: close it


def _open_private(path: Path, flags: int) -> int:
    """A descriptor of `path`, which must be a regular file of ours that others cannot read:
    never through a symlink, never blocking on a FIFO someone planted."""
    fd = os.open(path, flags | _NOFOLLOW | _NONBLOCK, 0o600)
    info = os.fstat(fd)
    owner_ok = not hasattr(os, "getuid") or info.st_uid == os.getuid()
    if owner_ok and stat.S_ISREG(info.st_mode) and not info.st_mode & 0o077:
        return fd
    os.close(fd)
    raise PermissionError(f"{path} is not a private regular file")


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


class _FileLock:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: IO[bytes] | None = None

    def acquire(self, timeout: float) -> bool:
        import fcntl  # here, not above: importing this module must work on Windows too

        file = os.fdopen(_open_private(self._path, os.O_RDWR | os.O_CREAT), "r+b")
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    file.close()
                    return False
                time.sleep(_POLL)
            else:
                self._file = file
                return True

    def release(self) -> None:
        if self._file is not None:
            import fcntl

            # Unlock before closing: a forked child shares this descriptor, and closing ours
            # alone would leave the lock held for as long as the child lives.
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=MemoryCache._reset_all_after_fork)
