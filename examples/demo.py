"""`make demo`: leanix-auth end to end against the embedded fake LeanIX, offline, in seconds."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import httpx
import jwt
import requests

from leanix_auth import LeanIXAiohttpMiddleware, LeanIXAuth, LeanIXHttpxAuth
from leanix_auth.testing import LeanIXServer


def step(text: str) -> None:
    print(f"- {text}")


def with_requests(server: LeanIXServer) -> None:
    print(f"requests, against a fake LeanIX at {server.base_url}")
    auth = LeanIXAuth(server.api_token, base_url=server.base_url)
    session = requests.Session()
    session.auth = auth
    url = server.base_url + "/services/pathfinder/v1/graphql"
    server.add_graphql("allFactSheets", data={"allFactSheets": {"totalCount": 42}})
    answers = [
        session.post(url, json={"query": "{ allFactSheets { totalCount } }"}) for _ in range(50)
    ]
    total = answers[-1].json()["data"]["allFactSheets"]["totalCount"]
    step(
        f"50 GraphQL calls, all {answers[-1].status_code}, {total} fact sheets: "
        f"{len(server.token_requests)} token exchange"
    )
    claims = jwt.decode(auth.get_token(), options={"verify_signature": False})
    left = claims["exp"] - server.now()
    step(
        f"expiry read from the JWT's exp claim on LeanIX's clock: {left:.0f} s left, "
        f"so the token is refreshed ahead {min(300, left / 4):.0f} s before it ends"
    )

    server.revoke_tokens()
    answer = session.get(server.base_url + "/services/pathfinder/v1/x")
    step(
        f"LeanIX revoked the token: the next call got {answer.history[0].status_code}, "
        f"exchanged once more, resent, and returned {answer.status_code}"
    )

    server.token_ttl = 4  # short-lived tokens, so that a refresh comes within seconds
    auth = LeanIXAuth(server.api_token, base_url=server.base_url)
    session.auth = auth
    session.get(url)
    old = server.issued_tokens[-1]
    server.token_delay = 0.5
    time.sleep(2.4)
    started = time.perf_counter()
    session.get(url)
    waited = time.perf_counter() - started
    used_old = server.api_requests[-1].bearer == old
    time.sleep(0.7)
    session.get(url)
    step(
        f"refresh ahead: at 2.4 s of a 3 s token a call took {waited * 1000:.0f} ms "
        f"({'old token, refresh in the background' if used_old else 'new token'}); "
        f"the next call carried the new token: {server.api_requests[-1].bearer != old}"
    )
    server.token_delay, server.token_ttl = 0.2, 3600

    before = len(server.token_requests)
    shared = LeanIXAuth(server.api_token, base_url=server.base_url)

    def work(_: int) -> int:
        with requests.Session() as own:
            own.auth = shared
            return own.get(server.base_url + "/services/pathfinder/v1/x").status_code

    with ThreadPoolExecutor(64) as pool:
        statuses = list(pool.map(work, range(64)))
    step(
        f"64 threads started cold on a slow (200 ms) token endpoint: {statuses.count(200)} "
        f"answers 200, {len(server.token_requests) - before} token exchange"
    )


async def with_httpx(server: LeanIXServer) -> None:
    print("httpx.AsyncClient, same fake")
    before = len(server.token_requests)
    auth = LeanIXHttpxAuth(server.api_token, base_url=server.base_url)
    async with httpx.AsyncClient(auth=auth, limits=httpx.Limits(max_connections=20)) as client:
        answers = await asyncio.gather(
            *(client.get(server.base_url + "/services/pathfinder/v1/x") for _ in range(200))
        )
        other = await client.get(
            server.base_url.replace("127.0.0.1", "localhost") + "/services/a/v1"
        )
    ok = sum(a.status_code == 200 for a in answers)
    step(
        f"200 concurrent tasks: {ok} answers 200, {len(server.token_requests) - before} "
        "token exchange"
    )
    step(f"a host that is not the workspace got no bearer (it answered {other.status_code})")


async def with_aiohttp(server: LeanIXServer) -> None:
    print("aiohttp.ClientSession with LeanIXAiohttpMiddleware, same fake")
    before = len(server.token_requests)
    leanix = LeanIXAiohttpMiddleware(server.api_token, base_url=server.base_url)
    async with aiohttp.ClientSession(middlewares=(leanix,)) as session:

        async def status() -> int:
            async with session.get(server.base_url + "/services/pathfinder/v1/x") as answer:
                return answer.status

        statuses = await asyncio.gather(*(status() for _ in range(200)))
    step(
        f"200 concurrent tasks through the middleware: {statuses.count(200)} answers 200, "
        f"{len(server.token_requests) - before} token exchange"
    )


def main() -> None:
    started = time.perf_counter()
    with LeanIXServer() as server:
        with_requests(server)
        asyncio.run(with_httpx(server))
        asyncio.run(with_aiohttp(server))
    print(f"done in {time.perf_counter() - started:.1f} s; no LeanIX account was needed")


if __name__ == "__main__":
    main()
