"""The token exchange goes through a private client, never the user's: their hooks, history and
redirect settings never see it, and never change how it is retried."""

from __future__ import annotations

import anyio
import httpx
import pytest
import requests

from leanix_auth import (
    LeanIXAuth,
    LeanIXConfigError,
    LeanIXCredentialsError,
    LeanIXHttpxAuth,
    LeanIXTokenError,
)
from leanix_auth.testing import HandClock, LeanIXServer

from ..clients import unreachable_url

TOKEN_PATH = "/services/mtm/v1/oauth2/token"


def auth_for(server: LeanIXServer, **options: object) -> LeanIXHttpxAuth:
    return LeanIXHttpxAuth(server.api_token, base_url=server.base_url, **options)  # type: ignore[arg-type]


def test_event_hooks_and_history_never_see_the_token_request(leanix_server: LeanIXServer) -> None:
    seen: list[str] = []
    hooks = {"request": [lambda r: seen.append(f"{r.method} {r.url.path} {r.headers}")]}
    with httpx.Client(auth=auth_for(leanix_server), event_hooks=hooks) as client:
        answer = client.get(leanix_server.base_url + "/services/a/v1")
    assert answer.status_code == 200
    assert answer.history == []
    assert len(seen) == 1
    assert TOKEN_PATH not in seen[0]
    assert "Basic" not in seen[0]
    assert len(leanix_server.token_requests) == 1


def test_async_event_hooks_and_history_never_see_the_token_request(
    leanix_server: LeanIXServer, backend: str
) -> None:
    seen: list[str] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(request.url.path)

    async def main() -> httpx.Response:
        hooks = {"request": [hook]}
        async with httpx.AsyncClient(auth=auth_for(leanix_server), event_hooks=hooks) as client:
            return await client.get(leanix_server.base_url + "/services/a/v1")

    answer = anyio.run(main, backend=backend)
    assert answer.status_code == 200
    assert answer.history == []
    assert seen == ["/services/a/v1"]


def test_a_raise_for_status_hook_does_not_stop_a_retried_exchange(
    leanix_server: LeanIXServer,
) -> None:
    leanix_server.fail_token_requests(503, times=1)
    hooks = {"response": [lambda r: r.raise_for_status()]}
    with httpx.Client(auth=auth_for(leanix_server), event_hooks=hooks) as client:
        assert client.get(leanix_server.base_url + "/services/a/v1").status_code == 200
    assert len(leanix_server.token_requests) == 2


def test_a_client_that_follows_redirects_does_not_follow_the_token_endpoints(
    leanix_server: LeanIXServer,
) -> None:
    leanix_server.add(
        "POST", TOKEN_PATH, status=302, headers={"Location": leanix_server.base_url + "/elsewhere"}
    )
    with (
        httpx.Client(auth=auth_for(leanix_server), follow_redirects=True) as client,
        pytest.raises(LeanIXTokenError, match="redirected"),
    ):
        client.get(leanix_server.base_url + "/services/a/v1")
    assert [r.path for r in leanix_server.api_requests] == []  # nothing followed the redirect


def test_a_refused_connection_is_retried_then_one_token_error(clock: HandClock) -> None:
    auth = LeanIXHttpxAuth("t", base_url=unreachable_url())
    with (
        httpx.Client(auth=auth) as client,
        pytest.raises(LeanIXTokenError, match=r"token endpoint http://127\.0\.0\.1:\d+/.*could"),
    ):
        client.get(auth.base_url + "/services/a/v1")
    assert len(clock.slept) == 3  # four attempts, three pauses


def test_a_refused_connection_is_one_token_error_in_async_clients(
    backend: str, clock: HandClock
) -> None:
    auth = LeanIXHttpxAuth("t", base_url=unreachable_url())

    async def main() -> None:
        async with httpx.AsyncClient(auth=auth) as client:
            await client.get(auth.base_url + "/services/a/v1")

    with pytest.raises(LeanIXTokenError, match="could not be reached"):
        anyio.run(main, backend=backend)
    assert len(clock.slept) == 3  # four attempts, three pauses


def test_client_and_async_client_carry_the_exchange(
    leanix_server: LeanIXServer, backend: str
) -> None:
    carried: list[str] = []

    async def async_hook(request: httpx.Request) -> None:
        carried.append("async " + request.url.path)

    own = httpx.Client(event_hooks={"request": [lambda r: carried.append("sync " + r.url.path)]})
    aown = httpx.AsyncClient(event_hooks={"request": [async_hook]})
    auth = auth_for(leanix_server, client=own, async_client=aown)
    with own, httpx.Client(auth=auth) as client:
        assert client.get(leanix_server.base_url + "/services/a/v1").status_code == 200
        assert auth.refresh()

    async def main() -> str:
        async with aown:
            return await auth.arefresh()

    assert anyio.run(main, backend=backend)
    assert carried == ["sync " + TOKEN_PATH] * 2 + ["async " + TOKEN_PATH]


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("client", httpx.AsyncClient()),
        ("async_client", httpx.Client()),
        ("client", requests.Session()),
    ],
)
def test_a_client_of_the_wrong_type_is_a_config_error(keyword: str, value: object) -> None:
    with pytest.raises(LeanIXConfigError, match=keyword):
        LeanIXHttpxAuth("t", subdomain="acme", **{keyword: value})  # type: ignore[arg-type]


def test_raise_for_status_hooks_on_the_carriers_change_no_rule_of_the_exchange(
    leanix_server: LeanIXServer, backend: str
) -> None:
    async def araise(response: httpx.Response) -> None:
        response.raise_for_status()

    session = requests.Session()
    session.hooks["response"].append(lambda r, **_: r.raise_for_status())
    client = httpx.Client(event_hooks={"response": [lambda r: r.raise_for_status()]})
    aclient = httpx.AsyncClient(event_hooks={"response": [araise]})
    carried = [
        LeanIXAuth(leanix_server.api_token, base_url=leanix_server.base_url, session=session),
        auth_for(leanix_server, client=client),
    ]
    for auth in carried:
        leanix_server.fail_token_requests(503, times=1)
        assert auth.refresh()  # a 503 is retried, not raised as the hook's HTTPError
    async_auth = auth_for(leanix_server, async_client=aclient)

    async def main() -> str:
        leanix_server.fail_token_requests(503, times=1)
        return await async_auth.arefresh()

    assert anyio.run(main, backend=backend)
    assert len(leanix_server.token_requests) == 6  # a 503 and a 200 each
    leanix_server.rotate_api_token()  # the API token the carriers' auths hold is now wrong
    for auth in carried:
        with pytest.raises(LeanIXCredentialsError, match="rejected the API token"):
            auth.refresh()  # a 401 is our credentials error, which a rotated source heals
    session.close()
    client.close()


def test_an_error_under_the_exchange_is_one_token_error_and_pauses_the_next(
    leanix_server: LeanIXServer, clock: HandClock
) -> None:
    def broken(response: httpx.Response) -> None:
        raise RuntimeError("a hook of the user's that fails")

    with httpx.Client(event_hooks={"response": [broken]}) as client:
        auth = auth_for(leanix_server, client=client)
        with pytest.raises(LeanIXTokenError, match="failed: RuntimeError") as caught:
            auth.get_token()
        assert isinstance(caught.value.__cause__, RuntimeError)
        with pytest.raises(LeanIXTokenError, match="failed: RuntimeError"):
            auth.get_token()  # inside the pause: the last error at once, no new exchange
    assert len(leanix_server.token_requests) == 1
