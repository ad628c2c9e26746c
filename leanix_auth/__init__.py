"""SAP LeanIX authentication for requests, httpx and aiohttp.

    session.auth = LeanIXAuth(api_token, subdomain="acme")               # requests
    httpx.Client(auth=LeanIXHttpxAuth(api_token, subdomain="acme"))      # httpx, sync or async
    aiohttp.ClientSession(middlewares=(LeanIXAiohttpMiddleware(api_token, subdomain="acme"),))

The adapters are imported when first used, so `import leanix_auth` does not import requests,
httpx or aiohttp: a program that uses one pays for that one. Type checkers read `__init__.pyi`,
which names the same things with their real types (a test keeps the two in step).
"""

from __future__ import annotations

from ._errors import LeanIXAuthError, LeanIXConfigError, LeanIXCredentialsError, LeanIXTokenError

__version__ = "0.2.0"

__all__ = [
    "CacheLock",
    "ExchangeEvent",
    "FileCache",
    "LeanIXAiohttpMiddleware",
    "LeanIXAuth",
    "LeanIXAuthError",
    "LeanIXConfigError",
    "LeanIXCredentialsError",
    "LeanIXHttpxAuth",
    "LeanIXTokenError",
    "MemoryCache",
    "RedisCache",
    "SharedToken",
    "TokenCache",
    "api_token_file",
]

_LAZY = {
    "LeanIXAuth": "._requests",
    "LeanIXHttpxAuth": "._httpx",
    "LeanIXAiohttpMiddleware": "._aiohttp",  # needs the aiohttp extra
    "TokenCache": "._shared",
    "api_token_file": "._token_source",
    "SharedToken": "._shared_token",
    "CacheLock": "._shared",
    "MemoryCache": "._caches",
    "FileCache": "._caches",
    "RedisCache": "._caches",
    "ExchangeEvent": "._observe",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
