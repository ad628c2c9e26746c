"""The `leanix_auth` logger: one INFO line per real exchange, DEBUG for a token taken from a
shared cache, and a cache outage said once when it starts and once when it ends."""

from __future__ import annotations

import logging
import re

from leanix_auth import CacheLock, LeanIXAuth, MemoryCache, SharedToken
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
    assert re.fullmatch(
        rf"LeanIX access token from {leanix_server.base_url}, valid for 359\d s", exchanged
    )
    assert refreshed.endswith("(a refresh ahead of expiry)")
    assert any("from the shared cache" in line for line in ours(all_logs, logging.DEBUG))


class FlakyCache(MemoryCache):
    """A cache that is down, every call of it, until `healed`."""

    def __init__(self) -> None:
        super().__init__()
        self.healed = False

    def _check(self) -> None:
        if not self.healed:
            raise ConnectionError("cache host unreachable")

    def load(self, key: str) -> SharedToken | None:
        self._check()
        return super().load(key)

    def store(self, key: str, token: SharedToken) -> None:
        self._check()
        super().store(key, token)

    def lock(self, key: str, ttl: float) -> CacheLock:
        self._check()
        return super().lock(key, ttl)


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
