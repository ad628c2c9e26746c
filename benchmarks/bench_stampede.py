"""Stampede: many callers with no token yet; how many exchanges does each library make?"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import requests
from harness import Table
from peers import (
    aensure_token,
    ensure_token,
    httpx_auths,
    httpx_client,
    requests_auths,
    requests_session,
)

from leanix_auth.testing import LeanIXServer


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
                        if (
                            session.get(server.base_url + "/services/a/v1", timeout=30).status_code
                            != 200
                        ):
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
                await aensure_token(client)
                status: int = (await client.get(server.base_url + "/services/a/v1")).status_code
            except Exception:
                return False
            return status == 200

        answers = await asyncio.gather(*(one() for _ in range(500)))
    return len(server.token_requests), answers.count(False)
