"""Token endpoints that hang, hang up, redirect, or were never written by us."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import anyio
import httpx
import pytest
import requests

from leanix_auth import LeanIXAuth, LeanIXAuthError, LeanIXHttpxAuth, LeanIXTokenError
from leanix_auth._clock import HandClock
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
            # A thread each: a retry on the hand clock comes at once, while the connection
            # before it may still be dripping.
            threading.Thread(target=behaviour, args=(connection,), daemon=True).start()

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


def test_an_endpoint_that_hangs_up_is_retried_then_one_error(clock: HandClock) -> None:
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


TOKEN_PATH = "/services/mtm/v1/oauth2/token"


def answering(kind: str, attempts: list[int]) -> Behaviour:
    """An endpoint whose answer starts (status line and headers) and then breaks off."""

    def behave(connection: socket.socket) -> None:
        attempts.append(1)
        connection.recv(65536)
        if kind == "reset":
            connection.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"access')
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif kind == "bad chunking":
            connection.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n")
        elif kind == "corrupt gzip":
            body = b"\x1f\x8b\x08\x00 this is not gzip at all"
            head = f"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {len(body)}\r\n"
            connection.sendall(head.encode() + b"\r\n" + body)
        elif kind == "stalls":
            connection.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"access')
            time.sleep(0.4)  # past the 0.2 s read timeout, in the middle of the body
        else:  # drips: a byte at a time, each well within the read timeout
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 60\r\n\r\n")
            with contextlib.suppress(OSError):
                for _ in range(60):
                    time.sleep(0.1)
                    connection.sendall(b" ")
        connection.close()

    return behave


BREAKS = ["reset", "bad chunking", "corrupt gzip", "stalls", "drips"]


@pytest.mark.parametrize("auth_class", [LeanIXAuth, LeanIXHttpxAuth])
@pytest.mark.parametrize("kind", BREAKS)
def test_an_answer_that_breaks_off_is_retried_then_one_token_error(
    kind: str, auth_class: type[LeanIXAuth], clock: HandClock
) -> None:
    attempts: list[int] = []
    with (
        raw_server(answering(kind, attempts)) as base_url,
        pytest.raises(LeanIXTokenError, match=r"broke off|too slow: not whole within 0\.24 s"),
    ):
        auth_class("t", base_url=base_url, timeout=0.2).get_token()
    assert len(attempts) == 4  # like a refused connection: retried


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_an_async_exchange_is_bounded_as_a_whole_attempt(backend: str, clock: HandClock) -> None:
    attempts: list[int] = []
    with raw_server(answering("drips", attempts)) as base_url:
        auth = LeanIXHttpxAuth("t", base_url=base_url, timeout=0.2)
        with pytest.raises(LeanIXTokenError, match=r"too slow: not whole within 0\.24 s"):
            anyio.run(auth.aget_token, backend=backend)
    assert len(attempts) == 4


def drip_head(attempts: list[int]) -> Behaviour:
    """An endpoint that sends its status line and headers a byte every 50 ms, each byte well
    within a read timeout: only a bound on the attempt as a whole ends it."""

    def behave(connection: socket.socket) -> None:
        attempts.append(1)
        connection.recv(65536)
        with contextlib.suppress(OSError):  # the client shut its side down: stop
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Slow: yes\r\n\r\n{}":
                time.sleep(0.05)
                connection.sendall(bytes([byte]))
        connection.close()

    return behave


@pytest.mark.parametrize("how", ["requests", "httpx", "httpx-asyncio", "httpx-trio"])
def test_a_status_line_and_headers_that_drip_are_bounded_as_a_whole_attempt(
    how: str, clock: HandClock
) -> None:
    attempts: list[int] = []
    with raw_server(drip_head(attempts)) as base_url:
        if how == "requests":
            get_token = LeanIXAuth("t", base_url=base_url, timeout=0.2).get_token
        else:
            auth = LeanIXHttpxAuth("t", base_url=base_url, timeout=0.2)
            backend = how.removeprefix("httpx-")
            get_token = (
                auth.get_token
                if how == "httpx"
                else partial(anyio.run, auth.aget_token, backend=backend)
            )
        with pytest.raises(LeanIXTokenError, match=r"too slow: not whole within 0\.24 s") as caught:
            get_token()
    assert "asked to be called again" not in str(caught.value)  # it sent no Retry-After
    assert 1 <= len(attempts) <= 4


def test_the_cli_says_a_broken_answer_in_one_line(tmp_path: Path) -> None:
    attempts: list[int] = []
    with raw_server(answering("bad chunking", attempts)) as base_url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEANIX_")}
        env.update(LEANIX_BASE_URL=base_url, LEANIX_API_TOKEN="t", XDG_CACHE_HOME=str(tmp_path))
        exe = str(Path(sys.executable).with_name("leanix-auth"))
        result = subprocess.run(
            [exe, "token"], env=env, capture_output=True, text=True, timeout=60, check=False
        )
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert "the answer broke off" in line


@pytest.mark.parametrize("auth_class", [LeanIXAuth, LeanIXHttpxAuth])
def test_a_retry_after_past_the_budget_ends_the_exchange_saying_when(
    auth_class: type[LeanIXAuth], leanix_server: LeanIXServer
) -> None:
    leanix_server.fail_token_requests(429, times=1, retry_after=30)
    auth = auth_class(leanix_server.api_token, base_url=leanix_server.base_url, timeout=1)
    with pytest.raises(LeanIXTokenError, match="asked to be called again in 30 s") as caught:
        auth.get_token()  # a budget of 6 s: no sleeping through 30
    assert caught.value.status == 429
    assert len(leanix_server.token_requests) == 1


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, b"[" * 100_000 + b"]" * 100_000),
        (503, b'{"error":' * 50_000 + b"1" + b"}" * 50_000),
        (200, b'{"access_token": "' + b"a" * (2 << 20) + b'"}'),
    ],
    ids=["deep 200", "deep error", "over the cap"],
)
def test_deeply_nested_or_huge_json_is_a_token_error(
    status: int, body: bytes, leanix_server: LeanIXServer
) -> None:
    leanix_server.add("POST", TOKEN_PATH, status=status, body=body)
    auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url, timeout=2)
    with pytest.raises(LeanIXTokenError):
        auth.get_token()
