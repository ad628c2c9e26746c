"""Auth objects survive pickle, copy and fork: they carry configuration, never a token."""

from __future__ import annotations

import copy
import os
import pickle
import signal
import threading
import time
import warnings

import pytest
import requests

from leanix_auth import LeanIXAuth, LeanIXHttpxAuth
from leanix_auth.testing import LeanIXServer


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
        session.get(leanix_server.base_url + "/services/a/v1")
        with pickle.loads(pickle.dumps(session)) as clone:
            assert clone.get(leanix_server.base_url + "/services/a/v1").status_code == 200


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
