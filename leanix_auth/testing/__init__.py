"""A fake SAP LeanIX for tests: one application, served live (`LeanIXServer`) or in-process
(`LeanIXMock`). Installed with `pip install "leanix-auth[testing]"`; the pytest fixtures
`leanix_server`, `leanix_mock` and `leanix_token` come with it, no conftest needed.
"""

from ._fake import FakeLeanIX, FakeResponse, RecordedRequest, make_token, public_key_pem
from ._mock import LeanIXMock
from ._server import LeanIXServer

__all__ = [
    "FakeLeanIX",
    "FakeResponse",
    "LeanIXMock",
    "LeanIXServer",
    "RecordedRequest",
    "make_token",
    "public_key_pem",
]
