"""LeanIXAiohttpMiddleware keeps the httpx adapter's guarantees on aiohttp: one exchange for any
number of tasks, loops and threads; a 401 resent once, unless its body cannot be; the bearer only
where it belongs, on every hop; the exchange out of the user's session; cancellation that fails
no bystander; no blocking call on the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import aiohttp
import pytest
from yarl import URL

from leanix_auth import LeanIXAiohttpMiddleware, LeanIXTokenError, MemoryCache, SharedToken
from leanix_auth._clock import HandClock
from leanix_auth._keeper import REFUSED_FRESH_COOL_DOWN
from leanix_auth.testing import LeanIXServer

from ..clients import unreachable_url, until

T = TypeVar("T")
API = "/services/a/v1"
TOKEN_PATH = "/services/mtm/v1/oauth2/token"


@pytest.fixture
def other_host() -> Iterator[LeanIXServer]:
    """A second server that stands for any host that is not our LeanIX workspace."""
    with LeanIXServer() as server:
        yield server


def middleware_for(server: LeanIXServer, **options: Any) -> LeanIXAiohttpMiddleware:
    return LeanIXAiohttpMiddleware(server.api_token, base_url=server.base_url, **options)


def run(main: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(main())  # type: ignore[arg-type]


async def status(session: aiohttp.ClientSession, url: str, **options: Any) -> int:
    async with session.request(options.pop("method", "GET"), url, **options) as answer:
        await answer.read()
        return answer.status


def run_calls(middleware: LeanIXAiohttpMiddleware, urls: list[str], **options: Any) -> list[int]:
    """GET each of `urls` in turn, on one session with `middleware` (and `options`)."""

    async def main() -> list[int]:
        async with aiohttp.ClientSession(middlewares=(middleware,), **options) as session:
            return [await status(session, url) for url in urls]

    return run(main)


def test_500_cold_tasks_make_one_exchange(leanix_server: LeanIXServer) -> None:
    leanix_server.token_delay = 0.2  # a slow endpoint widens the window for a stampede
    middleware = middleware_for(leanix_server)

    async def main() -> list[int]:
        connector = aiohttp.TCPConnector(limit=50)
        async with aiohttp.ClientSession(middlewares=(middleware,), connector=connector) as session:
            calls = (status(session, leanix_server.base_url + API) for _ in range(500))
            return list(await asyncio.gather(*calls))

    assert run(main) == [200] * 500
    assert len(leanix_server.token_requests) == 1


def test_threads_each_with_their_own_loop_share_one_exchange(leanix_server: LeanIXServer) -> None:
    leanix_server.token_delay = 0.3
    middleware = middleware_for(leanix_server)
    statuses: list[int] = []

    async def calls() -> None:
        async with aiohttp.ClientSession(middlewares=(middleware,)) as session:
            for _ in range(3):
                statuses.append(await status(session, leanix_server.base_url + API))

    threads = [threading.Thread(target=asyncio.run, args=(calls(),)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 24
    assert len(leanix_server.token_requests) == 1


def test_a_revoked_token_gives_one_new_exchange_and_every_call_200(
    leanix_server: LeanIXServer,
) -> None:
    middleware = middleware_for(leanix_server)

    async def main() -> list[int]:
        async with aiohttp.ClientSession(middlewares=(middleware,)) as session:
            first = await status(session, leanix_server.base_url + API)
            leanix_server.revoke_tokens()
            leanix_server.token_delay = 0.2
            rest = await asyncio.gather(
                *(status(session, leanix_server.base_url + API) for _ in range(16))
            )
        return [first, *rest]

    assert run(main) == [200] * 17
    assert len(leanix_server.token_requests) == 2
    [new] = leanix_server.issued_tokens  # revoking forgot the old one
    bearers = [r.bearer for r in leanix_server.api_requests]
    assert bearers == bearers[:1] * 17 + [new] * 16  # each refused call resent once, with the new
    assert bearers[0] != new


BODIES: dict[str, Callable[[], dict[str, Any]]] = {
    "bytes": lambda: {"data": b'{"query": "{ me }"}'},
    "BytesIO": lambda: {"data": io.BytesIO(b'{"query": "{ me }"}')},  # 3.12.0-3.12.1 cannot
    "json": lambda: {"json": {"query": "{ me }"}},
}


@pytest.mark.parametrize("body", BODIES)
def test_a_refused_request_is_resent_with_its_whole_body(
    body: str, leanix_server: LeanIXServer
) -> None:
    middleware = middleware_for(leanix_server)

    async def main() -> int:
        async with aiohttp.ClientSession(middlewares=(middleware,)) as session:
            await middleware.aget_token()
            leanix_server.revoke_tokens()
            return await status(session, leanix_server.graphql_url, method="POST", **BODIES[body]())

    assert run(main) == 200
    refused, resent = leanix_server.api_requests
    assert refused.bearer != resent.bearer
    assert refused.json() == resent.json() == {"query": "{ me }"}


def test_an_async_generator_body_gets_its_401_with_no_second_send(
    leanix_server: LeanIXServer,
) -> None:
    middleware = middleware_for(leanix_server)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": '
        yield b'"{ me }"}'

    async def main() -> int:
        async with aiohttp.ClientSession(middlewares=(middleware,)) as session:
            await middleware.aget_token()
            leanix_server.revoke_tokens()
            return await status(session, leanix_server.graphql_url, method="POST", data=chunks())

    assert run(main) == 401  # aiohttp would have resent it empty
    [sent] = leanix_server.api_requests
    assert sent.body == b'{"query": "{ me }"}'
    assert len(leanix_server.token_requests) == 1


def test_a_second_401_goes_back_to_the_caller(leanix_server: LeanIXServer) -> None:
    leanix_server.add("GET", API + "/forbidden-for-ever", status=401, json={"errors": ["no"]})
    middleware = middleware_for(leanix_server)
    assert run_calls(middleware, [leanix_server.base_url + API + "/forbidden-for-ever"]) == [401]
    assert len(leanix_server.api_requests) == 2  # the request and one resend, no loop
    assert len(leanix_server.token_requests) == 2


def test_an_api_that_refuses_every_token_costs_two_exchanges_per_cool_down(
    leanix_server: LeanIXServer, clock: HandClock
) -> None:
    leanix_server.add("GET", API + "/forbidden", status=401)
    middleware = middleware_for(leanix_server)
    forbidden = leanix_server.base_url + API + "/forbidden"
    assert run_calls(middleware, [forbidden] * 50) == [401] * 50
    # The first 401 is healed with a new token; that one is refused at once too: the API refuses
    # fresh tokens, so their 401s pass through for the cool-down.
    assert len(leanix_server.token_requests) == 2
    clock.advance(REFUSED_FRESH_COOL_DOWN)
    assert run_calls(middleware, [forbidden]) == [401]
    assert len(leanix_server.token_requests) == 3  # the cool-down is over: one more try


def test_a_token_accepted_after_a_refusal_heals_its_revocation_at_once(
    leanix_server: LeanIXServer,
) -> None:
    leanix_server.add("GET", API + "/forbidden", status=401)
    middleware = middleware_for(leanix_server)
    url = leanix_server.base_url + API
    assert run_calls(middleware, [url + "/forbidden", url]) == [401, 200]  # the fresh one is good
    leanix_server.revoke_tokens()
    assert run_calls(middleware, [url]) == [200]  # healed on the first call
    assert len(leanix_server.token_requests) == 3


def test_a_redirect_to_another_origin_carries_no_authorization(
    leanix_server: LeanIXServer, other_host: LeanIXServer
) -> None:
    away, home = other_host.base_url + API + "/here", leanix_server.base_url + API + "/home"
    leanix_server.add("GET", "/moved-away", status=302, headers={"Location": away})
    leanix_server.add("GET", "/moved-within", status=302, headers={"Location": home})
    middleware = middleware_for(leanix_server)

    async def main() -> list[str]:
        async with aiohttp.ClientSession(middlewares=(middleware,)) as session:
            async with session.get(leanix_server.base_url + "/moved-away") as there:
                pass
            async with session.get(leanix_server.base_url + "/moved-within") as within:
                pass
        return [str(there.url), str(within.url), str(within.status)]

    assert run(main) == [away, home, "200"]
    [seen] = other_host.api_requests
    assert "Authorization" not in seen.headers
    # Each hop is a new request, built from the caller's headers: the middleware, run again for
    # it, gave the bearer to the hop that stayed home and none to the one that left.
    paths = [r.path for r in leanix_server.api_requests]
    assert paths == ["/moved-away", "/moved-within", API + "/home"]
    assert all(r.bearer is not None for r in leanix_server.api_requests)


def test_other_hosts_never_see_the_bearer_nor_trigger_a_retry(
    leanix_server: LeanIXServer, other_host: LeanIXServer
) -> None:
    middleware = middleware_for(leanix_server)
    urls = [leanix_server.base_url + API, other_host.base_url + API]
    assert run_calls(middleware, urls) == [200, 401]  # the other host wants its own token
    [seen] = other_host.api_requests
    assert "Authorization" not in seen.headers
    assert len(leanix_server.token_requests) == 1


def test_the_instance_url_of_the_token_may_receive_the_bearer(leanix_server: LeanIXServer) -> None:
    # Configured as localhost; the token's instanceUrl names 127.0.0.1, another origin.
    localhost = leanix_server.base_url.replace("127.0.0.1", "localhost")
    instance = leanix_server.base_url
    middleware = LeanIXAiohttpMiddleware(leanix_server.api_token, base_url=localhost)
    urls = [instance + API + "/before-any-token", localhost + API, instance + API + "/after"]
    assert run_calls(middleware, urls) == [401, 200, 200]  # not ours before a token names it
    assert [r.bearer is not None for r in leanix_server.api_requests] == [False, True, True]


def test_the_users_session_never_sees_the_token_request(leanix_server: LeanIXServer) -> None:
    seen: list[str] = []

    async def on_request_start(_: object, __: object, params: Any) -> None:
        seen.append(f"trace {params.url.path}")

    async def theirs(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        seen.append(f"middleware {request.url.path}")
        return await handler(request)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    leanix_server.fail_token_requests(503, times=1)  # raise_for_status must not end the exchange
    middleware = middleware_for(leanix_server)

    async def main() -> int:
        jar = aiohttp.CookieJar(unsafe=True)  # unsafe: cookies for an IP address
        jar.update_cookies({"theirs": "1"}, URL(leanix_server.base_url))
        async with aiohttp.ClientSession(
            middlewares=(middleware, theirs),
            trace_configs=[trace],
            raise_for_status=True,
            cookie_jar=jar,
        ) as session:
            return await status(session, leanix_server.base_url + API)

    assert run(main) == 200
    assert seen == [f"trace {API}", f"middleware {API}"]
    assert len(leanix_server.token_requests) == 2  # the 503, then the exchange retried
    assert all("Cookie" not in r.headers for r in leanix_server.token_requests)
    assert leanix_server.api_requests[0].headers["Cookie"] == "theirs=1"


def test_the_exchange_has_its_own_timeout_and_it_is_one_token_error_for_every_task(
    leanix_server: LeanIXServer,
) -> None:
    leanix_server.token_delay = 1.0
    middleware = middleware_for(leanix_server, timeout=0.3)

    async def main() -> list[BaseException | int]:
        timeout = aiohttp.ClientTimeout(total=60)  # the user's, far longer: not what ends it
        async with aiohttp.ClientSession(middlewares=(middleware,), timeout=timeout) as session:
            calls = (status(session, leanix_server.base_url + API) for _ in range(10))
            return list(await asyncio.gather(*calls, return_exceptions=True))

    outcomes = run(main)
    assert all(isinstance(outcome, LeanIXTokenError) for outcome in outcomes)
    assert all("no answer within 0.3 s" in str(outcome) for outcome in outcomes)
    assert len(leanix_server.token_requests) == 1


def test_a_refused_connection_is_retried_then_one_token_error(clock: HandClock) -> None:
    middleware = LeanIXAiohttpMiddleware("t", base_url=unreachable_url())
    with pytest.raises(LeanIXTokenError, match=r"token endpoint http://127\.0\.0\.1:\d+/.*could"):
        run_calls(middleware, [middleware.base_url + API])
    assert len(clock.slept) == 3  # the pauses between four attempts


def test_a_redirect_of_the_token_endpoint_is_not_followed(leanix_server: LeanIXServer) -> None:
    elsewhere = {"Location": leanix_server.base_url + "/elsewhere"}
    leanix_server.add("POST", TOKEN_PATH, status=302, headers=elsewhere)
    middleware = middleware_for(leanix_server)
    with pytest.raises(LeanIXTokenError, match="redirected"):
        run_calls(middleware, [leanix_server.base_url + API])
    assert leanix_server.api_requests == []  # nothing followed the redirect


def test_cancelling_the_exchanging_task_fails_none_of_its_99_waiters(
    leanix_server: LeanIXServer,
) -> None:
    leanix_server.token_delay = 0.5
    middleware = middleware_for(leanix_server)
    url = leanix_server.base_url + API

    async def main() -> tuple[bool, list[int]]:
        async with aiohttp.ClientSession(middlewares=(middleware,)) as session:
            exchanging = asyncio.create_task(status(session, url))
            await until(lambda: leanix_server.token_requests)  # its exchange is under way
            waiters = [asyncio.create_task(status(session, url)) for _ in range(99)]
            await asyncio.sleep(0.1)  # let the 99 line up behind it
            exchanging.cancel()
            statuses = await asyncio.gather(*waiters)
            with contextlib.suppress(asyncio.CancelledError):
                await exchanging
        return exchanging.cancelled(), list(statuses)

    cancelled, statuses = run(main)
    assert cancelled
    assert statuses == [200] * 99
    assert len(set(leanix_server.issued_tokens)) <= 2
    assert len({r.bearer for r in leanix_server.api_requests}) == 1


def test_a_refresh_ahead_holds_up_only_the_task_that_runs_it(
    clock: HandClock, leanix_server: LeanIXServer
) -> None:
    leanix_server.token_ttl = 5
    middleware = middleware_for(leanix_server)
    url = leanix_server.base_url + API

    async def main() -> int:
        async with aiohttp.ClientSession(middlewares=(middleware,)) as session:
            await status(session, url)
            leanix_server.token_delay = 0.5
            clock.advance(3.1)  # into the refresh window
            refreshing = asyncio.create_task(status(session, url))
            await until(lambda: len(leanix_server.token_requests) == 2)
            assert await status(session, url) == 200  # this one does not wait
            return await refreshing

    assert run(main) == 200
    old, new = leanix_server.issued_tokens
    # The first call, the task that did not wait, then the refreshing task's own call.
    assert [r.bearer for r in leanix_server.api_requests] == [old, old, new]


class ThreadRecordingCache(MemoryCache):
    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()

    def load(self, key: str) -> SharedToken | None:
        self.threads.add(threading.get_ident())
        return super().load(key)

    def store(self, key: str, token: SharedToken) -> None:
        self.threads.add(threading.get_ident())
        super().store(key, token)


def test_cache_and_api_token_source_calls_never_run_on_the_event_loop(
    leanix_server: LeanIXServer,
) -> None:
    source_threads: set[int] = set()

    def source() -> str:
        source_threads.add(threading.get_ident())
        return leanix_server.api_token

    cache = ThreadRecordingCache()
    middleware = LeanIXAiohttpMiddleware(source, base_url=leanix_server.base_url, cache=cache)

    async def main() -> tuple[int, int]:
        async with aiohttp.ClientSession(middlewares=(middleware,)) as session:
            return await status(session, leanix_server.base_url + API), threading.get_ident()

    answer, loop_thread = run(main)
    assert answer == 200
    assert source_threads
    assert cache.threads
    assert loop_thread not in source_threads | cache.threads
