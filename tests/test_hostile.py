"""Token endpoints that hang, hang up, redirect, or were never written by us."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import requests

from leanix_auth import LeanIXAuth, LeanIXAuthError, LeanIXHttpxAuth, LeanIXTokenError
from leanix_auth.testing import LeanIXServer

Behaviour = Callable[[socket.socket], None]


@contextmanager
def raw_server(behaviour: Behaviour) -> Iterator[str]:
    """A TCP server on loopback that treats each connection with `behaviour`: its base URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            held.append(connection)
            behaviour(connection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()


def hang(connection: socket.socket) -> None:
    pass  # accept, read nothing, answer nothing


def hang_up(connection: socket.socket) -> None:
    connection.recv(65536)
    connection.close()


def test_a_hanging_endpoint_is_bounded_by_the_timeout() -> None:
    with raw_server(hang) as base_url:
        for auth in (
            LeanIXAuth("t", base_url=base_url, timeout=0.3),
            LeanIXHttpxAuth("t", base_url=base_url, timeout=0.3),
        ):
            started = time.monotonic()
            with pytest.raises(LeanIXTokenError, match=r"no answer within 0.3 s"):
                auth.get_token()
            assert time.monotonic() - started < 5  # one attempt, not four: a bound, not a speed


def test_a_hanging_endpoint_through_an_httpx_client_times_out() -> None:
    with raw_server(hang) as base_url:
        auth = LeanIXHttpxAuth("t", base_url=base_url, timeout=0.3)
        with (
            httpx.Client(auth=auth, timeout=None) as client,
            pytest.raises(LeanIXTokenError, match=r"no answer within 0.3 s"),
        ):
            client.get(
                base_url + "/services/a/v1"
            )  # the exchange's own timeout, not the client's None


def test_an_endpoint_that_hangs_up_is_retried_then_one_error() -> None:
    with raw_server(hang_up) as base_url:
        with pytest.raises(LeanIXTokenError, match="could not be reached"):
            LeanIXAuth("t", base_url=base_url).get_token()
        with pytest.raises(LeanIXTokenError, match="could not be reached"):
            LeanIXHttpxAuth("t", base_url=base_url).get_token()


@pytest.fixture
def elsewhere() -> Iterator[LeanIXServer]:
    with LeanIXServer() as server:
        yield server


def test_a_redirect_is_not_followed_with_the_api_token(
    leanix_server: LeanIXServer, elsewhere: LeanIXServer
) -> None:
    leanix_server.add(
        "POST",
        "/services/mtm/v1/oauth2/token",
        status=307,
        headers={"Location": elsewhere.token_url},
    )
    for auth in (
        LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url),
        LeanIXHttpxAuth(leanix_server.api_token, base_url=leanix_server.base_url),
    ):
        with pytest.raises(LeanIXTokenError, match=r"redirected \(HTTP 307\) to http://127"):
            auth.get_token()
    # A client that follows redirects strips the credentials before it leaves the origin.
    auth = LeanIXHttpxAuth(leanix_server.api_token, base_url=leanix_server.base_url)
    with httpx.Client(auth=auth, follow_redirects=True) as client, pytest.raises(LeanIXAuthError):
        client.get(leanix_server.base_url + "/services/a/v1")
    assert all("Authorization" not in r.headers for r in elsewhere.token_requests)


# A real OAuth2 server that nobody here wrote.

NODE_PACKAGE = "oauth2-mock-server@8"


@pytest.fixture(scope="session")
def oauth2_mock_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: cannot run the third-party oauth2-mock-server")
    home = Path(os.environ.get("LEANIX_NODE_CACHE", Path.cwd() / ".venv" / "node"))
    binary = home / "node_modules" / ".bin" / "oauth2-mock-server"
    if not binary.exists():
        home.mkdir(parents=True, exist_ok=True)
        install = subprocess.run(
            [
                npm,
                "install",
                "--silent",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(home),
                NODE_PACKAGE,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if install.returncode != 0:
            pytest.skip(f"npm could not install {NODE_PACKAGE}: {install.stderr.strip()[:200]}")
    process = subprocess.Popen(
        [str(binary), "-a", "127.0.0.1", "-p", "0"], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    try:
        for line in process.stdout:
            if "listening on" in line:
                yield line.split()[-1].rstrip("/")
                break
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_interoperates_with_a_third_party_oauth2_server(oauth2_mock_server: str) -> None:
    token_url = oauth2_mock_server + "/token"
    auth = LeanIXAuth("any-secret", base_url=oauth2_mock_server, token_url=token_url)
    with requests.Session() as session:
        session.auth = auth
        first = session.get(oauth2_mock_server + "/userinfo")
        second = session.get(oauth2_mock_server + "/userinfo")
    assert first.status_code == second.status_code == 200
    assert first.request.headers["Authorization"] == second.request.headers["Authorization"]
    hauth = LeanIXHttpxAuth("any-secret", base_url=oauth2_mock_server, token_url=token_url)
    with httpx.Client(auth=hauth) as client:
        assert client.get(oauth2_mock_server + "/userinfo").status_code == 200
