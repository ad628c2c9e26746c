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
import errno
import json
import os
import stat
import threading
import time
import weakref
from pathlib import Path
from typing import IO, TYPE_CHECKING, ClassVar, NoReturn

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

    def __reduce__(self) -> NoReturn:
        # pickle's contract for what cannot be pickled is a TypeError (multiprocessing, copy and
        # probing code catch that); it says what would cross instead of '_thread.lock'.
        raise TypeError(
            "a MemoryCache cannot be pickled: it shares tokens within one process only; "
            "for processes on one machine use FileCache(), across machines "
            "RedisCache.from_url(url)"
        )

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
    group or others may write to (think /tmp/shared) is refused: a warning, then no cache; so is
    one that is a symlink, or is reached through another user's symlink (the user's own, such as
    ~/.cache on another disk, are followed above it). Nothing is chmodded through a link. The
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
        try:
            directory = self._open_directory(create=False)
        except FileNotFoundError:
            return None  # nothing cached yet; made 0700 when something is
        try:
            with os.fdopen(self._open_private(directory, f"{key}.json", os.O_RDONLY), "rb") as file:
                data = json.loads(file.read(64 * 1024))
            value, lifetime = data["access_token"], float(data["lifetime"])
            remaining = float(data["expires_at"]) - SYSTEM_CLOCK.wall()
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            return None
        finally:
            os.close(directory)
        if not isinstance(value, str) or not value or not 0 < remaining <= lifetime + 1:
            return None  # a clock set back would make an old token look young
        return SharedToken(value, lifetime, remaining)

    def store(self, key: str, token: SharedToken) -> None:
        payload = {
            "access_token": token.value,
            "lifetime": token.lifetime,
            "expires_at": SYSTEM_CLOCK.wall() + token.remaining,
        }
        directory = self._open_directory(create=True)
        # A new 0600 file under a name nobody can guess, then renamed over the old one: the new
        # content appears all at once. Everything relative to the directory walked and checked.
        temporary = f".{key}.{os.urandom(8).hex()}.tmp"
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW
            with os.fdopen(os.open(temporary, flags, 0o600, dir_fd=directory), "w") as file:
                json.dump(payload, file)
            os.replace(temporary, f"{key}.json", src_dir_fd=directory, dst_dir_fd=directory)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary, dir_fd=directory)
            raise
        finally:
            os.close(directory)

    def discard(self, key: str, value: str) -> None:
        lock = self.lock(key, 0)
        if not lock.acquire(timeout=0):
            return  # someone is exchanging right now: what they store will be newer anyway
        try:
            current = self.load(key)
            if current is not None and current.value == value:
                directory = self._open_directory(create=False)
                try:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(f"{key}.json", dir_fd=directory)
                finally:
                    os.close(directory)
        finally:
            lock.release()

    def lock(self, key: str, ttl: float) -> CacheLock:
        # The OS releases a file lock when its holder dies, so `ttl` is not needed here. The
        # directory is walked when the lock is taken.
        return _FileLock(self, f"{key}.lock")

    def _open_directory(self, *, create: bool) -> int:
        """A descriptor of the directory, checked to be safely ours; FileNotFoundError if it is
        missing and not to be made. Walked one level at a time from a descriptor of the level
        above, so that what is checked is what is used (see _open_level for links)."""
        names = list(self.directory.parts)
        walked = os.open(names.pop(0) if self.directory.is_absolute() else ".", _DIRECTORY)
        try:
            for depth, name in enumerate(names, 1):
                try:
                    level = self._open_level(walked, name, last=depth == len(names))
                except FileNotFoundError:
                    if not create:
                        raise
                    level = self._make_level(walked, name)
                os.close(walked)
                walked = level
            self._check_directory(walked)
        except BaseException:
            os.close(walked)
            raise
        return walked

    def _open_level(self, parent: int, name: str, *, last: bool) -> int:
        """`name` in `parent`. A symlink is followed only above the last level, and only if
        its owner is us or the owner of `parent` (the kernel's rule for sticky directories):
        the user's own ~/.cache on another disk, the system's /var on macOS. A symlink another
        user planted is refused, and what it points to is never chmodded nor written."""
        try:
            return os.open(name, _DIRECTORY | _NOFOLLOW, dir_fd=parent)
        except OSError as error:
            if error.errno not in _NOT_A_DIRECTORY:
                raise
            link = os.stat(name, dir_fd=parent, follow_symlinks=False)
            if last or not stat.S_ISLNK(link.st_mode):
                raise self._refused(name, link) from None
            if link.st_uid not in (os.getuid(), os.fstat(parent).st_uid):
                raise self._refused(name, link) from None
        return os.open(name, _DIRECTORY, dir_fd=parent)

    def _make_level(self, parent: int, name: str) -> int:
        with contextlib.suppress(FileExistsError):  # another of our processes may be making it
            os.mkdir(name, 0o700, dir_fd=parent)
        # What is there now, not through a link: a symlink planted since the walk looked is
        # refused here, and a directory another user slipped in is refused by the check.
        try:
            level = os.open(name, _DIRECTORY | _NOFOLLOW, dir_fd=parent)
        except OSError as error:
            if error.errno not in _NOT_A_DIRECTORY:
                raise
            raise self._refused(name, os.stat(name, dir_fd=parent, follow_symlinks=False)) from None
        try:
            if os.fstat(level).st_uid == os.getuid():
                os.fchmod(level, 0o700)  # whatever the umask: owner bits it took away included
            self._check_directory(level)
        except BaseException:
            os.close(level)
            raise
        return level

    def _refused(self, name: str, info: os.stat_result) -> PermissionError:
        what = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a directory"
        return PermissionError(f"token cache directory {self.directory}: {name} is {what}")

    def _check_directory(self, directory: int) -> None:
        info = os.fstat(directory)
        if info.st_uid != os.getuid():
            raise PermissionError(f"token cache directory {self.directory} belongs to another user")
        if info.st_mode & 0o022:
            raise PermissionError(
                f"token cache directory {self.directory} is writable by group or others"
            )
        if info.st_mode & 0o077:
            # Readable by others, made by hand: close it. The descriptor is the directory the
            # walk reached without a link at its last level: ours, never a link's target.
            try:
                os.fchmod(directory, 0o700)
            except OSError as error:  # a read-only file system: say where, as chmod(path) would
                raise OSError(error.errno, error.strerror, str(self.directory)) from None

    def _open_private(self, directory: int, name: str, flags: int) -> int:
        """A descriptor of `name` in `directory`, which must be a regular file of ours that
        others cannot read: never through a symlink, never blocking on a FIFO someone planted."""
        fd = os.open(name, flags | _NOFOLLOW | _NONBLOCK, 0o600, dir_fd=directory)
        info = os.fstat(fd)
        if info.st_uid == os.getuid() and stat.S_ISREG(info.st_mode) and not info.st_mode & 0o077:
            return fd
        os.close(fd)
        raise PermissionError(f"{self.directory / name} is not a private regular file")


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_DIRECTORY = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
# What opening a symlink with O_NOFOLLOW | O_DIRECTORY, or a file with O_DIRECTORY, raises:
# ENOTDIR on Linux, ELOOP on macOS, EMLINK on FreeBSD.
_NOT_A_DIRECTORY = (errno.ENOTDIR, errno.ELOOP, errno.EMLINK)


class _FileLock:
    def __init__(self, cache: FileCache, name: str) -> None:
        self._cache = cache
        self._name = name
        self._file: IO[bytes] | None = None

    def acquire(self, timeout: float) -> bool:
        import fcntl  # here, not above: importing this module must work on Windows too

        directory = self._cache._open_directory(create=True)
        try:
            fd = self._cache._open_private(directory, self._name, os.O_RDWR | os.O_CREAT)
        finally:
            os.close(directory)
        file = os.fdopen(fd, "r+b")
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
