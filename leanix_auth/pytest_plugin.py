"""pytest fixtures for a fake LeanIX, registered through the `pytest11` entry point.

This module imports nothing heavy: the fake and its needs (responses, respx, cryptography) load
when a test first asks for a fixture, so a production install without the `[testing]` extra
costs every pytest run nothing, and a fixture used without it says how to get it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .testing import LeanIXMock, LeanIXServer

INSTALL_HINT = 'the leanix fixtures need the testing extra: pip install "leanix-auth[testing]"'


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "leanix(**options): options for the leanix_server and leanix_mock fixtures, e.g. "
        "subdomain='contoso', token_ttl=60, api_token='...', clock_offset=-7200, strict=True",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # pytest-httpx's httpx_mock catches every httpx request, whichever fixture comes first: keep
    # it off LeanIX's host, so that leanix_mock answers there. A should_mock of the test's own
    # wins (markers nearer the test come first), and must then leave LeanIX's host out itself.
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "leanix_mock" in fixtures and "httpx_mock" in fixtures:
            marker = item.get_closest_marker("leanix")
            host = f"{(marker.kwargs if marker else {}).get('subdomain', 'acme')}.leanix.net"
            item.add_marker(pytest.mark.httpx_mock(should_mock=_elsewhere_than(host)))


def _elsewhere_than(host: str) -> Callable[[Any], bool]:
    return lambda request: bool(request.url.host != host)


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("leanix")
    return dict(marker.kwargs) if marker is not None else {}


def _testing() -> Any:
    try:
        from leanix_auth import testing
    except ImportError as exc:
        missing = str(exc)
    else:
        return testing
    pytest.fail(f"{INSTALL_HINT} ({missing})", pytrace=False)


@pytest.fixture
def leanix_server(request: pytest.FixtureRequest) -> Iterator[LeanIXServer]:
    """A live fake LeanIX on a loopback port: `.base_url`, `.token_url`, `.api_token`."""
    options = _options(request)
    options.pop("subdomain", None)  # a live server is named by its address
    with _testing().LeanIXServer(**options) as server:
        yield server


@pytest.fixture
def leanix_mock(request: pytest.FixtureRequest) -> Iterator[LeanIXMock]:
    """The fake LeanIX answering `https://acme.leanix.net` in-process for requests and httpx:
    `.subdomain`, `.base_url`, `.api_token`. Other hosts are refused; loopback passes.
    `@pytest.mark.leanix(subdomain="contoso")` names another workspace."""
    with _testing().LeanIXMock(**_options(request)) as mock:
        yield mock


@pytest.fixture
def leanix_token() -> Callable[..., str]:
    """A factory of LeanIX-shaped RS256 JWTs: `leanix_token(ttl=60, region="us")`; a claim
    given as None is left out."""
    make: Callable[..., str] = _testing().make_token
    return make
