"""The `leanix_auth` logger: one INFO line per real exchange, DEBUG for a token taken from a
shared cache, and a cache outage said once when it starts and once when it ends."""

from __future__ import annotations

import logging

from leanix_auth import LeanIXAuth, MemoryCache, SharedToken
from leanix_auth.testing import LeanIXServer


def ours(records: list[logging.LogRecord], level: int) -> list[str]:
    return [r.getMessage() for r in records if r.name == "leanix_auth" and r.levelno == level]


def test_each_exchange_is_one_info_line_and_a_shared_token_is_debug(
    leanix_server: LeanIXServer, all_logs: list[logging.LogRecord]
) -> None:
    cache = MemoryCache()
    first = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url, cache=cache)
    second = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url, cache=cache)
    first.get_token()
    second.get_token()  # from the cache: no exchange
    first.refresh()
    [exchanged, refreshed] = ours(all_logs, logging.INFO)
    assert exchanged == f"LeanIX access token from {leanix_server.base_url}, valid for 3598 s"
    assert refreshed.endswith("(a refresh ahead of expiry)")
    assert any("from the shared cache" in line for line in ours(all_logs, logging.DEBUG))


class FlakyCache(MemoryCache):
    """A cache that is down until `healed`."""

    def __init__(self) -> None:
        super().__init__()
        self.healed = False

    def load(self, key: str) -> SharedToken | None:
        if not self.healed:
            raise ConnectionError("cache host unreachable")
        return super().load(key)


def test_a_cache_outage_is_one_warning_and_its_end_one_info_line(
    leanix_server: LeanIXServer, all_logs: list[logging.LogRecord]
) -> None:
    cache = FlakyCache()
    auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url, cache=cache)
    for _ in range(3):
        auth.refresh()  # each would load from the cache twice
    [warning] = ours(all_logs, logging.WARNING)
    assert "token cache unavailable" in warning
    assert "cache host unreachable" in warning
    cache.healed = True
    auth.refresh()
    assert "token cache answers again" in ours(all_logs, logging.INFO)
    assert len(ours(all_logs, logging.WARNING)) == 1
