"""End to end: requests per second over keep-alive loopback, static header against leanix-auth."""

from __future__ import annotations

import httpx
import requests
from harness import Table, best_rates, served
from peers import StaticHeader

from leanix_auth import LeanIXAuth, LeanIXHttpxAuth


def end_to_end() -> Table:
    rows = []
    with served() as (base_url, api_token):
        url = base_url + "/services/pathfinder/v1/x"
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


def rate_cells(rates: dict[str, float]) -> list[str]:
    return [
        f"{rates['static']:.0f}",
        f"{rates['ours']:.0f}",
        overhead(rates["static"], rates["ours"]),
    ]


def overhead(static_rps: float, ours_rps: float) -> str:
    return f"{(static_rps / ours_rps - 1) * 100:+.1f} %"
