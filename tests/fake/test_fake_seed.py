"""LeanIX's own authentication guide, run against the fake: the token request and then the API
request of each of its examples (curl, axios, OkHttp, requests), byte for byte as each client sends
them, over a real socket. curl 7.88, axios 1.21 and requests 2.34 were captured on the wire;
OkHttp 4's are its BridgeInterceptor's documented defaults. The API request carries the bearer
that the example's own token request got."""

from __future__ import annotations

import base64
import http.client
import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from leanix_auth.testing import LeanIXServer

# The guide's Base64 credentials, "apitoken:" and the API token they stand for.
SEED_BASIC = "YXBpdG9rZW46SnFjU2ZlQjdzTzNCZDlkRURjU09YZmpzNkc2T1JDc1Q2RzlmQkhDYw=="
SEED_API_TOKEN = base64.b64decode(SEED_BASIC).decode().partition(":")[2]
FORM = "grant_type=client_credentials"

# Each example: its token request, its API request; {host} and {bearer} are filled in.
EXAMPLES = {
    "curl": (
        "POST /services/mtm/v1/oauth2/token HTTP/1.1\r\nHost: {host}\r\n"
        "User-Agent: curl/7.88.1\r\nAccept: */*\r\n"
        f"Authorization: Basic {SEED_BASIC}\r\nContent-Length: 29\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\n\r\n{FORM}",
        "GET /test/api/v1/services HTTP/1.1\r\nHost: {host}\r\nUser-Agent: curl/7.88.1\r\n"
        "Accept: */*\r\nAuthorization: Bearer {bearer}\r\n\r\n",
    ),
    "axios": (
        "POST /services/mtm/v1/oauth2/token HTTP/1.1\r\n"
        "Accept: application/json, text/plain, */*\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Authorization: Basic {SEED_BASIC}\r\nUser-Agent: axios/1.21.1\r\n"
        "Content-Length: 29\r\nAccept-Encoding: gzip, compress, deflate, br\r\n"
        f"Host: {{host}}\r\nConnection: keep-alive\r\n\r\n{FORM}",
        "GET /demo/api/v1/services HTTP/1.1\r\nAccept: application/json, text/plain, */*\r\n"
        "Authorization: Bearer {bearer}\r\nUser-Agent: axios/1.21.1\r\n"
        "Accept-Encoding: gzip, compress, deflate, br\r\nHost: {host}\r\n"
        "Connection: keep-alive\r\n\r\n",
    ),
    "okhttp": (
        f"POST /services/mtm/v1/oauth2/token HTTP/1.1\r\nauthorization: Basic {SEED_BASIC}\r\n"
        "Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n"
        "Content-Length: 29\r\nHost: {host}\r\nConnection: Keep-Alive\r\n"
        f"Accept-Encoding: gzip\r\nUser-Agent: okhttp/4.12.0\r\n\r\n{FORM}",
        "GET /test/api/v1/services HTTP/1.1\r\nAuthorization: Bearer {bearer}\r\nHost: {host}\r\n"
        "Connection: Keep-Alive\r\nAccept-Encoding: gzip\r\nUser-Agent: okhttp/4.12.0\r\n\r\n",
    ),
    "requests": (
        "POST /services/mtm/v1/oauth2/token HTTP/1.1\r\nHost: {host}\r\n"
        "User-Agent: python-requests/2.34.2\r\nAccept-Encoding: gzip, deflate\r\nAccept: */*\r\n"
        f"Connection: keep-alive\r\nAuthorization: Basic {SEED_BASIC}\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 29\r\n\r\n{FORM}",
        "GET /test/api/v1/services HTTP/1.1\r\nHost: {host}\r\n"
        "User-Agent: python-requests/2.34.2\r\nAccept-Encoding: gzip, deflate\r\nAccept: */*\r\n"
        "Connection: keep-alive\r\nAuthorization: Bearer {bearer}\r\n\r\n",
    ),
}


def replay(host: str, port: int, raw: str) -> tuple[int, dict[str, object]]:
    """Send `raw` as it is over a new connection; the status and JSON body of the answer."""
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(raw.format(host=f"{host}:{port}").encode())
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        return answer.status, json.loads(answer.read())


def run_example(host: str, port: int, name: str) -> tuple[int, int, dict[str, object]]:
    """The example's token request, then its API request with the bearer that got; the two
    statuses and the API's answer."""
    token_request, api_request = EXAMPLES[name]
    token_status, token_answer = replay(host, port, token_request)
    bearer = str(token_answer.get("access_token"))
    api_status, api_answer = replay(host, port, api_request.replace("{bearer}", bearer))
    return token_status, api_status, api_answer


@pytest.mark.leanix(api_token=SEED_API_TOKEN)
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_each_example_of_the_guide_gets_a_token_and_then_a_200(
    leanix_server: LeanIXServer, name: str
) -> None:
    token_status, api_status, echo = run_example("127.0.0.1", leanix_server.port, name)
    assert (token_status, api_status) == (200, 200)
    assert echo["method"] == "GET"
    assert echo["path"] in ("/test/api/v1/services", "/demo/api/v1/services")
    assert leanix_server.unmatched_requests == []


@pytest.mark.leanix(api_token=SEED_API_TOKEN)
def test_the_workspace_path_still_checks_the_bearer(leanix_server: LeanIXServer) -> None:
    _, api_request = EXAMPLES["curl"]
    status, answer = replay(
        "127.0.0.1", leanix_server.port, api_request.replace("{bearer}", "eyJhbGciOi.forged.x")
    )
    assert (status, answer["errors"]) == (401, [{"message": "Unauthorized"}])


@pytest.fixture
def served() -> Iterator[tuple[str, int]]:
    """`leanix-auth serve` in its own process, accepting the guide's API token."""
    command = [str(Path(sys.executable).with_name("leanix-auth")), "serve"]
    process = subprocess.Popen(
        [*command, "--api-token", SEED_API_TOKEN], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    base_url = process.stdout.readline().split()[-1]  # "fake LeanIX listening on http://..."
    host, _, port = base_url.removeprefix("http://").rpartition(":")
    try:
        yield host, int(port)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=10)


def test_the_curl_example_against_leanix_auth_serve(served: tuple[str, int]) -> None:
    host, port = served
    token_status, api_status, echo = run_example(host, port, "curl")
    assert (token_status, api_status, echo["path"]) == (200, 200, "/test/api/v1/services")
