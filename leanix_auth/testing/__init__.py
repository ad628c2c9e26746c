"""A fake SAP LeanIX for tests: one application, served live (`LeanIXServer`) or in-process
(`LeanIXMock`). Installed with `pip install "leanix-auth[testing]"`; the pytest fixtures
`leanix_server`, `leanix_mock` and `leanix_token` come with it, no conftest needed.
"""

try:
    import responses  # noqa: F401
    import respx  # noqa: F401
except ImportError as missing:  # pragma: no cover - shown by a test in a subprocess
    raise ImportError(
        f"leanix_auth.testing needs the testing extra ({missing.name} is missing): "
        'pip install "leanix-auth[testing]"',
        name=missing.name,
    ) from None

from .._clock import HandClock
from ._fake import FakeLeanIX
from ._mock import LeanIXMock
from ._server import LeanIXServer
from ._tokens import make_token, public_key_pem
from ._wire import FakeResponse, RecordedRequest

__all__ = [
    "FakeLeanIX",
    "FakeResponse",
    "HandClock",
    "LeanIXMock",
    "LeanIXServer",
    "RecordedRequest",
    "make_token",
    "public_key_pem",
]
