"""`leanix-auth inspect`: an access token's claims, workspace and expiry, shown safely on a
terminal (a token's claims are anyone's to write)."""

from __future__ import annotations

import sys

from ._errors import LeanIXAuthError


def inspect(given: str | None) -> int:
    """`leanix-auth inspect`: the token given (or on stdin) decoded, unverified, for a person."""
    import datetime as dt
    import json
    import time

    import jwt

    value = _token_argument(given)
    try:
        claims = jwt.decode(value, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise LeanIXAuthError("that is not a JWT access token") from None
    print(json.dumps(claims, indent=2, sort_keys=True))  # ensure_ascii: control characters escaped
    principal = claims.get("principal")
    permission = principal.get("permission") if isinstance(principal, dict) else None
    if isinstance(permission, dict) and permission.get("workspaceId"):
        name = _claim_text(permission.get("workspaceName") or "?")
        print(f"workspace: {name} ({_claim_text(permission['workspaceId'])})")
    for key in ("instanceUrl", "region"):
        if key in claims:
            print(f"{key}: {_claim_text(claims[key])}")
    if "exp" not in claims:
        print("expires: unknown (no exp claim)")
        return 0
    exp = claims["exp"]
    if isinstance(exp, bool) or not isinstance(exp, int | float):  # True would read as 1970
        print(f"expires: unknown (exp is {_json_type(exp)}, not a number)")
        return 0
    try:
        when = dt.datetime.fromtimestamp(exp, tz=dt.timezone.utc)
    except (ValueError, OverflowError, OSError):
        print("expires: unknown (exp is out of range)")
    else:
        left = when.timestamp() - time.time()
        print(f"expires: {when:%Y-%m-%d %H:%M:%S} UTC ({_relative(left)})")
    return 0


def _claim_text(value: object) -> str:
    """A string claim as a terminal may show it: a token's ANSI escapes and bells are anyone's
    to write, so control characters show escaped. Any other type is named, not printed."""
    if not isinstance(value, str):
        return f"not a string but {_json_type(value)}"
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in value)


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "an object"
    return "an array" if isinstance(value, list) else "null"


def _token_argument(given: str | None) -> str:
    """The token from the argument or stdin, without a 'Bearer ' in front."""
    if given is None:
        try:
            given = sys.stdin.buffer.read(64 * 1024).decode("ascii")
        except (UnicodeDecodeError, OSError, ValueError, AttributeError):
            given = ""  # binary input, or no stdin at all: no token either way
        if not given.isprintable() and not given.strip().isprintable():
            given = ""
        where = "on stdin"
    else:
        where = "as the argument"
    scheme, _, rest = given.strip().partition(" ")
    value = rest.strip() if scheme.lower() == "bearer" else given.strip()
    if not value:
        raise LeanIXAuthError(f"no token given {where}")
    return value


def _relative(seconds: float) -> str:
    minutes = int(abs(seconds) // 60)
    span = f"{minutes} min" if minutes else f"{abs(seconds):.0f} s"
    return f"expires in {span}" if seconds >= 0 else f"expired {span} ago"
