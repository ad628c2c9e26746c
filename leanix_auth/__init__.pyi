# What type checkers see of `leanix_auth`: the names `__init__.py` loads lazily, with their types.
from ._aiohttp import LeanIXAiohttpMiddleware as LeanIXAiohttpMiddleware
from ._caches import FileCache as FileCache
from ._caches import MemoryCache as MemoryCache
from ._caches import RedisCache as RedisCache
from ._errors import LeanIXAuthError as LeanIXAuthError
from ._errors import LeanIXConfigError as LeanIXConfigError
from ._errors import LeanIXCredentialsError as LeanIXCredentialsError
from ._errors import LeanIXTokenError as LeanIXTokenError
from ._httpx import LeanIXHttpxAuth as LeanIXHttpxAuth
from ._observe import ExchangeEvent as ExchangeEvent
from ._requests import LeanIXAuth as LeanIXAuth
from ._shared import CacheLock as CacheLock
from ._shared import TokenCache as TokenCache
from ._shared_token import SharedToken as SharedToken
from ._token_source import api_token_file as api_token_file

__version__: str
__all__: list[str]
