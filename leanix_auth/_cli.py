"""The `leanix-auth` command: `serve` a fake LeanIX, print a `token`, `inspect` one.

Errors are one line on stderr and exit status 1; no traceback, no secret.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from ._config import DEFAULT_TIMEOUT
from ._errors import LeanIXAuthError

PROG = "leanix-auth"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except (LeanIXAuthError, OSError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="SAP LeanIX access tokens for shell scripts, and a fake LeanIX."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run a fake LeanIX on this machine",
        description="Run the fake LeanIX (token endpoint and API) in the foreground until Ctrl-C.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="port (default: one the OS picks)")
    serve.add_argument("--ttl", type=float, default=3600, help="token lifetime in seconds (3600)")
    serve.add_argument("--api-token", help="the API token it accepts (default: a random one)")
    serve.set_defaults(run=_serve)

    token = commands.add_parser(
        "token",
        help="print a valid access token",
        description=(
            "Print a valid access token for the workspace named by LEANIX_API_TOKEN with "
            "LEANIX_SUBDOMAIN or LEANIX_BASE_URL (or the flags). The token is cached per user "
            'until its refresh-ahead point: curl -H "Authorization: Bearer $(leanix-auth token)" …'
        ),
    )
    where = token.add_mutually_exclusive_group()
    where.add_argument("--subdomain", help="workspace subdomain: acme for acme.leanix.net")
    where.add_argument("--base-url", help="workspace URL, for hosts outside *.leanix.net")
    token.add_argument("--token-url", help="token endpoint, if not the workspace's own")
    token.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per attempt (10)"
    )
    token.add_argument(
        "--no-cache", action="store_true", help="always exchange; read and write no cache"
    )
    token.set_defaults(run=_token)

    inspect = commands.add_parser(
        "inspect",
        help="decode an access token",
        description=(
            "Show an access token's claims, workspace and expiry. The token is read from the "
            "argument or standard input; it is neither verified nor sent anywhere."
        ),
    )
    inspect.add_argument("token", nargs="?", help="the token (default: read standard input)")
    inspect.set_defaults(run=_inspect)
    return parser


def _serve(args: argparse.Namespace) -> int:
    try:
        from .testing import LeanIXServer
    except ImportError:
        raise LeanIXAuthError(
            'serve needs the testing extra: pip install "leanix-auth[testing]"'
        ) from None
    server = LeanIXServer(args.host, args.port, api_token=args.api_token, token_ttl=args.ttl)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with server:
        print(f"fake LeanIX listening on {server.base_url}")
        print(f"api token: {server.api_token}")
        print(f"token url: {server.token_url}")
        print("try:")
        print(f"  export LEANIX_BASE_URL={server.base_url} LEANIX_API_TOKEN={server.api_token}")
        print(f'  curl -H "Authorization: Bearer $({PROG} token)" {server.base_url}/services/x')
        print("Ctrl-C stops it.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    print("stopped", flush=True)
    return 0


def _token(args: argparse.Namespace) -> int:
    from . import _config
    from ._caches import FileCache

    settings = _config.resolve(
        None,
        subdomain=args.subdomain,
        base_url=args.base_url,
        token_url=args.token_url,
        timeout=args.timeout,
        refresh_margin=_config.DEFAULT_REFRESH_MARGIN,
        mandatory_margin=_config.DEFAULT_MANDATORY_MARGIN,
    )
    cache = None if args.no_cache else FileCache()
    cached = cache.load(settings.cache_key) if cache is not None else None
    if cached is not None and cached.remaining > settings.refresh_lead(cached.lifetime):
        print(cached.value)  # before its refresh-ahead point: a hit imports no HTTP client
        return 0
    from ._requests import LeanIXAuth

    auth = LeanIXAuth(
        settings.api_token,
        base_url=settings.base_url,
        token_url=settings.token_url,
        timeout=settings.timeout,
        cache=cache,
    )
    # A process that ends at once cannot refresh in the background: refresh here, under the
    # cache's lock, so that parallel calls still make one exchange.
    try:
        value = auth.refresh()
    except LeanIXAuthError as error:
        if cached is None:
            raise
        # As in the library: a failed refresh never drops a token that is still valid.
        print(
            f"{PROG}: warning: refresh failed, the cached token stays valid for "
            f"{cached.remaining:.0f} s: {error}",
            file=sys.stderr,
        )
        value = cached.value
    print(value)
    return 0


def _inspect(args: argparse.Namespace) -> int:
    import jwt

    value = (args.token if args.token is not None else sys.stdin.read()).strip()
    try:
        claims: dict[str, Any] = jwt.decode(value, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise LeanIXAuthError("that is not a JWT access token") from None
    print(json.dumps(claims, indent=2, sort_keys=True))
    permission = claims.get("principal", {}).get("permission", {})
    if isinstance(permission, dict) and permission.get("workspaceId"):
        name = permission.get("workspaceName") or "?"
        print(f"workspace: {name} ({permission['workspaceId']})")
    for key in ("instanceUrl", "region"):
        if key in claims:
            print(f"{key}: {claims[key]}")
    exp = claims.get("exp")
    try:
        when = dt.datetime.fromtimestamp(float(exp), tz=dt.timezone.utc)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError, OSError):
        print("expires: unknown (no usable exp claim)")
    else:
        left = when.timestamp() - time.time()
        print(f"expires: {when:%Y-%m-%d %H:%M:%S} UTC ({_relative(left)})")
    return 0


def _relative(seconds: float) -> str:
    minutes = int(abs(seconds) // 60)
    span = f"{minutes} min" if minutes else f"{abs(seconds):.0f} s"
    return f"expires in {span}" if seconds >= 0 else f"expired {span} ago"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
