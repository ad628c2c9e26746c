"""SAP LeanIX authentication for requests and httpx.

    session.auth = LeanIXAuth(api_token, subdomain="acme")               # requests
    httpx.Client(auth=LeanIXHttpxAuth(api_token, subdomain="acme"))      # httpx, sync or async

The adapters are imported when first used, so `import leanix_auth` does not import requests or
httpx: a program that uses one pays for that one.
"""

from __future__ import annotations

from ._errors import LeanIXAuthError, LeanIXConfigError, LeanIXCredentialsError, LeanIXTokenError

# Not typing.TYPE_CHECKING: importing typing would cost a cached `leanix-auth token` a third of its
# time (mypy honours any constant of this name).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._caches import FileCache, MemoryCache, RedisCache
    from ._httpx import LeanIXHttpxAuth
    from ._requests import LeanIXAuth
    from ._shared import CacheLock, TokenCache
    from ._shared_token import SharedToken
    from ._token_source import api_token_file

__version__ = "0.1.0"

__all__ = [
    "CacheLock",
    "FileCache",
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
    "TokenCache": "._shared",
    "api_token_file": "._token_source",
    "SharedToken": "._shared_token",
    "CacheLock": "._shared",
    "MemoryCache": "._caches",
    "FileCache": "._caches",
    "RedisCache": "._caches",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
