"""The API token from where teams keep secrets: a string, the environment, a file or a callable,
read when an exchange is due, and rotated without a restart."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio
import httpx
import pytest
import requests

from leanix_auth import (
    LeanIXAuth,
    LeanIXConfigError,
    LeanIXCredentialsError,
    LeanIXHttpxAuth,
    _token_source,
    api_token_file,
)
from leanix_auth.testing import LeanIXServer

EXE = str(Path(sys.executable).with_name("leanix-auth"))


class Vault:
    """A stand-in for a secrets manager: counts its reads and the threads they ran on."""

    def __init__(self, *values: str) -> None:
        self.values = list(values)
        self.reads = 0
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            self.reads += 1
            self.threads.add(threading.current_thread().name)
            return self.values[0] if len(self.values) == 1 else self.values.pop(0)


def secret_file(tmp_path: Path, value: str, name: str = "leanix-token") -> Path:
    path = tmp_path / name
    path.write_text(f"  {value}\n")
    return path


def test_a_callable_is_read_once_per_exchange_not_per_request(leanix_server: LeanIXServer) -> None:
    leanix_server.token_delay = 0.2
    vault = Vault(leanix_server.api_token)
    auth = LeanIXAuth(vault, base_url=leanix_server.base_url)

    def work(_: int) -> list[int]:
        with requests.Session() as session:
            session.auth = auth
            return [session.get(leanix_server.base_url + "/services/a/v1").status_code] * 3

    with ThreadPoolExecutor(64) as pool:
        assert {s for batch in pool.map(work, range(64)) for s in batch} == {200}
    assert vault.reads == len(leanix_server.token_requests) == 1


def test_a_callable_that_fails_is_a_credentials_error_naming_it_not_its_words(
    leanix_server: LeanIXServer,
) -> None:
    def sealed() -> str:
        raise RuntimeError(f"vault is sealed; last token was {leanix_server.api_token}")

    with pytest.raises(
        LeanIXCredentialsError, match=r"api_token callable \S*sealed: RuntimeError"
    ) as caught:
        LeanIXAuth(sealed, base_url=leanix_server.base_url).get_token()
    assert leanix_server.api_token not in str(caught.value)
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert leanix_server.token_requests == []


def test_a_file_rotated_on_disk_is_used_at_the_next_exchange(
    leanix_server: LeanIXServer, tmp_path: Path
) -> None:
    path = secret_file(tmp_path, leanix_server.api_token)
    auth = LeanIXAuth(api_token_file(path), base_url=leanix_server.base_url)
    url = leanix_server.base_url + "/services/a/v1"
    with requests.Session() as session:
        session.auth = auth
        assert session.get(url).status_code == 200
        path.write_text(leanix_server.rotate_api_token() + "\n")  # and the old one is refused
        leanix_server.revoke_tokens()
        assert session.get(url).status_code == 200
    assert len(leanix_server.token_requests) == 2  # one more exchange, no error


def test_a_stale_source_is_read_again_after_a_rejection(leanix_server: LeanIXServer) -> None:
    old = leanix_server.api_token
    auth = LeanIXAuth(Vault(old), base_url=leanix_server.base_url)
    assert auth.get_token()
    new = leanix_server.rotate_api_token()
    vault = Vault(old, new)  # a client-side cache of the secret that is one read behind
    auth = LeanIXAuth(vault, base_url=leanix_server.base_url)
    assert auth.get_token() in leanix_server.issued_tokens  # no error reaches the caller
    assert vault.reads == 2
    assert len(leanix_server.token_requests) == 3  # the first auth's, a refusal, the new one


def test_a_source_that_still_holds_the_refused_token_is_an_error(
    leanix_server: LeanIXServer,
) -> None:
    vault = Vault(leanix_server.api_token)
    leanix_server.rotate_api_token()
    with pytest.raises(LeanIXCredentialsError, match="the api_token callable"):
        LeanIXAuth(vault, base_url=leanix_server.base_url).get_token()
    assert vault.reads == 2  # read again after the refusal: unchanged, so no second exchange
    assert len(leanix_server.token_requests) == 1


def test_async_clients_read_the_source_off_the_event_loop(
    leanix_server: LeanIXServer, tmp_path: Path, backend: str
) -> None:
    vault = Vault(leanix_server.api_token)
    auth = LeanIXHttpxAuth(vault, base_url=leanix_server.base_url)
    url = leanix_server.base_url + "/services/a/v1"

    async def main() -> int:
        async with httpx.AsyncClient(auth=auth) as client:
            first = await client.get(url)
            vault.values = [leanix_server.rotate_api_token()]
            leanix_server.revoke_tokens()
            second = await client.get(url)
        return first.status_code + second.status_code

    assert anyio.run(main, backend=backend) == 400
    assert vault.reads == 2
    assert threading.main_thread().name not in vault.threads


@pytest.mark.parametrize("change", ["vanishes", "empties"])
def test_a_file_that_goes_away_spares_the_held_token_and_fails_the_next_exchange(
    leanix_server: LeanIXServer, tmp_path: Path, change: str
) -> None:
    path = secret_file(tmp_path, leanix_server.api_token)
    auth = LeanIXAuth(api_token_file(path), base_url=leanix_server.base_url)
    held = auth.get_token()
    if change == "vanishes":
        path.unlink()
    else:
        path.write_text("\n")
    assert auth.get_token() == held
    with pytest.raises(LeanIXCredentialsError, match=str(path)) as caught:
        auth.refresh()
    assert leanix_server.api_token not in str(caught.value)
    assert len(leanix_server.token_requests) == 1  # the old value was not used again


def test_a_file_missing_or_empty_at_construction_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(LeanIXConfigError, match="No such file"):
        api_token_file(tmp_path / "absent")
    with pytest.raises(LeanIXConfigError, match="it is empty"):
        api_token_file(secret_file(tmp_path, ""))


def test_the_environment_names_a_file_or_a_token_but_not_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, leanix_server: LeanIXServer
) -> None:
    path = secret_file(tmp_path, leanix_server.api_token)
    monkeypatch.setenv("LEANIX_BASE_URL", leanix_server.base_url)
    monkeypatch.delenv("LEANIX_API_TOKEN", raising=False)
    monkeypatch.setenv("LEANIX_API_TOKEN_FILE", str(path))
    assert LeanIXAuth().get_token() in leanix_server.issued_tokens
    monkeypatch.setenv("LEANIX_API_TOKEN", leanix_server.api_token)
    with pytest.raises(LeanIXConfigError, match="both LEANIX_API_TOKEN and LEANIX_API_TOKEN_FILE"):
        LeanIXAuth()


def read_from_a_vault() -> str:
    return os.environ["TOKEN_FOR_THE_PICKLE_TEST"]


def test_pickles_carry_the_path_or_the_callable_never_a_read_token(
    leanix_server: LeanIXServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = secret_file(tmp_path, leanix_server.api_token)
    from_file = LeanIXAuth(api_token_file(path), base_url=leanix_server.base_url)
    from_file.get_token()
    data = pickle.dumps(from_file)
    assert leanix_server.api_token.encode() not in data
    assert str(path).encode() in data
    assert pickle.loads(data).get_token() in leanix_server.issued_tokens
    monkeypatch.setenv("TOKEN_FOR_THE_PICKLE_TEST", leanix_server.api_token)
    from_callable = LeanIXHttpxAuth(read_from_a_vault, base_url=leanix_server.base_url)
    from_callable.get_token()
    data = pickle.dumps(from_callable)
    assert leanix_server.api_token.encode() not in data
    assert pickle.loads(data).get_token() in leanix_server.issued_tokens
    assert str(path) in repr(from_file._settings.source)
    assert leanix_server.api_token not in repr(from_file._settings.source)


def test_a_file_cache_shared_by_a_rotated_and_a_not_yet_rotated_process(
    leanix_server: LeanIXServer, tmp_path: Path
) -> None:
    old_file = secret_file(tmp_path, leanix_server.api_token, "old")

    def token(secret: Path) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEANIX_")}
        env.update(
            XDG_CACHE_HOME=str(tmp_path / "cache"),
            LEANIX_BASE_URL=leanix_server.base_url,
            LEANIX_API_TOKEN_FILE=str(secret),
        )
        done = subprocess.run([EXE, "token"], env=env, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    before = token(old_file)
    new_file = secret_file(tmp_path, leanix_server.rotate_api_token(), "new")
    rotated = token(new_file)
    assert rotated != before  # never the token of the other API token
    assert token(old_file) == before  # the not-yet-rotated one keeps its own, still valid
    assert token(new_file) == rotated
    assert len(leanix_server.token_requests) == 2
    assert len(list((tmp_path / "cache" / "leanix-auth").glob("*.json"))) == 2


def test_a_pipe_is_read_once_and_its_token_kept(
    leanix_server: LeanIXServer, tmp_path: Path
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=fifo.write_text, args=(leanix_server.api_token + "\n",))
    writer.start()
    auth = LeanIXAuth(api_token_file(fifo), base_url=leanix_server.base_url)  # reads nothing yet
    tokens: list[str] = []
    exchanges = threading.Thread(
        target=lambda: tokens.extend([auth.get_token(), auth.refresh()]), daemon=True
    )
    exchanges.start()
    exchanges.join(timeout=30)
    if exchanges.is_alive():  # blocked opening the pipe again, for a writer that never comes
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("the pipe was opened again after its token was read")
    writer.join(timeout=5)
    assert len(set(tokens)) == 2  # two exchanges, both with the token the pipe held
    assert len(leanix_server.token_requests) == 2


@pytest.mark.parametrize("no_cache", [(), ("--no-cache",)])
def test_the_cli_takes_its_api_token_from_standard_input_or_process_substitution(
    leanix_server: LeanIXServer, tmp_path: Path, no_cache: tuple[str, ...]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEANIX_")}
    env.update(
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        LEANIX_BASE_URL=leanix_server.base_url,
        T=leanix_server.api_token,
    )
    stdin = subprocess.run(
        [EXE, "token", *no_cache],
        env={**env, "LEANIX_API_TOKEN_FILE": "/dev/stdin"},
        input=leanix_server.api_token + "\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert (stdin.returncode, stdin.stderr) == (0, "")
    substituted = subprocess.run(
        ["bash", "-c", f'LEANIX_API_TOKEN_FILE=<(echo "$T") {EXE} token {" ".join(no_cache)}'],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (substituted.returncode, substituted.stderr) == (0, "")
    assert {stdin.stdout.strip(), substituted.stdout.strip()} <= set(leanix_server.issued_tokens)


def racing_reads(monkeypatch: pytest.MonkeyPatch, path: Path, contents: list[str]) -> list[str]:
    """Each read of the API token file first sets it to the next of `contents`, as a writer
    rewriting it in place would, between its truncation and its write; returns the reads."""
    reads: list[str] = []
    real = _token_source._read_file

    def read(name: str) -> tuple[str, bool]:
        reads.append(name)
        if contents:
            path.write_text(contents.pop(0))
        return real(name)

    monkeypatch.setattr(_token_source, "_read_file", read)
    return reads


@pytest.mark.parametrize("when", ["construction", "exchange"])
def test_a_file_found_empty_is_read_again_before_it_fails(
    leanix_server: LeanIXServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    path = secret_file(tmp_path, leanix_server.api_token)
    source = api_token_file(path) if when == "exchange" else None
    reads = racing_reads(monkeypatch, path, ["", "", leanix_server.api_token])
    auth = LeanIXAuth(source or api_token_file(path), base_url=leanix_server.base_url)
    assert auth.get_token() in leanix_server.issued_tokens
    assert len(reads) == 3 if when == "exchange" else 4  # construction's three, one exchange's


def test_a_file_that_stays_empty_fails_after_a_bounded_number_of_reads(
    leanix_server: LeanIXServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = secret_file(tmp_path, leanix_server.api_token)
    auth = LeanIXAuth(api_token_file(path), base_url=leanix_server.base_url)
    reads = racing_reads(monkeypatch, path, [""])
    with pytest.raises(LeanIXCredentialsError, match="it is empty"):
        auth.get_token()
    assert len(reads) == _token_source.EMPTY_READS
    assert leanix_server.token_requests == []


def test_a_utf8_bom_is_not_part_of_the_token(leanix_server: LeanIXServer, tmp_path: Path) -> None:
    path = tmp_path / "written-by-notepad"
    path.write_bytes(b"\xef\xbb\xbf" + leanix_server.api_token.encode() + b"\r\n")
    auth = LeanIXAuth(api_token_file(path), base_url=leanix_server.base_url)
    assert auth.get_token() in leanix_server.issued_tokens


def test_a_file_over_64_kib_is_an_error_that_says_so(
    leanix_server: LeanIXServer, tmp_path: Path
) -> None:
    path = tmp_path / "huge"
    path.write_text("a" * (64 * 1024 + 1))
    with pytest.raises(LeanIXConfigError, match="larger than 64 KiB"):
        api_token_file(path)
    path.write_text(leanix_server.api_token)
    auth = LeanIXAuth(api_token_file(path), base_url=leanix_server.base_url)
    path.write_text(leanix_server.api_token + " " * (64 * 1024))  # grown since construction
    with pytest.raises(LeanIXCredentialsError, match="larger than 64 KiB"):
        auth.get_token()
    assert leanix_server.token_requests == []
