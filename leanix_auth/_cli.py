"""The `leanix-auth` command: `serve` a fake LeanIX, print a `token`, `inspect` one.

Exit status: 0 done (also when the reader of stdout has gone, as with `| head -c 5`), 1 a runtime
error (one line on stderr, no traceback, no secret), 2 a usage error (argparse's own, and any bad
option value, judged as the library judges it), 130 interrupted by Ctrl-C. A cached `token` imports
only what reading one cache file needs: everything else waits until it is used.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from . import __version__, _config
from ._config import DEFAULT_MANDATORY_MARGIN, DEFAULT_REFRESH_MARGIN, DEFAULT_TIMEOUT, MAX_LIFETIME
from ._errors import LeanIXAuthError, LeanIXConfigError
from ._shared_token import SharedToken
from ._token_source import PRINTABLE_ASCII

if TYPE_CHECKING:
    from ._caches import FileCache
    from .testing import LeanIXServer

PROG = "leanix-auth"
# How the configuration errors of `_config` name each setting here: as flags and variables.
CLI_WORDS = {
    "api_token": "LEANIX_API_TOKEN",
    "api_token_hint": "set LEANIX_API_TOKEN or LEANIX_API_TOKEN_FILE",
    "host_hint": (
        "pass --subdomain acme (for https://acme.leanix.net) or --base-url URL, "
        "or set LEANIX_SUBDOMAIN or LEANIX_BASE_URL"
    ),
    "subdomain": "--subdomain",
    "base_url": "--base-url",
    "token_url": "--token-url",
    "timeout": "--timeout",
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code = int(args.run(args))
        sys.stdout.flush()  # a reader that has gone shows here, not as a traceback at exit
        return code
    except BrokenPipeError:
        # `leanix-auth token | head -c 5`: the reader took what it wanted; nobody to tell.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # for the exit's flush
        return 0
    except (LeanIXAuthError, OSError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="SAP LeanIX access tokens for shell scripts, and a fake LeanIX."
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    # prog given, or argparse builds a help formatter to work it out, which imports shutil.
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", prog=PROG)

    serve = commands.add_parser(
        "serve",
        help="run a fake LeanIX on this machine",
        description="Run the fake LeanIX (token endpoint and API) in the foreground until Ctrl-C.",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.add_argument("--port", type=_port, default=0, help="port (default 0: one the OS picks)")
    serve.add_argument(
        "--ttl", type=_seconds, default=3600, help="token lifetime in seconds (default 3600)"
    )
    serve.add_argument(
        "--api-token", type=_header_value, help="the API token it accepts (default: a random one)"
    )
    serve.add_argument(
        "--tls", action="store_true", help="serve HTTPS under a throwaway CA; prints its bundle"
    )
    serve.set_defaults(run=_serve)

    token = commands.add_parser(
        "token",
        help="print a valid access token",
        description=(
            "Print a valid access token for the workspace named by LEANIX_SUBDOMAIN or "
            "LEANIX_BASE_URL (or the flags), with the API token from LEANIX_API_TOKEN or from the "
            "file named by LEANIX_API_TOKEN_FILE. The token is cached per user in "
            "$XDG_CACHE_HOME/leanix-auth (~/.cache/leanix-auth) until its refresh-ahead point: "
            'curl -H "Authorization: Bearer $(leanix-auth token)" …'
        ),
    )
    where = token.add_mutually_exclusive_group()
    where.add_argument(
        "--subdomain",
        type=_judged("--subdomain", lambda v: _config._from_subdomain(v, "--subdomain", CLI_WORDS)),
        help="workspace subdomain: acme for acme.leanix.net",
    )
    where.add_argument(
        "--base-url",
        type=_judged("--base-url", lambda v: _config._origin_url(v, "--base-url")),
        help="workspace URL, for hosts outside *.leanix.net",
    )
    token.add_argument(
        "--token-url",
        type=_judged("--token-url", lambda v: _config._url(v, "--token-url")),
        help="token endpoint, if not the workspace's own",
    )
    token.add_argument(
        "--timeout",
        type=_judged("--timeout", lambda v: _config._positive(_number(v), "--timeout")),
        default=DEFAULT_TIMEOUT,
        help="seconds per attempt of the exchange (default 10)",
    )
    token.add_argument(
        "--no-cache", action="store_true", help="always exchange; read and write no cache"
    )
    token.set_defaults(run=_token)

    inspect = commands.add_parser(
        "inspect",
        help="decode an access token",
        description=(
            "Show an access token's claims, workspace and expiry. The token (with or without "
            "'Bearer ') is read from the argument or standard input; it is neither verified nor "
            "sent anywhere."
        ),
    )
    inspect.add_argument("token", nargs="?", help="the token (default: read standard input)")
    inspect.set_defaults(run=_inspect)
    return parser


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 0 to 65535, got {text!r}")
    return port


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return seconds


def _judged(flag: str, judge: Callable[[str], object]) -> Callable[[str], str]:
    """An argparse type that judges an option as the library would, so that a bad value is a
    usage error (status 2) in the library's words; the value itself goes on to `_config`."""

    def judged(text: str) -> str:
        try:
            judge(text)
        except LeanIXConfigError as error:
            raise argparse.ArgumentTypeError(str(error).removeprefix(flag + " ")) from None
        return text

    return judged


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise LeanIXConfigError("must be a number of seconds") from None


def _header_value(text: str) -> str:
    if not text or not all("!" <= c <= "~" for c in text):
        raise argparse.ArgumentTypeError(
            "must be printable ASCII without spaces: clients send it in an HTTP header"
        )
    return text


def _inspect(args: argparse.Namespace) -> int:
    from ._inspect import inspect

    return inspect(args.token)


def _serve(args: argparse.Namespace) -> int:
    import signal
    import threading

    try:
        from .testing import LeanIXServer
    except ImportError:
        raise LeanIXAuthError(
            'serve needs the testing extra: pip install "leanix-auth[testing]"'
        ) from None
    try:
        server = LeanIXServer(
            args.host, args.port, api_token=args.api_token, token_ttl=args.ttl, tls=args.tls
        )
    except OSError as exc:  # the port is taken, or the host is no address of this machine
        reason = exc.strerror or type(exc).__name__
        raise LeanIXAuthError(f"cannot listen on {args.host} port {args.port}: {reason}") from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # "Ctrl-C stops it", even when started by a parent that ignores SIGINT (a job started in
    # the background by a script, a test runner's worker): Python then leaves it ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with server:
        try:  # from the first line on: Ctrl-C may come as soon as anything is printed
            _announce(server, args.host)
            stop.wait()
        except KeyboardInterrupt:
            print("stopped", flush=True)
            return 130
    print("stopped", flush=True)
    return 0


def _announce(server: LeanIXServer, host: str) -> None:
    print(f"fake LeanIX listening on {server.base_url}")
    print(f"api token: {server.api_token}")
    print(f"token url: {server.token_url}")
    if server.ca_bundle:  # trust it: curl --cacert, SSL_CERT_FILE, REQUESTS_CA_BUNDLE
        print(f"ca bundle: {server.ca_bundle}")
    print("try:")
    print(f"  export LEANIX_BASE_URL={server.base_url} LEANIX_API_TOKEN={server.api_token}")
    api = f"{server.base_url}/services/pathfinder/v1/x"
    print(f'  curl -H "Authorization: Bearer $({PROG} token)" {api}')
    print("Ctrl-C stops it.", flush=True)
    if not server.loopback_only:
        print(
            f"{PROG}: warning: listening on {host}: anyone who can reach this machine "
            "can use this fake LeanIX",
            file=sys.stderr,
            flush=True,
        )


def _token(args: argparse.Namespace) -> int:
    from . import _config
    from ._caches import FileCache

    settings = _config.resolve(
        None,
        subdomain=args.subdomain,
        base_url=args.base_url,
        token_url=args.token_url,
        timeout=float(args.timeout),
        refresh_margin=DEFAULT_REFRESH_MARGIN,
        mandatory_margin=DEFAULT_MANDATORY_MARGIN,
        words=CLI_WORDS,
    )
    cache = None if args.no_cache else FileCache()
    cached = None
    if cache is not None:
        key = settings.cache_key(settings.source(within=settings.timeout))
        try:
            loaded = cache.load(key)
            cached = _trusted(loaded)
            if loaded is not None and cached is None:  # nor may the exchange below adopt it
                cache.discard(key, loaded.value)
        except OSError as fault:  # not safely ours, read-only, full: do without, as the library
            print(f"{PROG}: warning: {fault}; going on without a cache", file=sys.stderr)
            cache = None
    if cached is not None and cached.remaining > settings.refresh_lead(cached.lifetime):
        print(cached.value)  # before its refresh-ahead point: a hit imports no HTTP client
        return 0
    with _cache_warnings():
        return _exchanged(settings, cache, cached)


def _exchanged(
    settings: _config.Settings, cache: FileCache | None, cached: SharedToken | None
) -> int:
    """Prints a token got from LeanIX, or the `cached` one if that fails while it is valid."""
    from ._requests import LeanIXAuth

    # The source resolved above, taken as it is (source_of): a pipe's token is not read twice.
    auth = LeanIXAuth(
        settings.source,  # type: ignore[arg-type]
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


@contextlib.contextmanager
def _cache_warnings() -> Iterator[None]:
    """The library's warnings while the command exchanges (a cache that failed to store or
    lock: the library goes on without it) as the command's own lines on stderr."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter(f"{PROG}: warning: %(message)s"))
    logger = logging.getLogger("leanix_auth")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)  # main() runs again in the same process in tests


def _trusted(cached: SharedToken | None) -> SharedToken | None:
    """The cache file's token if the library would take it too: one that can go into a header
    (a newline would reach `curl -H "Authorization: Bearer $(leanix-auth token)"`), with a life
    of at most MAX_LIFETIME (a planted 1e308 or Infinity would be served forever)."""
    if cached is None or not PRINTABLE_ASCII.fullmatch(cached.value):
        return None
    if not 0 < cached.lifetime <= MAX_LIFETIME or not 0 < cached.remaining <= MAX_LIFETIME:
        return None
    return cached


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
