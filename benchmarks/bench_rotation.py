"""Rotation stall: how long callers wait while the token is refreshed by a slow endpoint."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import requests
from harness import Table
from peers import ensure_token, requests_auths, requests_session

from leanix_auth.testing import LeanIXServer


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
            sessions[0].get(server.base_url + "/services/a/v1")
            server.token_delay = 1.0
            latencies = sorted(
                call_continuously(sessions, server.base_url + "/services/a/v1", seconds=8.5)
            )
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
