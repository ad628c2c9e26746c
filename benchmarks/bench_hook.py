"""Hook cost on a cached token: the auth object alone, and a whole request through an in-memory
transport, against a static header."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import requests
from harness import Table, rotated
from peers import (
    StaticHeader,
    ensure_token,
    httpx_auths,
    httpx_client,
    requests_auths,
    requests_session,
)
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from leanix_auth import LeanIXAuth
from leanix_auth.testing import LeanIXServer


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
        url = server.base_url + "/services/a/v1"
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
