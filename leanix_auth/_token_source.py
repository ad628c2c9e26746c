"""Where the API token comes from: a value given once, the environment, a file, or a callable
read each time an exchange is due, so that a rotated token is picked up without a restart. Like
`_config`, free of heavy imports: a cached `leanix-auth token` reads its API token here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping

from ._errors import LeanIXConfigError, LeanIXCredentialsError

_PRINTABLE_ASCII = re.compile(r"[\x21-\x7e]+")


def basic_credentials(api_token: str) -> str:
    import base64

    raw = f"apitoken:{api_token}".encode("ascii")
    return "Basic " + base64.b64encode(raw).decode("ascii")


class ApiTokenSource:
    """Where the API token comes from: a value given once, or a callable (a file, a secrets
    manager) read each time an exchange is due, so that a rotated token is picked up without a
    restart. Its repr and its errors name the source, never the token."""

    def __init__(
        self, name: str, *, value: str | None = None, read: Callable[[], str] | None = None
    ) -> None:
        self.name = name
        self.value = value  # None: call `read` when an exchange is due
        self.read = read

    def __repr__(self) -> str:
        return f"ApiTokenSource({self.name})"

    def __call__(self) -> str:
        """The API token now. Raises LeanIXCredentialsError naming the source if it fails."""
        if self.value is not None:
            return self.value
        assert self.read is not None
        try:
            value = self.read()
        except Exception as exc:
            raise LeanIXCredentialsError(
                f"the LeanIX API token could not be read from {self.name}: {type(exc).__name__}"
            ) from exc
        problem = _token_problem(value)
        if problem:
            raise LeanIXCredentialsError(f"the LeanIX API token from {self.name} {problem}")
        return value.strip()


class ApiTokenFile:
    """A callable that reads the API token from a file each time it is called: a secret mounted
    by Kubernetes, Docker or systemd, picked up anew after it is rotated. Made by
    `api_token_file(path)`; a pickle carries the path, never the token."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"api_token_file({self.path!r})"

    def __call__(self) -> str:
        with open(self.path, encoding="utf-8") as file:
            value = file.read(64 * 1024).strip()  # surrounding white space, a final newline
        if not value:
            raise ValueError(f"{self.path} is empty")
        return value


def api_token_file(path: str | os.PathLike[str]) -> ApiTokenFile:
    """`api_token=api_token_file("/run/secrets/leanix")`: the API token is read from the file
    at each exchange. A file that cannot be read or holds no token now is a LeanIXConfigError."""
    source = ApiTokenFile(os.fspath(path))
    try:
        value = source()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
    except UnicodeDecodeError:
        reason = "it is not UTF-8 text"
    except ValueError:
        reason = "it is empty"
    else:
        reason = ""
    if reason:
        raise LeanIXConfigError(f"cannot read the LeanIX API token from {source.path}: {reason}")
    problem = _token_problem(value)
    if problem:
        raise LeanIXConfigError(f"the LeanIX API token in {source.path} {problem}")
    return source


def source_of(
    api_token: str | Callable[[], str] | None, env: Mapping[str, str], words: Mapping[str, str]
) -> ApiTokenSource:
    if isinstance(api_token, ApiTokenSource):
        return api_token
    if callable(api_token):
        name = repr(api_token) if isinstance(api_token, ApiTokenFile) else "the api_token callable"
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


def _token_problem(value: object) -> str:
    """What is wrong with an API token, in words that never echo it; "" if nothing."""
    if not isinstance(value, str):
        return f"is a {type(value).__name__}, not a str"
    value = value.strip()
    if not value:
        return "is empty"
    if not _PRINTABLE_ASCII.fullmatch(value):
        return "contains spaces, control or non-ASCII characters"
    return ""


def _api_token(value: object, words: Mapping[str, str]) -> str:
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
    return value.strip()
