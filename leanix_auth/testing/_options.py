"""The fake's arguments and the `leanix` marker's, checked by the library's own rules when they are
given: a mistake fails there, naming the argument, not later as a strange URL or an "already
expired" token."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .._config import _from_subdomain, _seconds
from .._errors import LeanIXConfigError
from .._token_source import _token_problem

# What every face takes, at construction and again in reset(); then what each face adds.
FAKE_OPTIONS = ("api_token", "token_ttl", "clock_offset", "workspace_id", "strict")
MARKER_OPTIONS = ("subdomain", *FAKE_OPTIONS, "tls")
# _config's messages point a full URL to `base_url`, which the mock has not: it is named by its
# subdomain alone.
_MOCK_WORDS = {
    "base_url": "the subdomain alone: subdomain='contoso' for https://contoso.leanix.net"
}


def check_keywords(given: Iterable[str], valid: Sequence[str], what: str) -> None:
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise LeanIXConfigError(
            f"{what} got the unknown keyword{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(map(repr, unknown))}; valid keywords: {', '.join(valid)}"
        )


def check_marker(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The `leanix` marker's options, each checked whichever fixture will use it: a subdomain the
    live server ignores is still a mistake to report."""
    if args:
        raise LeanIXConfigError(
            f"@pytest.mark.leanix takes keywords only ({', '.join(MARKER_OPTIONS)}), "
            f"got {len(args)} positional argument{'s' if len(args) > 1 else ''}"
        )
    check_keywords(kwargs, MARKER_OPTIONS, "@pytest.mark.leanix")
    if "subdomain" in kwargs:
        mock_base_url(kwargs["subdomain"])
    if "tls" in kwargs:
        flag(kwargs["tls"], "tls")
    return dict(kwargs)


def mock_base_url(subdomain: object) -> str:
    return _from_subdomain(subdomain, "subdomain", _MOCK_WORDS)


def api_token(value: object) -> str:
    problem = _token_problem(value)
    if problem:  # in words that never echo the value: it may be a real token pasted here
        raise LeanIXConfigError(f"api_token {problem}")
    assert isinstance(value, str)
    return value.strip()


def positive_seconds(value: object, what: str) -> float:
    seconds = _seconds(value, what)
    if seconds <= 0:
        raise LeanIXConfigError(f"{what} must be a positive number of seconds, got {value!r}")
    return seconds


def seconds(value: object, what: str) -> float:
    return _seconds(value, what)


def flag(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise LeanIXConfigError(f"{what} must be True or False, got {value!r}")
    return value


def text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise LeanIXConfigError(f"{what} must be a non-empty str, got {value!r}")
    return value


def port(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise LeanIXConfigError(f"port must be an int from 0 to 65535, got {value!r}")
    return value


def clock(value: object) -> Callable[[], float]:
    if not callable(value):
        raise LeanIXConfigError(
            f"clock must be a callable returning seconds since the epoch, like time.time, "
            f"got {value!r}"
        )
    return value
