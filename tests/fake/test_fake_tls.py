"""The live fake over HTTPS, as behind a private CA: clients that trust its throwaway CA (by
`verify=`, a session or client of the user's, or the environment) get through; a client that does
not gets one `LeanIXTokenError` naming the certificate problem."""

from __future__ import annotations

import signal
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import requests

from leanix_auth import LeanIXAuth, LeanIXHttpxAuth, LeanIXTokenError
from leanix_auth.testing import LeanIXServer

API = "/services/pathfinder/v1/x"


@pytest.fixture
def no_ca_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # requests lets REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE win over a session's own `verify`; httpx
    # reads SSL_CERT_FILE. Each test says which of them it means.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)


pytestmark = [pytest.mark.leanix(tls=True), pytest.mark.usefixtures("no_ca_environment")]


def test_the_server_speaks_https_and_says_which_ca_to_trust(leanix_server: LeanIXServer) -> None:
    assert leanix_server.base_url.startswith("https://127.0.0.1:")
    assert leanix_server.ca_bundle is not None
    assert "BEGIN CERTIFICATE" in Path(leanix_server.ca_bundle).read_text()
    with LeanIXServer() as plain:
        assert plain.ca_bundle is None


def test_requests_with_a_session_that_trusts_the_bundle(leanix_server: LeanIXServer) -> None:
    with requests.Session() as session:
        session.verify = leanix_server.ca_bundle
        session.auth = LeanIXAuth(
            leanix_server.api_token, base_url=leanix_server.base_url, session=session
        )
        assert session.get(leanix_server.base_url + API).status_code == 200


def test_httpx_with_a_client_that_trusts_the_bundle(leanix_server: LeanIXServer) -> None:
    trusting = ssl.create_default_context(cafile=leanix_server.ca_bundle)
    with httpx.Client(verify=trusting) as client:
        auth = LeanIXHttpxAuth(
            leanix_server.api_token, base_url=leanix_server.base_url, client=client
        )
        assert client.get(leanix_server.base_url + API, auth=auth).status_code == 200


def test_the_private_exchange_trusts_the_environments_bundle(
    leanix_server: LeanIXServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert leanix_server.ca_bundle is not None
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", leanix_server.ca_bundle)  # requests
    monkeypatch.setenv("SSL_CERT_FILE", leanix_server.ca_bundle)  # httpx
    url = leanix_server.base_url + API
    auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url)
    assert requests.get(url, auth=auth, timeout=5).status_code == 200
    with httpx.Client() as client:
        httpx_auth = LeanIXHttpxAuth(leanix_server.api_token, base_url=leanix_server.base_url)
        assert client.get(url, auth=httpx_auth).status_code == 200
    assert len(leanix_server.token_requests) == 2


@pytest.mark.parametrize("kind", [LeanIXAuth, LeanIXHttpxAuth])
def test_a_client_without_the_ca_gets_one_token_error_naming_the_certificate(
    leanix_server: LeanIXServer, kind: type[LeanIXAuth | LeanIXHttpxAuth]
) -> None:
    auth = kind(leanix_server.api_token, base_url=leanix_server.base_url)
    with pytest.raises(LeanIXTokenError) as caught:
        auth.get_token()
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    assert leanix_server.token_requests == []  # refused in the handshake, before any request


def test_leanix_auth_serve_tls_prints_the_bundle_to_trust() -> None:
    command = [str(Path(sys.executable).with_name("leanix-auth")), "serve", "--tls"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    lines = [process.stdout.readline() for _ in range(4)]
    base_url, bundle = lines[0].split()[-1], lines[3].removeprefix("ca bundle: ").strip()
    try:
        # No bearer: the fake's 401, over a connection that verified the fake's certificate.
        assert requests.get(base_url + API, verify=bundle, timeout=5).status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=10)
    assert process.returncode == 0
    assert not Path(bundle).exists()  # the throwaway CA goes with the process
