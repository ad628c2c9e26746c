"""Nothing secret leaks; auth objects survive fork, pickle and copy; importing stays light."""

from __future__ import annotations

import copy
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import warnings

import pytest
import requests

from leanix_auth import LeanIXAuth, LeanIXAuthError, LeanIXHttpxAuth
from leanix_auth.testing import LeanIXServer

from .clients import Callers


def secrets_of(server: LeanIXServer) -> list[str]:
    """The API token and every access token, each also as the 40-character prefix a log might
    cut it to."""
    whole = [server.api_token, *server.issued_tokens]
    return whole + [s[:40] for s in whole if len(s) > 40]


def assert_nothing_secret(texts: list[str], server: LeanIXServer) -> None:
    for secret in secrets_of(server):
        for text in texts:
            assert secret not in text


def test_no_secret_in_logs_reprs_or_errors_on_any_path(
    kind: str, leanix_server: LeanIXServer, make_caller: Callers, all_logs: list[logging.LogRecord]
) -> None:
    leanix_server.token_ttl = 5
    call, auth = make_caller(kind, leanix_server)
    texts = [repr(auth), str(auth)]
    assert call(leanix_server.base_url + "/x") == 200  # a good exchange
    leanix_server.revoke_tokens()
    assert call(leanix_server.base_url + "/x") == 200  # a 401 and a retry
    leanix_server.fail_token_requests(503, times=1)
    time.sleep(3.1)
    assert call(leanix_server.base_url + "/x") == 200  # a refresh ahead, failed once, retried
    leanix_server.add("POST", "/services/mtm/v1/oauth2/token", body=leanix_server.api_token)
    leanix_server.revoke_tokens()
    with pytest.raises(LeanIXAuthError) as broken:  # a 200 that is not JSON but is a secret
        call(leanix_server.base_url + "/x")
    wrong, _ = make_caller(kind, leanix_server, api_token="wrong-" + leanix_server.api_token)
    with pytest.raises(LeanIXAuthError) as refused:
        wrong(leanix_server.base_url + "/x")
    texts += [repr(broken.value), str(broken.value), repr(refused.value), str(refused.value)]
    texts += [record.getMessage() for record in all_logs]
    texts += [repr(record.args) for record in all_logs]
    assert any("leanix_auth" in r.name for r in all_logs)  # our own logging ran
    assert_nothing_secret(texts, leanix_server)


def test_settings_and_tokens_keep_secrets_out_of_repr(leanix_server: LeanIXServer) -> None:
    auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url)
    auth.get_token()
    texts = [repr(vars(auth)), repr(auth._settings), repr(auth._keeper.valid_token())]
    assert_nothing_secret(texts, leanix_server)


@pytest.mark.parametrize("auth_class", [LeanIXAuth, LeanIXHttpxAuth])
def test_a_pickle_carries_no_access_token_and_works_after(
    auth_class: type[LeanIXAuth], leanix_server: LeanIXServer
) -> None:
    auth = auth_class(leanix_server.api_token, base_url=leanix_server.base_url)
    token = auth.get_token()
    data = pickle.dumps(auth)
    assert token.encode() not in data
    clone = pickle.loads(data)
    assert clone.get_token() != token
    assert len(leanix_server.token_requests) == 2


def test_a_pickled_session_works_after_unpickling(leanix_server: LeanIXServer) -> None:
    with requests.Session() as session:
        session.auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url)
        session.get(leanix_server.base_url + "/x")
        with pickle.loads(pickle.dumps(session)) as clone:
            assert clone.get(leanix_server.base_url + "/x").status_code == 200


def test_copy_gives_an_independent_cache(leanix_server: LeanIXServer) -> None:
    auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url)
    first = auth.get_token()
    assert copy.copy(auth).get_token() != first
    assert copy.deepcopy(auth).get_token() != first
    assert auth.get_token() == first


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_forked_child_is_not_stuck_behind_the_parents_exchange(
    leanix_server: LeanIXServer,
) -> None:
    leanix_server.token_delay = 1.0
    auth = LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url)
    parent_exchange = threading.Thread(target=auth.get_token)
    parent_exchange.start()
    deadline = time.monotonic() + 5
    while not leanix_server.token_requests:  # the parent's exchange is now under way
        assert time.monotonic() < deadline
        time.sleep(0.01)
    leanix_server.token_delay = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "fork() of a threaded process"
        pid = os.fork()
    if pid == 0:  # the child: its own exchange, not a wait for a thread it does not have
        signal.alarm(10)  # if it waited for the parent's exchange, it would wait for ever
        try:
            auth.get_token()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    parent_exchange.join()
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(leanix_server.token_requests) == 2


def test_importing_leanix_auth_imports_no_http_client_and_no_crypto() -> None:
    code = (
        "import sys, leanix_auth;"
        "heavy = {'requests', 'httpx', 'jwt', 'cryptography', 'pytest'} & set(sys.modules);"
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
