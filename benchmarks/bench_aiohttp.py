"""aiohttp: the middleware's cost on a cached token against a middleware that sets a static
header (the middleware alone, a whole request in memory, a whole request over loopback), and
500 cold tasks against a cookbook token middleware."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web
from bench_hook import ratio_table
from harness import Table, rotated

from leanix_auth import LeanIXAiohttpMiddleware
from leanix_auth.testing import LeanIXServer

Handler = aiohttp.ClientHandlerType
Middleware = Callable[[aiohttp.ClientRequest, Handler], Awaitable[aiohttp.ClientResponse]]


def static_header(value: str) -> Middleware:
    async def middleware(
        request: aiohttp.ClientRequest, handler: Handler
    ) -> aiohttp.ClientResponse:
        request.headers["Authorization"] = value
        return await handler(request)

    return middleware


class Canned:
    """The innermost middleware: answers every call with the one response it recorded first, so
    that what is timed is aiohttp's request path and the middleware, without a socket."""

    def __init__(self) -> None:
        self.request: aiohttp.ClientRequest | None = None
        self.response: aiohttp.ClientResponse | None = None

    async def __call__(self, request: aiohttp.ClientRequest, handler: Handler) -> Any:
        if self.response is None:
            self.request, self.response = request, await handler(request)
            await self.response.read()
        return self.response


async def per_call(session: aiohttp.ClientSession, url: str, calls: int, read: bool) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        async with session.get(url) as answer:
            if read:  # a canned answer was read once, when it was recorded
                await answer.read()
    return (time.perf_counter() - started) / calls


async def best_of_rounds(
    sessions: dict[str, aiohttp.ClientSession], url: str, calls: int, read: bool = True
) -> dict[str, float]:
    for session in sessions.values():
        await per_call(session, url, 10, read)  # warm: a token in hand, a connection open
    best: dict[str, float] = {}
    for round_ in range(6):  # interleaved rounds, each in another order
        for name, session in rotated(sessions, round_):
            seconds = await per_call(session, url, calls, read)
            best[name] = min(best.get(name, seconds), seconds)
    return best


async def in_memory(server: LeanIXServer) -> tuple[dict[str, float], Table]:
    middleware = LeanIXAiohttpMiddleware(server.api_token, base_url=server.base_url)
    static = static_header("Bearer " + await middleware.aget_token())
    canned = {"static header": Canned(), "leanix-auth": Canned()}
    sessions = {
        "static header": aiohttp.ClientSession(middlewares=(static, canned["static header"])),
        "leanix-auth": aiohttp.ClientSession(middlewares=(middleware, canned["leanix-auth"])),
    }
    try:
        results = await best_of_rounds(sessions, server.base_url + "/services/a/v1", 1000, False)
    finally:
        for session in sessions.values():
            await session.close()
    return results, await alone(
        {"static header": static, "leanix-auth": middleware}, canned["static header"]
    )


async def alone(middlewares: dict[str, Middleware], canned: Canned) -> Table:
    """Each middleware called on one recorded request, with a handler that answers at once."""
    request, response = canned.request, canned.response
    assert request is not None
    assert response is not None

    async def handler(_: aiohttp.ClientRequest) -> aiohttp.ClientResponse:
        return response

    best: dict[str, float] = {}
    for round_ in range(21):  # sub-microsecond figures: many short rounds, the best of each
        for name, middleware in rotated(middlewares, round_):
            started = time.perf_counter()
            for _ in range(10000):
                await middleware(request, handler)
            per_request = (time.perf_counter() - started) / 10000
            best[name] = min(best.get(name, per_request), per_request)
    static = best["static header"]
    rows = [[name, f"{v * 1e9:.0f} ns", f"{v / static:.2f}×"] for name, v in best.items()]
    return (
        "The auth hook alone, aiohttp: await middleware(request, handler)",
        ["auth", "per request", "cost / static"],
        rows,
    )


async def over_loopback(server: LeanIXServer) -> dict[str, float]:
    """A whole request to an aiohttp.web server on loopback, in this process and loop."""

    async def answer(_: web.Request) -> web.Response:
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/api/x", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    base_url = f"http://127.0.0.1:{port}"
    middleware = LeanIXAiohttpMiddleware(
        server.api_token, base_url=base_url, token_url=server.token_url
    )
    static = static_header("Bearer " + await middleware.aget_token())
    sessions = {
        "static header": aiohttp.ClientSession(middlewares=(static,)),
        "leanix-auth": aiohttp.ClientSession(middlewares=(middleware,)),
    }
    try:
        return await best_of_rounds(sessions, base_url + "/api/x", 300)
    finally:
        for session in sessions.values():
            await session.close()
        await runner.cleanup()


class CookbookMiddleware:
    """What a first try looks like: fetch a token when there is none, through the user's own
    session; no single flight, no scope check."""

    def __init__(self, server: LeanIXServer) -> None:
        self.server = server
        self.bearer: str | None = None

    async def __call__(
        self, request: aiohttp.ClientRequest, handler: Handler
    ) -> aiohttp.ClientResponse:
        if self.bearer is None:
            basic = (
                "Basic " + base64.b64encode(f"apitoken:{self.server.api_token}".encode()).decode()
            )
            async with request.session.post(
                self.server.token_url + "?grant_type=client_credentials",
                headers={"Authorization": basic},
                middlewares=(),
            ) as answer:
                self.bearer = "Bearer " + (await answer.json())["access_token"]
        request.headers["Authorization"] = self.bearer
        return await handler(request)


async def cold_tasks(server: LeanIXServer, middleware: Any) -> tuple[int, int]:
    connector = aiohttp.TCPConnector(limit=50)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(
        middlewares=(middleware,), connector=connector, timeout=timeout
    ) as session:

        async def one() -> bool:
            try:
                async with session.get(server.base_url + "/services/a/v1") as answer:
                    return answer.status == 200
            except Exception:
                return False

        answers = await asyncio.gather(*(one() for _ in range(500)))
    return len(server.token_requests), answers.count(False)


def stampede() -> Table:
    rows = []
    contestants: dict[str, Callable[[LeanIXServer], Any]] = {
        "leanix-auth": lambda s: LeanIXAiohttpMiddleware(s.api_token, base_url=s.base_url),
        "cookbook middleware": CookbookMiddleware,
    }
    for name, make in contestants.items():
        with LeanIXServer() as server:
            server.token_delay = 0.2
            exchanges, failures = asyncio.run(cold_tasks(server, make(server)))
        rows.append([f"{name} (aiohttp)", "500 tasks", str(exchanges), str(failures)])
    return (
        "Stampede, aiohttp: no token yet, token endpoint takes 200 ms",
        ["library", "callers", "token exchanges", "failed calls"],
        rows,
    )


def aiohttp_tables() -> list[Table]:
    with LeanIXServer() as server:
        memory, hook_alone = asyncio.run(in_memory(server))
        loopback = asyncio.run(over_loopback(server))
    whole = ratio_table("aiohttp.ClientSession", memory)
    title, header, rows = ratio_table("aiohttp.ClientSession", loopback)
    wire = (title.replace("in-memory transport", "loopback, aiohttp.web"), header, rows)
    return [hook_alone, whole, wire, stampede()]


if __name__ == "__main__":
    from harness import markdown

    for table in aiohttp_tables():
        print(markdown(table), flush=True)
