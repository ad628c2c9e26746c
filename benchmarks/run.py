"""`make bench`: leanix-auth against its peers, side by side in one run, as ratios.

Peers are whatever of requests-auth, httpx-auth and Authlib is installed
(benchmarks/requirements.txt); a missing one skips its rows. The fake LeanIX is the server. The
tables are printed and written, with the machine they came from, to benchmarks/README.md.
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import httpx
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from leanix_auth import LeanIXAuth, LeanIXHttpxAuth
from leanix_auth.testing import LeanIXServer

HERE = Path(__file__).resolve().parent
Table = tuple[str, list[str], list[list[str]]]


def peer(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError:
        return None


requests_auth = peer("requests_auth")
httpx_auth = peer("httpx_auth")
authlib = peer("authlib")
if authlib is not None:
    from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuth2Client
    from authlib.integrations.requests_client import OAuth2Session


# Fixtures: auth objects of every library for one fake LeanIX


def requests_auths(server: LeanIXServer, **tuning: float) -> Iterator[tuple[str, Any]]:
    """(name, thing to put on a requests call). Authlib's is a whole session."""
    margin = tuning.get("refresh_margin", 300.0)
    yield (
        "leanix-auth",
        LeanIXAuth(server.api_token, base_url=server.base_url, refresh_margin=margin),
    )
    if requests_auth is not None:
        yield (
            "requests-auth",
            requests_auth.OAuth2ClientCredentials(
                server.token_url,
                client_id="apitoken",
                client_secret=server.api_token,
                early_expiry=tuning.get("refresh_margin", 30.0),
            ),
        )
    if authlib is not None:
        yield (
            "Authlib",
            OAuth2Session(
                client_id="apitoken",
                client_secret=server.api_token,
                token_endpoint=server.token_url,
                grant_type="client_credentials",
                leeway=int(tuning.get("refresh_margin", 60)),
            ),
        )


def requests_session(auth: Any) -> requests.Session:
    if authlib is not None and isinstance(auth, OAuth2Session):
        return cast(requests.Session, auth)
    session = requests.Session()
    session.auth = auth
    return session


def ensure_token(session: requests.Session) -> None:
    # Authlib leaves the first fetch to its user; this is how its documentation does it.
    if authlib is not None and isinstance(session, OAuth2Session) and not session.token:
        session.fetch_token()


def httpx_auths(server: LeanIXServer, *, is_async: bool) -> Iterator[tuple[str, Any]]:
    yield "leanix-auth", LeanIXHttpxAuth(server.api_token, base_url=server.base_url)
    if httpx_auth is not None:
        yield (
            "httpx-auth",
            httpx_auth.OAuth2ClientCredentials(
                server.token_url, client_id="apitoken", client_secret=server.api_token
            ),
        )
    if authlib is not None:
        yield "Authlib", ("authlib", is_async)


def httpx_client(server: LeanIXServer, auth: Any, is_async: bool, **options: Any) -> Any:
    if isinstance(auth, tuple):  # Authlib: the client is the auth
        cls = AsyncOAuth2Client if is_async else OAuth2Client
        return cls(
            client_id="apitoken",
            client_secret=server.api_token,
            token_endpoint=server.token_url,
            grant_type="client_credentials",
            **options,
        )
    cls = httpx.AsyncClient if is_async else httpx.Client
    return cls(auth=auth, **options)


class StaticHeader(requests.auth.AuthBase, httpx.Auth):
    """The simplest auth there is: one fixed header, for requests and for httpx."""

    def __init__(self, header: str) -> None:
        self.header = header

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self.header
        return request

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:  # type: ignore[override]
        request.headers["Authorization"] = self.header
        yield request


# 1. Hook cost on a cached token


class MemoryAdapter(BaseAdapter):
    """Answers API calls without a socket, so that what is timed is the client and its auth."""

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **_: Any
    ) -> requests.Response:
        response = requests.Response()
        response.status_code = 200
        response._content = b"{}"
        response.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
        response.request = request
        response.url = request.url or ""
        response.connection = self  # type: ignore[assignment]
        return response

    def close(self) -> None:
        pass


def memory_transport(real: httpx.BaseTransport) -> httpx.BaseTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/api/"):
            return httpx.Response(200, json={})
        return real.handle_request(request)

    return httpx.MockTransport(handler)


class AsyncMemoryTransport(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.real = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/api/"):
            return httpx.Response(200, json={})
        return await self.real.handle_async_request(request)


def best_per_call(run: Callable[[int], None], calls: int, rounds: int = 5) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        run(calls)
        times.append((time.perf_counter() - started) / calls)
    return min(times)


def hook_cost() -> list[Table]:
    with LeanIXServer() as server:
        return hook_cost_on(server)


def hook_cost_on(server: LeanIXServer) -> list[Table]:
    url = server.base_url + "/api/x"
    token = LeanIXAuth(server.api_token, base_url=server.base_url).get_token()
    tables = []

    def requests_runner(session: requests.Session) -> Callable[[int], None]:
        session.mount(server.base_url + "/api/", MemoryAdapter())
        ensure_token(session)
        session.get(url)  # warm: the token is cached from here on

        def run(n: int) -> None:
            for _ in range(n):
                session.get(url)

        return run

    static = StaticHeader(f"Bearer {token}")
    runners = {"static header": requests_runner(requests_session(static))}
    for name, auth in requests_auths(server):
        runners[name] = requests_runner(requests_session(auth))
    tables.append(cost_table("requests", runners, calls=2000))

    def httpx_runner(client: httpx.Client) -> Callable[[int], None]:
        client.get(url)

        def run(n: int) -> None:
            for _ in range(n):
                client.get(url)

        return run

    def sync_client(auth: Any) -> httpx.Client:
        transport = memory_transport(httpx.HTTPTransport())
        if isinstance(auth, tuple):
            return httpx_client(server, auth, False, transport=transport)  # type: ignore[no-any-return]
        return httpx.Client(auth=auth, transport=transport)

    runners = {"static header": httpx_runner(sync_client(static))}
    for name, auth in httpx_auths(server, is_async=False):
        client = sync_client(auth)
        if name == "Authlib":
            client.fetch_token()  # type: ignore[attr-defined]
        runners[name] = httpx_runner(client)
    tables.append(cost_table("httpx.Client", runners, calls=2000))

    async def async_runs() -> dict[str, float]:
        results: dict[str, float] = {}
        clients: dict[str, httpx.AsyncClient] = {
            "static header": httpx.AsyncClient(auth=static, transport=AsyncMemoryTransport())
        }
        for name, auth in httpx_auths(server, is_async=True):
            if name == "httpx-auth":
                continue  # its flow is sync-only: it blocks the event loop (see the stampede)
            client = httpx_client(server, auth, True, transport=AsyncMemoryTransport())
            if name == "Authlib":
                await client.fetch_token()
            clients[name] = client
        for client in clients.values():
            await client.get(url)
        for round_ in range(6):  # interleaved rounds, each in another order
            for name, client in rotated(clients, round_):
                started = time.perf_counter()
                for _ in range(1000):
                    await client.get(url)
                per_call = (time.perf_counter() - started) / 1000
                results[name] = min(results.get(name, per_call), per_call)
        return results

    tables.append(ratio_table("httpx.AsyncClient", asyncio.run(async_runs())))
    return tables


def cost_table(title: str, runners: dict[str, Callable[[int], None]], calls: int) -> Table:
    results: dict[str, float] = {}
    for round_ in range(6):  # interleaved rounds, each in another order
        for name, run in rotated(runners, round_):
            per_call = best_per_call(run, calls // 5, rounds=1)
            results[name] = min(results.get(name, per_call), per_call)
    return ratio_table(title, results)


def ratio_table(title: str, results: dict[str, float]) -> Table:
    static = results["static header"]
    rows = [
        [name, f"{value * 1e6:.1f} µs", f"{value / static:.2f}×"] for name, value in results.items()
    ]
    return (
        f"Hook cost on a cached token, {title} (in-memory transport)",
        ["auth", "per call", "cost / static"],
        rows,
    )


def hook_alone() -> list[Table]:
    """The auth object's own work per request, nothing else: calling it on a prepared request
    (requests) or taking the first request of its auth flow (httpx), against an auth object
    that sets one fixed header."""
    with LeanIXServer() as server:
        url = server.base_url + "/x"
        token = LeanIXAuth(server.api_token, base_url=server.base_url).get_token()
        static = StaticHeader(f"Bearer {token}")
        prepared = requests.Request("GET", url).prepare()
        hooks = prepared.hooks["response"]
        calls: dict[str, Callable[[], None]] = {}
        for name, auth in [("static header", static), *requests_auths(server)]:
            if isinstance(auth, requests.Session):
                continue  # Authlib's session does its work outside an auth object
            auth(prepared)

            def call(auth: Any = auth) -> None:
                auth(prepared)
                hooks.clear()

            calls[name] = call
        tables = [micro_table("requests: auth(prepared_request)", calls)]

        request = httpx.Request("GET", url)
        hcalls: dict[str, Callable[[], None]] = {}
        for name, hauth in [("static header", static), *httpx_auths(server, is_async=False)]:
            if isinstance(hauth, tuple):
                continue
            with httpx.Client(auth=hauth) as client:
                client.get(url)  # a token in hand from here on

            def flow(hauth: Any = hauth) -> None:
                steps = hauth.sync_auth_flow(request)
                next(steps)
                steps.close()

            hcalls[name] = flow
        tables.append(micro_table("httpx: first step of sync_auth_flow", hcalls))
    return tables


def micro_table(title: str, calls: dict[str, Callable[[], None]]) -> Table:
    # Sub-microsecond timings on a shared machine swing by half: many short interleaved rounds,
    # and the best of each, are the most repeatable figure.
    best: dict[str, float] = {}
    for round_ in range(21):
        for name, call in rotated(calls, round_):
            started = time.perf_counter()
            for _ in range(10000):
                call()
            per_call = (time.perf_counter() - started) / 10000
            best[name] = min(best.get(name, per_call), per_call)
    static = best["static header"]
    rows = [[name, f"{v * 1e9:.0f} ns", f"{v / static:.2f}×"] for name, v in best.items()]
    return (f"The auth hook alone, {title}", ["auth", "per request", "cost / static"], rows)


# 2. End to end over keep-alive loopback


@contextmanager
def served(ttl: float = 3600) -> Iterator[tuple[str, str]]:
    """The fake LeanIX in its own process, so that client and server do not share one GIL."""
    exe = Path(sys.executable).with_name("leanix-auth")
    process = subprocess.Popen(
        [str(exe), "serve", "--ttl", str(ttl)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    base_url = process.stdout.readline().split()[-1]
    api_token = process.stdout.readline().removeprefix("api token: ").strip()
    try:
        yield base_url, api_token
    finally:
        process.terminate()
        process.communicate(timeout=10)


def end_to_end() -> Table:
    rows = []
    with served() as (base_url, api_token):
        url = base_url + "/services/x"
        token = LeanIXAuth(api_token, base_url=base_url).get_token()
        with requests.Session() as plain, requests.Session() as ours:
            plain.auth = StaticHeader(f"Bearer {token}")
            ours.auth = LeanIXAuth(api_token, base_url=base_url)
            rates = best_rates({"static": lambda: plain.get(url), "ours": lambda: ours.get(url)})
            rows.append(["requests", *rate_cells(rates)])
        with (
            httpx.Client(auth=StaticHeader(f"Bearer {token}")) as hplain,
            httpx.Client(auth=LeanIXHttpxAuth(api_token, base_url=base_url)) as hours,
        ):
            rates = best_rates({"static": lambda: hplain.get(url), "ours": lambda: hours.get(url)})
            rows.append(["httpx.Client", *rate_cells(rates)])
    return (
        "End to end: requests per second over keep-alive loopback to the fake LeanIX (own process)",
        ["client", "static header", "leanix-auth", "overhead"],
        rows,
    )


def best_rates(
    calls: dict[str, Callable[[], object]], rounds: int = 6, n: int = 300
) -> dict[str, float]:
    """Calls per second of each, best of interleaved rounds: load on the machine hits both."""
    best = dict.fromkeys(calls, 0.0)
    for call in calls.values():
        call()
    for round_ in range(rounds):
        for name, call in rotated(calls, round_):
            started = time.perf_counter()
            for _ in range(n):
                call()
            best[name] = max(best[name], n / (time.perf_counter() - started))
    return best


def rotated(items: dict[str, Any], by: int) -> list[tuple[str, Any]]:
    """The items in an order that shifts every round, so that going first favours none."""
    pairs = list(items.items())
    by %= len(pairs)
    return pairs[by:] + pairs[:by]


def rate_cells(rates: dict[str, float]) -> list[str]:
    return [
        f"{rates['static']:.0f}",
        f"{rates['ours']:.0f}",
        overhead(rates["static"], rates["ours"]),
    ]


def overhead(static_rps: float, ours_rps: float) -> str:
    return f"{(static_rps / ours_rps - 1) * 100:+.1f} %"


# 3. Stampede


def stampede() -> Table:
    rows = []
    for name in ["leanix-auth", "requests-auth", "Authlib"]:
        with LeanIXServer() as server:
            server.token_delay = 0.2
            auths = dict(requests_auths(server))
            if name not in auths:
                continue
            auth = auths[name]

            def work(_: int, auth: Any = auth) -> int:
                bad = 0
                session = auth if isinstance(auth, requests.Session) else requests_session(auth)
                for _ in range(20):
                    try:
                        ensure_token(session)
                        if session.get(server.base_url + "/x", timeout=30).status_code != 200:
                            bad += 1
                    except Exception:
                        bad += 1
                return bad

            with ThreadPoolExecutor(64) as pool:
                failures = sum(pool.map(work, range(64)))
            rows.append(
                [
                    f"{name} (requests)",
                    "64 threads × 20",
                    str(len(server.token_requests)),
                    str(failures),
                ]
            )
    for name in ["leanix-auth", "httpx-auth", "Authlib"]:
        with LeanIXServer() as server:
            server.token_delay = 0.2
            auths = dict(httpx_auths(server, is_async=True))
            if name not in auths:
                continue
            exchanges, failures = asyncio.run(async_stampede(server, auths[name]))
            rows.append([f"{name} (httpx async)", "500 tasks", str(exchanges), str(failures)])
    return (
        "Stampede: no token yet, token endpoint takes 200 ms",
        ["library", "callers", "token exchanges", "failed calls"],
        rows,
    )


async def async_stampede(server: LeanIXServer, auth: Any) -> tuple[int, int]:
    limits = httpx.Limits(max_connections=50)
    async with httpx_client(server, auth, True, limits=limits, timeout=60) as client:

        async def one() -> bool:
            try:
                if isinstance(client, AsyncOAuth2Client) and not client.token:
                    await client.fetch_token()
                status: int = (await client.get(server.base_url + "/x")).status_code
            except Exception:
                return False
            return status == 200

        answers = await asyncio.gather(*(one() for _ in range(500)))
    return len(server.token_requests), answers.count(False)


# 4. Rotation stall


def rotation() -> Table:
    rows = []
    for name in ["leanix-auth", "requests-auth", "Authlib"]:
        with LeanIXServer() as server:
            server.token_ttl = 9  # 8 s of life; every library set to refresh 2 s ahead
            auths = dict(requests_auths(server, refresh_margin=2))
            if name not in auths:
                continue
            sessions = [requests_session(auths[name]) for _ in range(16)]
            ensure_token(sessions[0])
            sessions[0].get(server.base_url + "/x")
            server.token_delay = 1.0
            latencies = sorted(call_continuously(sessions, server.base_url + "/x", seconds=8.5))
            slowest, p99 = latencies[-1], latencies[int(len(latencies) * 0.99)]
            rows.append(
                [
                    name,
                    str(len(latencies)),
                    f"{slowest * 1000:.0f} ms",
                    f"{p99 * 1000:.1f} ms",
                    str(len(server.token_requests) - 1),
                ]
            )
    return (
        "Rotation stall: 16 threads calling while the token is refreshed; the endpoint takes 1 s",
        ["library", "calls", "slowest call", "p99", "refreshes"],
        rows,
    )


def call_continuously(sessions: list[requests.Session], url: str, seconds: float) -> list[float]:
    """Each session in its own thread, GETting `url` until time is up: every call's latency."""
    stop = time.monotonic() + seconds

    def work(session: requests.Session) -> list[float]:
        mine = []
        while time.monotonic() < stop:
            started = time.perf_counter()
            session.get(url)
            mine.append(time.perf_counter() - started)
        return mine

    with ThreadPoolExecutor(len(sessions)) as pool:
        return [latency for batch in pool.map(work, sessions) for latency in batch]


# 6. The fleet: cold processes with and without a shared cache

FLEET_WORKER = """
import sys
from leanix_auth import FileCache, LeanIXAuth
cache = FileCache(sys.argv[1]) if len(sys.argv) > 1 else None
LeanIXAuth(cache=cache).get_token()
"""


def fleet() -> Table:
    rows = []
    for label, shared in [("no shared cache", False), ("FileCache on one directory", True)]:
        with LeanIXServer() as server, tempfile_dir() as directory:
            server.token_delay = 0.2
            env = {
                **os.environ,
                "LEANIX_BASE_URL": server.base_url,
                "LEANIX_API_TOKEN": server.api_token,
            }
            args = [sys.executable, "-c", FLEET_WORKER, *([directory] if shared else [])]
            started = time.perf_counter()
            processes = [subprocess.Popen(args, env=env) for _ in range(16)]
            failed = sum(p.wait(timeout=60) != 0 for p in processes)
            took = time.perf_counter() - started
            rows.append([label, str(len(server.token_requests)), str(failed), f"{took:.1f} s"])
    return (
        "The fleet: 16 cold processes started at once, token endpoint takes 200 ms",
        ["cache", "token exchanges", "failed", "wall time"],
        rows,
    )


# 5. Start-up


def startup() -> Table:
    def wall(args: list[str], env: dict[str, str] | None = None, n: int = 10) -> float:
        times = []
        for _ in range(n):
            started = time.perf_counter()
            subprocess.run(args, check=True, capture_output=True, env=env)
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    py = sys.executable
    baseline = wall([py, "-c", "import requests"])
    rows: list[tuple[str, float]] = [
        ("python -c 'pass'", wall([py, "-c", "pass"])),
        ("python -c 'import requests'", baseline),
        ("python -c 'import leanix_auth'", wall([py, "-c", "import leanix_auth"])),
        (
            "python -c 'from leanix_auth import LeanIXAuth'",
            wall([py, "-c", "from leanix_auth import LeanIXAuth"]),
        ),
    ]
    with served() as (base_url, api_token), tempfile_dir() as cache:
        env = {
            **os.environ,
            "LEANIX_BASE_URL": base_url,
            "LEANIX_API_TOKEN": api_token,
            "XDG_CACHE_HOME": cache,
        }
        exe = str(Path(sys.executable).with_name("leanix-auth"))
        subprocess.run([exe, "token"], check=True, capture_output=True, env=env)
        rows.append(("leanix-auth token (cached)", wall([exe, "token"], env=env)))
    return (
        "Start-up: wall time of a whole process, median of 10",
        ["command", "time", "÷ import requests"],
        [[name, f"{value * 1000:.0f} ms", f"{value / baseline:.2f}×"] for name, value in rows],
    )


@contextmanager
def tempfile_dir() -> Iterator[str]:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        yield directory


# Output


def markdown(table: Table) -> str:
    title, header, rows = table
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def machine() -> str:
    versions = [
        f"Python {platform.python_version()}",
        f"requests {requests.__version__}",
        f"httpx {httpx.__version__}",
    ]
    for name, module in [
        ("requests-auth", requests_auth),
        ("httpx-auth", httpx_auth),
        ("Authlib", authlib),
    ]:
        version = getattr(module, "__version__", "?") if module is not None else "not installed"
        versions.append(f"{name} {version}")
    return f"{platform.platform()}, {os.cpu_count()} cores; " + ", ".join(versions)


def main() -> None:
    started = time.perf_counter()
    tables: list[Table] = []
    sections: list[Callable[[], Table | list[Table]]] = [
        hook_alone,
        hook_cost,
        end_to_end,
        stampede,
        rotation,
        startup,
        fleet,
    ]
    for section in sections:
        produced = section()
        for table in produced if isinstance(produced, list) else [produced]:
            print(markdown(table), flush=True)
            tables.append(table)
    took = time.perf_counter() - started
    text = (
        "# Benchmarks\n\nRegenerated by `make bench`; do not edit by hand. Ratios are the claim: "
        "absolute figures move with the machine and its load.\n\n"
        f"Machine: {machine()}. Run took {took:.0f} s.\n\n" + "\n".join(markdown(t) for t in tables)
    )
    (HERE / "README.md").write_text(text)
    print(f"written to {HERE / 'README.md'} in {took:.0f} s")


if __name__ == "__main__":
    main()
