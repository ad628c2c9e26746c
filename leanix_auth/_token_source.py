"""Where the API token comes from: a value given once, the environment, a file, or a callable
read each time an exchange is due, so that a rotated token is picked up without a restart. Like
`_config`, free of heavy imports: a cached `leanix-auth token` reads its API token here.
"""

from __future__ import annotations

import copy
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Mapping

from ._errors import LeanIXConfigError, LeanIXCredentialsError

# What an API token or an access token may hold: both go into an HTTP header.
PRINTABLE_ASCII = re.compile(r"[\x21-\x7e]+")
MAX_TOKEN_FILE = 64 * 1024  # bytes; an API token has some 40
# A file rewritten in place is empty between its truncation and its write: reads before "empty".
EMPTY_READS = 5
EMPTY_PAUSE = 0.02  # seconds between them


class Secret:
    """A secret string (the API token, its Basic credentials) as the library carries it: its
    repr and str hide it, so that no log, message or crash reporter's view of a frame's locals
    (Sentry, rich tracebacks, `pytest -l`) shows it. `reveal()` is the one way out."""

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


def basic_credentials(api_token: Secret) -> Secret:
    import base64

    raw = f"apitoken:{api_token.reveal()}".encode("ascii")
    return Secret("Basic " + base64.b64encode(raw).decode("ascii"))


class ApiTokenSource:
    """Where the API token comes from: a value given once, or a callable (a file, a secrets
    manager) read each time an exchange is due, so that a rotated token is picked up without a
    restart. Its repr and its errors name the source, never the token."""

    def __init__(
        self, name: str, *, value: Secret | None = None, read: Callable[[], str] | None = None
    ) -> None:
        self.name = name
        self.value = value  # None: call `read` when an exchange is due
        self.read = read
        self._reading: _Reading | None = None  # the read in flight, which callers share

    def __repr__(self) -> str:
        return f"ApiTokenSource({self.name})"

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_reading": None}  # a thread of this process stays here

    def __call__(self, within: float | None = None) -> Secret:
        """The API token now, read within `within` seconds (None: as long as it takes). Raises
        LeanIXCredentialsError naming the source if it fails or does not answer in time."""
        if self.value is not None:
            return self.value
        try:
            value = Secret(self._read(within))  # held at once: no frame has it as a plain string
        except _NoAnswer:
            late = f"no answer within {within:g} s" if within is not None else "no answer"
            raise LeanIXCredentialsError(
                f"the LeanIX API token could not be read from {self.name}: {late}"
            ) from None
        except TokenFileError as exc:  # our own words, which never quote the file
            raise LeanIXCredentialsError(
                f"the LeanIX API token could not be read from {self.name}: {exc}"
            ) from None
        except Exception as exc:
            raise LeanIXCredentialsError(
                f"the LeanIX API token could not be read from {self.name}: {type(exc).__name__}"
            ) from exc
        problem = _token_problem(value.reveal())
        if problem:
            raise LeanIXCredentialsError(f"the LeanIX API token from {self.name} {problem}")
        return Secret(value.reveal().strip())

    @property
    def busy(self) -> bool:
        """Is a read of the source still in flight (a reader that has not answered yet)?"""
        reading = self._reading
        return reading is not None and not reading.done.is_set()

    def _read(self, within: float | None) -> str:
        """`read()` in a thread of its own, so that a reader that never returns (a hung secrets
        manager, a FIFO with no writer) holds no caller past `within`; callers that come while
        a read is in flight wait for that one, and add no thread."""
        assert self.read is not None
        with _READING:
            reading = self._reading
            if reading is None or reading.done.is_set() or reading.pid != os.getpid():
                reading = self._reading = _Reading(self.read)  # a forked child reads anew
        return reading.result(within)


_READING = threading.Lock()  # guards each source's read in flight


def _reset_after_fork() -> None:
    global _READING  # noqa: PLW0603 - a forked child may have been forked while it was held
    _READING = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


class _NoAnswer(Exception):
    """The reader did not answer in time (never the reader's own TimeoutError)."""


class _Reading:
    def __init__(self, read: Callable[[], str]) -> None:
        self.pid = os.getpid()  # its thread exists in this process only
        self.done = threading.Event()
        self._value: Secret | None = None
        self._error: BaseException | None = None
        name = "leanix-auth-token-source"
        threading.Thread(target=self._run, args=(read,), name=name, daemon=True).start()

    def _run(self, read: Callable[[], str]) -> None:
        try:
            self._value = Secret(read())
        except Exception as error:  # handed to every caller that waits for this read
            self._error = error
        finally:
            self.done.set()

    def result(self, within: float | None) -> str:
        if not self.done.wait(within) or (self._value is None and self._error is None):
            raise _NoAnswer  # still reading, or the reader's thread died without an answer
        if self._error is not None:
            error = copy.copy(self._error)  # one instance per caller: tracebacks never pile up
            error.__traceback__ = None
            raise error
        assert self._value is not None
        return self._value.reveal()


class TokenFileError(Exception):
    """Why an API token file holds no token, in words that never quote what it holds."""


class ApiTokenFile:
    """A callable that reads the API token from a file each time it is called: a secret mounted
    by Kubernetes, Docker or systemd, picked up anew after it is rotated. Made by
    `api_token_file(path)`; a pickle carries the path, never the token.

    A pipe (`<(...)`, /dev/stdin) can be read only once: its token is kept, in this process."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._kept: Secret | None = None

    def __repr__(self) -> str:
        return f"api_token_file({self.path!r})"

    def __reduce__(self) -> tuple[type[ApiTokenFile], tuple[str]]:
        return ApiTokenFile, (self.path,)  # never a pipe's kept token

    def __call__(self) -> str:
        if self._kept is not None:
            return self._kept.reveal()
        value, regular = _read_file(self.path)
        for _ in range(EMPTY_READS - 1):
            if value or not regular:
                break
            time.sleep(EMPTY_PAUSE)
            value, regular = _read_file(self.path)
        if not value:
            raise TokenFileError("it is empty")
        if not regular:
            self._kept = Secret(value)
        return value


def _read_file(path: str) -> tuple[str, bool]:
    """The file's text without a UTF-8 BOM or surrounding white space, and whether it is a
    regular file (one that can be read again)."""
    try:
        with open(path, "rb") as file:
            regular = stat.S_ISREG(os.fstat(file.fileno()).st_mode)
            data = file.read(MAX_TOKEN_FILE + 1)
    except OSError as exc:
        raise TokenFileError(exc.strerror or type(exc).__name__) from None
    if len(data) > MAX_TOKEN_FILE:  # cut, it would be sent as a token and refused as too long
        raise TokenFileError("it is larger than 64 KiB, far more than an API token")
    try:
        return data.decode("utf-8-sig").strip(), regular
    except UnicodeDecodeError:
        raise TokenFileError("it is not UTF-8 text") from None


def api_token_file(path: str | os.PathLike[str]) -> ApiTokenFile:
    """The API token from a file, read again at each exchange (about hourly), so that a rotated
    Kubernetes, Docker or systemd secret is picked up without a restart.

    **Parameters:**

    * **path** - the file: a mounted secret, or a pipe such as `/dev/stdin` (read once).

    **Raises:** `LeanIXConfigError` if the file cannot be read or holds no token now; a later
    read that fails is a `LeanIXCredentialsError` naming the file, never its content.

    Usage::

        >>> auth = LeanIXAuth(api_token_file("/run/secrets/leanix"), subdomain="acme")
    """
    source = ApiTokenFile(os.fspath(path))
    try:
        regular = stat.S_ISREG(os.stat(source.path).st_mode)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise LeanIXConfigError(
            f"cannot read the LeanIX API token from {source.path}: {reason}"
        ) from None
    if not regular:
        # A pipe or a device: read when the first exchange is due, within its budget. Opening
        # a FIFO here would wait for a writer, for ever if none comes.
        return source
    try:
        value = Secret(source())
    except TokenFileError as exc:
        raise LeanIXConfigError(
            f"cannot read the LeanIX API token from {source.path}: {exc}"
        ) from None
    problem = _token_problem(value.reveal())
    if problem:
        raise LeanIXConfigError(f"the LeanIX API token in {source.path} {problem}")
    return source


def source_of(
    api_token: str | Callable[[], str] | None, env: Mapping[str, str], words: Mapping[str, str]
) -> ApiTokenSource:
    if isinstance(api_token, ApiTokenSource):
        return api_token
    if callable(api_token):
        name = repr(api_token) if isinstance(api_token, ApiTokenFile) else _callable_name(api_token)
        return ApiTokenSource(name, read=api_token)
    if api_token is not None:
        return ApiTokenSource("api_token", value=_api_token(api_token, words))
    inline, path = env.get("LEANIX_API_TOKEN"), env.get("LEANIX_API_TOKEN_FILE")
    if inline is not None and path:
        raise LeanIXConfigError(
            "both LEANIX_API_TOKEN and LEANIX_API_TOKEN_FILE are set: unset one of them"
        )
    if path:
        return ApiTokenSource(f"LEANIX_API_TOKEN_FILE ({path})", read=api_token_file(path))
    return ApiTokenSource("LEANIX_API_TOKEN", value=_api_token(inline, words))


def _callable_name(read: Callable[[], str]) -> str:
    """How errors name a callable source: by its qualified name, never by calling it."""
    qualname = getattr(read, "__qualname__", None) or type(read).__qualname__
    return f"the api_token callable {qualname}"


def _token_problem(value: object) -> str:
    """What is wrong with an API token, in words that never echo it; "" if nothing."""
    if not isinstance(value, str):
        return f"is a {type(value).__name__}, not a str"
    value = value.strip()
    if not value:
        return "is empty"
    if not PRINTABLE_ASCII.fullmatch(value):
        return "contains spaces, control or non-ASCII characters"
    return ""


def _api_token(value: object, words: Mapping[str, str]) -> Secret:
    if value is None:
        raise LeanIXConfigError(
            f"no LeanIX API token: {words['api_token_hint']} "
            "(create one with a Technical User in LeanIX's administration)"
        )
    problem = _token_problem(value)
    if problem:  # says what is wrong, never echoing the token
        raise LeanIXConfigError(
            f"the LeanIX API token {problem}: check {words['api_token']}, or copy it again from "
            "the Technical User"
        )
    assert isinstance(value, str)
    return Secret(value.strip())
