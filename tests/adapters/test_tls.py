"""A token endpoint behind TLS signed by a private CA: a certificate failure is said once, with how
to trust the CA, and the CA named by SSL_CERT_FILE is trusted by both adapters."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import requests
import trustme

from leanix_auth import LeanIXAiohttpMiddleware, LeanIXAuth, LeanIXHttpxAuth, LeanIXTokenError
from leanix_auth.testing import make_token

KINDS = ["requests", "httpx", "httpx-async", "httpx-trio", "aiohttp"]


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"access_token": make_token(), "token_type": "bearer"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class TLSEndpoint(ThreadingHTTPServer):
    """A token endpoint on loopback behind TLS, counting the connections it was offered."""

    daemon_threads = True
    connections = 0

    def get_request(self) -> Any:
        self.connections += 1  # before the handshake, which a client that distrusts us ends
        return super().get_request()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that refused our certificate hung up: expected here

    @property
    def base_url(self) -> str:
        return f"https://localhost:{self.server_address[1]}"


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def endpoint(ca: trustme.CA, monkeypatch: pytest.MonkeyPatch) -> Iterator[TLSEndpoint]:
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    server = TLSEndpoint(("127.0.0.1", 0), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def get_token(kind: str, base_url: str, **options: Any) -> str:
    if kind == "requests":
        return LeanIXAuth("api-token", base_url=base_url, **options).get_token()
    if kind == "aiohttp":
        middleware = LeanIXAiohttpMiddleware("api-token", base_url=base_url, **options)
        return anyio.run(middleware.aget_token, backend="asyncio")
    auth = LeanIXHttpxAuth("api-token", base_url=base_url, **options)
    if kind == "httpx":
        return auth.get_token()
    return anyio.run(
        auth.aget_token, backend=kind.removeprefix("httpx-").replace("async", "asyncio")
    )


@pytest.mark.parametrize("kind", KINDS)
def test_a_certificate_failure_is_not_retried_and_says_how_to_trust_a_private_ca(
    kind: str, endpoint: TLSEndpoint
) -> None:
    with pytest.raises(LeanIXTokenError) as caught:
        get_token(kind, endpoint.base_url)
    assert endpoint.connections == 1  # deterministic: another attempt would fail alike
    text = str(caught.value)
    assert "certificate of the token endpoint could not be verified" in text
    if kind == "requests":
        assert "session=requests.Session()" in text
        assert "REQUESTS_CA_BUNDLE" in text
    elif kind.startswith("httpx"):
        assert "client=httpx.Client(verify=" in text
        assert "async_client=httpx.AsyncClient(verify=" in text
    assert "SSL_CERT_FILE" in text


@pytest.mark.parametrize("kind", KINDS)
def test_the_exchange_trusts_the_ca_that_ssl_cert_file_names(
    kind: str,
    endpoint: TLSEndpoint,
    ca: trustme.CA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bundle = tmp_path / "private-ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert get_token(kind, endpoint.base_url).count(".") == 2  # a JWT
    assert endpoint.connections == 1


def test_the_clients_the_message_names_carry_the_trust(
    endpoint: TLSEndpoint, ca: trustme.CA, tmp_path: Path
) -> None:
    bundle = tmp_path / "private-ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    with requests.Session() as session:
        session.verify = str(bundle)
        assert get_token("requests", endpoint.base_url, session=session)
    context = ssl.create_default_context(cafile=str(bundle))
    with httpx.Client(verify=context) as client:
        assert get_token("httpx", endpoint.base_url, client=client)


def test_an_ssl_cert_file_that_cannot_be_read_is_one_token_error_for_aiohttp(
    endpoint: TLSEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(LeanIXTokenError, match="SSL_CERT_FILE names no CA bundle it can read"):
        get_token("aiohttp", endpoint.base_url)
    assert endpoint.connections == 0
