"""A per-user cache of access tokens on disk, so that short-lived processes share one token.

One JSON file per workspace and API token, named by the host and a hash of the token URL and the
API token (never the token itself), in a directory only the user can read. Files are written
whole (a temporary file renamed into place) with mode 0600. A file that is corrupt, belongs to
someone else or can be read by others is ignored and replaced, never trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit


def default_directory() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "leanix-auth"


def cache_key(token_url: str, api_token: str) -> str:
    digest = hashlib.sha256(f"{token_url}\0{api_token}".encode()).hexdigest()[:32]
    host = (urlsplit(token_url).hostname or "leanix").replace(":", "_")
    return f"{host}-{digest}"


@dataclass(frozen=True)
class CachedToken:
    value: str = field(repr=False)
    refresh_at: float  # wall-clock seconds: one machine's processes share one clock
    expires_at: float

    def fresh(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) < self.refresh_at


class FileCache:
    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_directory()

    def __repr__(self) -> str:
        return f"FileCache({str(self.directory)!r})"

    def load(self, key: str) -> CachedToken | None:
        path = self.directory / f"{key}.json"
        try:
            with open(path, "rb") as file:
                info = os.fstat(file.fileno())
                if not _private(info):
                    return None
                data = json.loads(file.read(64 * 1024))
            return CachedToken(
                value=_text(data["access_token"]),
                refresh_at=float(data["refresh_at"]),
                expires_at=float(data["expires_at"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def store(self, key: str, token: CachedToken) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        payload = {
            "access_token": token.value,
            "refresh_at": token.refresh_at,
            "expires_at": token.expires_at,
        }
        # mkstemp creates the file 0600; the rename makes the new content appear all at once.
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=f".{key}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as file:
                json.dump(payload, file)
            os.replace(temporary, self.directory / f"{key}.json")
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise


def _private(info: os.stat_result) -> bool:
    owner_ok = not hasattr(os, "getuid") or info.st_uid == os.getuid()
    return owner_ok and stat.S_ISREG(info.st_mode) and not info.st_mode & 0o077


def _text(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("not a token")
    return value
