"""What both adapters hold: settings, a keeper, an audience and a cache; pickled as settings."""

from __future__ import annotations

from typing import Any

from ._config import Settings
from ._core import Audience, TokenCache, TokenKeeper


class TokenHolder:
    _settings: Settings
    _cache: TokenCache | None

    def _hold(self, settings: Settings, cache: TokenCache | None) -> None:
        self._settings = settings
        self._cache = cache
        self._keeper = TokenKeeper()
        self._audience = Audience(settings.origin)

    @property
    def base_url(self) -> str:
        return self._settings.base_url

    @property
    def token_url(self) -> str:
        return self._settings.token_url

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._settings.base_url!r})"

    # What a pickle or a copy carries: configuration only. No access token, lock or thread;
    # everything else is derived again by `_hold`.
    _configuration = ("_settings", "_cache", "_session")

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k in self._configuration}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._hold(self._settings, self._cache)
