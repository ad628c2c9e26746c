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
    from ._clock import HandClock
    from .testing import LeanIXMock, LeanIXServer

INSTALL_HINT = 'the leanix fixtures need the testing extra: pip install "leanix-auth[testing]"'


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "leanix(**options): options for the leanix_server, leanix_shared_server and leanix_mock "
        "fixtures: subdomain='contoso', api_token='...', token_ttl=60, clock_offset=-7200, "
        "workspace_id='...', strict=True, tls=True",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # pytest-httpx's httpx_mock catches every httpx request, whichever fixture comes first: keep
    # it off LeanIX's host, so that leanix_mock answers there. The marker added here is the
    # nearest to the test, so it wins over the user's own should_mock, at whatever level: it asks
    # theirs about every other host.
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "leanix_mock" in fixtures and "httpx_mock" in fixtures:
            leanix = item.get_closest_marker("leanix")
            subdomain = str((leanix.kwargs if leanix else {}).get("subdomain", "acme"))
            should_mock = _elsewhere_than(f"{subdomain}.leanix.net".lower(), _theirs(item))
            # append=False: ahead of a marker on the test function itself, too.
            item.add_marker(pytest.mark.httpx_mock(should_mock=should_mock), append=False)


def _theirs(item: pytest.Item) -> Callable[[Any], bool] | None:
    """The user's own should_mock, from the nearest httpx_mock marker that has one."""
    for marker in item.iter_markers("httpx_mock"):
        if "should_mock" in marker.kwargs:
            return marker.kwargs["should_mock"]  # type: ignore[no-any-return]
    return None


def _elsewhere_than(host: str, theirs: Callable[[Any], bool] | None) -> Callable[[Any], bool]:
    def should_mock(request: Any) -> bool:
        if request.url.host == host:
            return False
        return True if theirs is None else bool(theirs(request))

    return should_mock


def _options(request: pytest.FixtureRequest, *ignored: str) -> dict[str, Any]:
    """The test's `leanix` marker, every option checked, less those this fixture ignores."""
    marker = request.node.get_closest_marker("leanix")
    if marker is None:
        return {}
    _testing()  # says what to install, if the extra is missing
    from .testing._options import check_marker

    options: dict[str, Any] = _or_fail(check_marker, marker.args, marker.kwargs)
    return {key: value for key, value in options.items() if key not in ignored}


def _or_fail(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`call(...)`; should the marker's options be wrong, the test's setup fails with the
    `LeanIXConfigError`'s message, which names the argument, and no traceback."""
    try:
        return call(*args, **kwargs)
    except ValueError as exc:  # LeanIXConfigError
        problem = str(exc)
    prefix = "" if problem.startswith("@pytest.mark.leanix") else "@pytest.mark.leanix: "
    pytest.fail(prefix + problem, pytrace=False)


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
    """A live fake LeanIX (`LeanIXServer`) on a loopback port, new for this test: `.base_url`,
    `.token_url`, `.api_token`, the recordings and the controls.

    The `leanix` marker sets it up: `api_token`, `token_ttl`, `clock_offset`, `workspace_id`,
    `strict` (as in `reset()`), and `tls=True` for HTTPS trusting `.ca_bundle`. A wrong
    option fails the test's setup, naming it.

    Usage::

        >>> def test_it(leanix_server):
        ...     LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url).get_token()
    """
    # A live server is named by its address, not a subdomain.
    with _or_fail(_testing().LeanIXServer, **_options(request, "subdomain")) as server:
        yield server


@pytest.fixture(scope="session")
def leanix_session_server() -> Iterator[LeanIXServer]:
    """One live fake LeanIX (plain HTTP) for the whole session, with the default options;
    `leanix_shared_server` resets it for each test. Usage: `leanix_session_server.base_url`."""
    with _testing().LeanIXServer() as server:
        yield server


@pytest.fixture(scope="session")
def leanix_session_tls_server() -> Iterator[LeanIXServer]:
    """One live fake LeanIX speaking HTTPS for the whole session (`.ca_bundle`), with the default
    options. Usage: `session.verify = leanix_session_tls_server.ca_bundle`."""
    with _testing().LeanIXServer(tls=True) as server:
        yield server


@pytest.fixture
def leanix_shared_server(request: pytest.FixtureRequest) -> LeanIXServer:
    """`leanix_server` for large suites: one server for the session, `reset()` before each test
    with the test's `leanix` marker (`api_token`, `token_ttl`, `clock_offset`, `workspace_id`,
    `strict`; `tls=True` picks the HTTPS server), so the suite starts it once. Same address in
    every test.

    Usage::

        >>> @pytest.mark.leanix(token_ttl=60)
        ... def test_it(leanix_shared_server): ...
    """
    options = _options(request, "subdomain")
    name = "leanix_session_tls_server" if options.pop("tls", False) else "leanix_session_server"
    server: LeanIXServer = request.getfixturevalue(name)
    _or_fail(server.reset, **options)
    return server


@pytest.fixture
def leanix_mock(request: pytest.FixtureRequest) -> Iterator[LeanIXMock]:
    """The fake LeanIX (`LeanIXMock`) answering `https://acme.leanix.net` in-process for
    requests, httpx and aiohttp: `.subdomain`, `.base_url`, `.api_token`. Other hosts are
    refused (aiohttp: they go their usual way); loopback passes.

    The `leanix` marker sets it up: `subdomain="contoso"` names another workspace; `api_token`,
    `token_ttl`, `clock_offset`, `workspace_id` and `strict` as in `reset()`.

    Usage::

        >>> def test_it(leanix_mock):
        ...     LeanIXAuth(leanix_mock.api_token, subdomain="acme").get_token()
    """
    # In-process, the URL is https already: tls is for the live server.
    with _or_fail(_testing().LeanIXMock, **_options(request, "tls")) as mock:
        yield mock


@pytest.fixture
def leanix_clock() -> Iterator[HandClock]:
    """Time moved by hand, for leanix-auth and the fake LeanIX together.

    `leanix_clock.advance(3600)` moves the clock of every auth object, token cache and fake
    LeanIX of this process (both faces), so a test crosses a token's refresh window or its expiry
    in a millisecond. A pause the library takes (a back-off, a Retry-After) passes at once and is
    noted in `leanix_clock.slept`. Real sockets keep real time: a timeout is still a timeout.

    Usage::

        >>> def test_my_client_survives_expiry(leanix_mock, leanix_clock):
        ...     client.fetch(); leanix_clock.advance(3600); client.fetch()  # a new token, no wait
    """
    from leanix_auth._clock import HandClock

    with HandClock().install() as clock:
        yield clock


@pytest.fixture
def leanix_token() -> Callable[..., str]:
    """`make_token`, a factory of LeanIX-shaped RS256 JWTs: `base_url` (its instanceUrl),
    `ttl` (seconds, default 3600) and `claims` to override, a claim given as None left out.

    Usage::

        >>> def test_it(leanix_token):
        ...     token = leanix_token(ttl=60, region="us")
    """
    make: Callable[..., str] = _testing().make_token
    return make
