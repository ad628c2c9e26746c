"""The `leanix-auth` command, run as a user runs it: real processes against each other."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest

from leanix_auth._cli import main
from leanix_auth._config import MAX_LIFETIME
from leanix_auth.testing import HandClock, LeanIXServer, make_token

EXE = str(Path(sys.executable).with_name("leanix-auth"))


def run(
    *args: str, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`leanix-auth ARGS` through `main()` in this process, as the console script calls it, with
    `env` as the whole environment: fast, and on the test's clock (`leanix_clock`)."""
    out, err = io.StringIO(), io.StringIO()
    stdin_file = io.TextIOWrapper(io.BytesIO((stdin or "").encode()), encoding="utf-8")
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        with redirect_stdout(out), redirect_stderr(err), patch.object(sys, "stdin", stdin_file):
            try:
                code = main(list(args))
            except SystemExit as exit_:  # argparse: --help, --version, usage errors
                code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return subprocess.CompletedProcess(["leanix-auth", *args], code, out.getvalue(), err.getvalue())


def run_process(
    *args: str, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`leanix-auth ARGS` as its own process: for what only a process shows (exit status on a
    signal, a closed pipe, the console script itself)."""
    return subprocess.run(
        [EXE, *args], capture_output=True, text=True, env=env, input=stdin, timeout=60, check=False
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`leanix-auth serve` in its own process: its base URL and API token."""
    process = subprocess.Popen(
        [EXE, "serve", "--ttl", "3600"], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    assert process.stdout is not None
    lines = [process.stdout.readline() for _ in range(3)]
    base_url = lines[0].split()[-1]
    api_token = lines[1].removeprefix("api token: ").strip()
    try:
        yield base_url, api_token
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            out, _ = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()  # and close its pipes: a failure here, not a leak in a later test
            process.communicate()
            raise
        assert process.returncode == 130  # as shells expect of an interrupted command
        assert out.rstrip().endswith("stopped")


def user_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEANIX_")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    env.update(extra)
    return env


def test_serve_token_twice_and_inspect_work_together(
    served: tuple[str, str], tmp_path: Path
) -> None:
    # The console script as a shell runs it, in processes of its own, against `serve`'s.
    base_url, api_token = served
    env = user_env(tmp_path, LEANIX_BASE_URL=base_url, LEANIX_API_TOKEN=api_token)
    first = run_process("token", env=env)
    second = run_process("token", env=env)
    assert first.returncode == second.returncode == 0, first.stderr
    assert first.stdout == second.stdout  # the second came from the cache, not a new exchange
    fresh = run_process("token", "--no-cache", env=env)
    assert fresh.stdout != first.stdout  # every exchange mints a new token (its jti differs)
    shown = run_process("inspect", env=env, stdin=first.stdout)
    assert shown.returncode == 0
    assert f"instanceUrl: {base_url}" in shown.stdout
    assert "workspace: fake-workspace" in shown.stdout
    assert "(expires in 59 min)" in shown.stdout
    assert first.stdout.strip() not in shown.stdout


def test_cache_is_private_and_named_without_the_token(
    served: tuple[str, str], tmp_path: Path
) -> None:
    base_url, api_token = served
    env = user_env(tmp_path, LEANIX_BASE_URL=base_url, LEANIX_API_TOKEN=api_token)
    token = run("token", env=env).stdout.strip()
    directory = tmp_path / "cache" / "leanix-auth"
    entries = sorted(directory.iterdir())
    assert [e.suffix for e in entries] == [".json", ".lock"]  # the token, and the exchange lock
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for entry in entries:
        assert stat.S_IMODE(entry.stat().st_mode) == 0o600
        assert api_token not in entry.name
        assert token not in entry.name
        assert api_token not in entry.read_text()


def test_a_cache_file_others_can_read_is_not_trusted(
    served: tuple[str, str], tmp_path: Path
) -> None:
    base_url, api_token = served
    env = user_env(tmp_path, LEANIX_BASE_URL=base_url, LEANIX_API_TOKEN=api_token)
    first = run("token", env=env).stdout
    [entry] = (tmp_path / "cache" / "leanix-auth").glob("*.json")
    entry.chmod(0o644)
    assert run("token", env=env).stdout != first
    entry.write_text("{not json")
    entry.chmod(0o600)
    assert run("token", env=env).returncode == 0


def test_wrong_api_token_is_one_line_on_stderr(served: tuple[str, str], tmp_path: Path) -> None:
    base_url, _ = served
    secret = "wrong-api-token-do-not-echo"
    result = run("token", env=user_env(tmp_path, LEANIX_BASE_URL=base_url, LEANIX_API_TOKEN=secret))
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("leanix-auth: error: LeanIX rejected the API token (HTTP 401")
    assert secret not in result.stderr


@pytest.mark.parametrize(
    ("args", "env_extra", "fragment"),
    [
        (("token",), {}, "no LeanIX API token"),
        (("token",), {"LEANIX_API_TOKEN": "x", "LEANIX_BASE_URL": "https://a..b"}, "empty label"),
        (("inspect", "garbage"), {}, "not a JWT"),
    ],
)
def test_usage_errors_are_one_line(
    tmp_path: Path, args: tuple[str, ...], env_extra: dict[str, str], fragment: str
) -> None:
    result = run(*args, env=user_env(tmp_path, **env_extra))
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert fragment in line


def test_inspect_says_when_a_token_expired(tmp_path: Path) -> None:
    result = run("inspect", make_token(ttl=-180), env=user_env(tmp_path))
    assert "(expired 3 min ago)" in result.stdout


@pytest.mark.parametrize("command", [(), ("serve",), ("token",), ("inspect",)])
def test_every_command_has_help(tmp_path: Path, command: tuple[str, ...]) -> None:
    result = run(*command, "--help", env=user_env(tmp_path))
    assert result.returncode == 0
    assert result.stdout.startswith("usage: leanix-auth")


def test_token_flags_name_the_workspace(leanix_server: LeanIXServer, tmp_path: Path) -> None:
    env = user_env(tmp_path, LEANIX_API_TOKEN=leanix_server.api_token)
    result = run("token", "--base-url", leanix_server.base_url, "--no-cache", env=env)
    assert result.stdout.strip() == leanix_server.issued_tokens[0]


def test_a_failed_refresh_prints_the_cached_token_while_it_is_valid(
    leanix_server: LeanIXServer, tmp_path: Path, leanix_clock: HandClock
) -> None:
    leanix_server.token_ttl = 7  # 6 s counted: the CLI refreshes from 4.5 s on
    env = user_env(
        tmp_path, LEANIX_BASE_URL=leanix_server.base_url, LEANIX_API_TOKEN=leanix_server.api_token
    )
    first = run("token", env=env).stdout
    leanix_clock.advance(4.6)
    leanix_server.fail_token_requests(401, times=5)  # the endpoint now refuses
    refreshed = run("token", env=env)
    assert refreshed.returncode == 0
    assert refreshed.stdout == first
    [warning] = refreshed.stderr.splitlines()
    assert warning.startswith("leanix-auth: warning: refresh failed, the cached token stays valid")
    assert len(leanix_server.token_requests) == 2
    leanix_clock.advance(1.5)  # now it has expired: no token is left to give
    assert run("token", env=env).returncode == 1


def test_version_from_the_command_and_from_python_m(tmp_path: Path) -> None:
    import leanix_auth

    env = user_env(tmp_path)
    assert run("--version", env=env).stdout == f"leanix-auth {leanix_auth.__version__}\n"
    module = subprocess.run(
        [sys.executable, "-m", "leanix_auth", "--version"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert module.stdout == f"leanix-auth {leanix_auth.__version__}\n"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("serve", "--ttl", "0"), "argument --ttl: must be a positive number of seconds"),
        (("serve", "--ttl", "-5"), "argument --ttl: must be a positive number of seconds"),
        (("serve", "--port", "70000"), "argument --port: must be a port from 0 to 65535"),
        (("serve", "--api-token", "a b"), "--api-token: must be printable ASCII without spaces"),
        (("token", "--timeout", "0"), "argument --timeout: must be a positive number of seconds"),
        (("token", "--timeout", "nan"), "argument --timeout: must be a finite number of seconds"),
        (("token", "--timeout", "soon"), "argument --timeout: must be a number of seconds"),
        (("token", "--subdomain", "https://acme.leanix.net"), "--subdomain: must be one DNS label"),
        (("token", "--subdomain", "not a label"), "argument --subdomain: must be one DNS label"),
        (("token", "--base-url", "http://127.0.0.1:1/services"), "--base-url: is the workspace's"),
        (("token", "--base-url", "https://a..b"), "argument --base-url: has no valid host name"),
        (("token", "--base-url", "https://" + "a" * 64), "--base-url: has no valid host name"),
        (("token", "--base-url", "https://xn--zz.example"), "--base-url: has no valid host name"),
        (
            ("token", "--token-url", "http://example.com/t"),
            "argument --token-url: must use https://",
        ),
    ],
)
def test_every_bad_option_value_is_a_usage_error(
    tmp_path: Path, args: tuple[str, ...], fragment: str
) -> None:
    result = run(*args, env=user_env(tmp_path, LEANIX_API_TOKEN="t", LEANIX_SUBDOMAIN="acme"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"usage: leanix-auth {args[0]}")
    assert fragment in result.stderr.splitlines()[-1]


def start_serve(
    *args: str, sigint: Any = signal.SIG_DFL
) -> tuple[subprocess.Popen[str], list[str]]:
    """`leanix-auth serve` in its own process, and what it printed until it was ready; `sigint`:
    how it finds SIGINT set when it starts (SIG_IGN, as for a job a script put in the
    background)."""
    process = subprocess.Popen(
        [EXE, "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, sigint),  # noqa: PLW1509 - no threads
    )
    assert process.stdout is not None
    lines = [process.stdout.readline()]
    while lines[-1] and not lines[-1].startswith("Ctrl-C stops it."):
        lines.append(process.stdout.readline())
    return process, lines


def test_serve_on_all_interfaces_prints_a_loopback_url_and_a_warning() -> None:
    process, lines = start_serve("--host", "0.0.0.0")
    process.terminate()
    _, err = process.communicate(timeout=10)
    [export] = [line for line in lines if "export" in line]
    assert "LEANIX_BASE_URL=http://127.0.0.1:" in export
    assert "warning: listening on 0.0.0.0" in err


@pytest.mark.parametrize("inherited", [signal.SIG_DFL, signal.SIG_IGN])
def test_serve_stops_on_ctrl_c_whatever_its_parent_did_with_sigint(inherited: Any) -> None:
    process, _ = start_serve(sigint=inherited)
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=10)
    assert process.returncode == 130
    assert out.rstrip().endswith("stopped")


def test_serve_stops_at_once_on_sigterm() -> None:
    process, _ = start_serve()
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=5)
    assert process.returncode == 0
    assert out.rstrip().endswith("stopped")


def test_inspect_takes_a_bearer_header_value(tmp_path: Path) -> None:
    token = make_token(ttl=600)
    result = run("inspect", env=user_env(tmp_path), stdin=f"Bearer {token}\n")
    assert result.returncode == 0
    assert "expires in 9 min" in result.stdout


@pytest.mark.parametrize("stdin", [b"", b"\n", b"\x00\xff\xfe binary \x89PNG"])
def test_inspect_with_no_token_on_stdin_is_one_line(tmp_path: Path, stdin: bytes) -> None:
    result = subprocess.run(
        [EXE, "inspect"], input=stdin, capture_output=True, env=user_env(tmp_path), check=False
    )
    assert result.returncode == 1
    assert result.stderr.decode() == "leanix-auth: error: no token given on stdin\n"


@pytest.mark.parametrize(
    ("env_extra", "says", "never"),
    [
        ({"LEANIX_SUBDOMAIN": "acme"}, "set LEANIX_API_TOKEN", "api_token="),
        ({"LEANIX_API_TOKEN": "t"}, "pass --subdomain acme", "base_url="),
    ],
)
def test_configuration_errors_speak_in_flags_and_variables(
    tmp_path: Path, env_extra: dict[str, str], says: str, never: str
) -> None:
    result = run("token", env=user_env(tmp_path, **env_extra))
    assert result.returncode == 1
    assert says in result.stderr
    assert never not in result.stderr


@pytest.mark.parametrize(
    "args",
    [("token", "--subdomain", "acme", "--base-url", "https://x.example"), ("token", "--bogus")],
)
def test_token_options_argparse_must_judge_are_usage_errors(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    result = run(*args, env=user_env(tmp_path, LEANIX_API_TOKEN="t"))
    assert result.returncode == 2
    assert "usage: leanix-auth" in result.stderr


def test_token_options_in_either_form_name_the_workspace(
    leanix_server: LeanIXServer, tmp_path: Path
) -> None:
    env = user_env(tmp_path, LEANIX_API_TOKEN=leanix_server.api_token)
    spaced = run("token", "--base-url", leanix_server.base_url, "--timeout", "5", env=env)
    joined = run("token", f"--base-url={leanix_server.base_url}", "--no-cache", env=env)
    assert spaced.returncode == joined.returncode == 0
    assert {spaced.stdout.strip(), joined.stdout.strip()} <= set(leanix_server.issued_tokens)


def run_into_a_closed_pipe(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run with stdout a pipe whose reader has gone, as in `leanix-auth token | head -c 5`."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            [EXE, *args], stdout=write, stderr=subprocess.PIPE, text=True, env=env, check=False
        )
    finally:
        os.close(write)


def test_a_reader_that_closes_the_pipe_early_is_not_an_error(
    leanix_server: LeanIXServer, tmp_path: Path
) -> None:
    env = user_env(
        tmp_path, LEANIX_BASE_URL=leanix_server.base_url, LEANIX_API_TOKEN=leanix_server.api_token
    )
    for args in (("token",), ("token",), ("inspect", make_token())):  # a miss, a hit, inspect
        result = run_into_a_closed_pipe(*args, env=env)
        assert (result.returncode, result.stderr) == (0, "")


def test_serve_on_a_port_in_use_says_which_address_failed(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--port", str(port), env=user_env(tmp_path))
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"leanix-auth: error: cannot listen on 127.0.0.1 port {port}: ")


def test_serve_on_an_address_that_is_not_one_says_so(tmp_path: Path) -> None:
    result = run("serve", "--host", "999.1.1.1", env=user_env(tmp_path))
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("leanix-auth: error: cannot listen on 999.1.1.1 port 0: ")


def test_inspect_shows_control_characters_escaped(tmp_path: Path) -> None:
    permission = {"workspaceId": "ws\x1b[2J", "workspaceName": "evil\x1b]0;pwned\x07"}
    token = make_token(
        principal={"permission": permission},
        instanceUrl="https://x.example\x1b[8m",
        region="eu\u202ewest\r",
        note="\x9b31m",
    )
    result = run("inspect", token, env=user_env(tmp_path))
    assert result.returncode == 0
    for raw in ("\x1b", "\x07", "\u202e", "\r", "\x9b"):
        assert raw not in result.stdout
    assert "workspace: evil\\x1b]0;pwned\\x07 (ws\\x1b[2J)" in result.stdout
    assert "instanceUrl: https://x.example\\x1b[8m" in result.stdout
    assert "region: eu\\u202ewest\\r" in result.stdout


@pytest.mark.parametrize(
    ("claims", "says"),
    [
        ({"exp": "4102444800"}, "expires: unknown (exp is a string, not a number)"),
        ({"exp": True}, "expires: unknown (exp is a boolean, not a number)"),
        ({"exp": None}, "expires: unknown (no exp claim)"),
        ({"exp": 10**30}, "expires: unknown (exp is out of range)"),
        ({"instanceUrl": 5}, "instanceUrl: not a string but a number"),
        ({"region": {"a": 1}}, "region: not a string but an object"),
    ],
)
def test_inspect_says_when_a_claim_has_the_wrong_type(
    tmp_path: Path, claims: dict[str, Any], says: str
) -> None:
    result = run("inspect", make_token(**claims), env=user_env(tmp_path))
    assert result.returncode == 0
    assert says in result.stdout.splitlines()
    assert not any(line.startswith("expires: 1970") for line in result.stdout.splitlines())


@pytest.mark.parametrize(
    "planted",
    [
        '{"access_token": "planted", "lifetime": 1e308, "expires_at": 1e300}',
        '{"access_token": "planted", "lifetime": Infinity, "expires_at": Infinity}',
        '{"access_token": "planted\\nX-Evil: 1", "lifetime": 3600, "expires_at": %(soon)s}',
        '{"access_token": "planted", "lifetime": 1e12, "expires_at": %(far)s}',
    ],
)
def test_the_cli_trusts_its_cache_file_no_more_than_the_library_does(
    leanix_server: LeanIXServer, tmp_path: Path, planted: str
) -> None:
    env = user_env(
        tmp_path, LEANIX_BASE_URL=leanix_server.base_url, LEANIX_API_TOKEN=leanix_server.api_token
    )
    assert run("token", env=env).returncode == 0
    [entry] = (tmp_path / "cache" / "leanix-auth").glob("*.json")
    entry.write_text(planted % {"soon": time.time() + 3000, "far": time.time() + 1e11})
    result = run("token", env=env)
    assert result.returncode == 0
    assert "planted" not in result.stdout
    assert result.stdout.strip() == leanix_server.issued_tokens[-1]
    assert len(leanix_server.issued_tokens) == 2


def test_no_token_is_trusted_for_longer_than_a_day_whatever_its_exp(
    leanix_server: LeanIXServer, tmp_path: Path
) -> None:
    exp_in_milliseconds = int(time.time() * 1000) + 3600_000
    answer = {"access_token": make_token(exp=exp_in_milliseconds), "token_type": "bearer"}
    leanix_server.add("POST", "/services/mtm/v1/oauth2/token", json=answer)
    env = user_env(
        tmp_path, LEANIX_BASE_URL=leanix_server.base_url, LEANIX_API_TOKEN=leanix_server.api_token
    )
    assert run("token", env=env).returncode == 0
    [entry] = (tmp_path / "cache" / "leanix-auth").glob("*.json")
    stored = json.loads(entry.read_text())
    assert 0 < stored["lifetime"] <= MAX_LIFETIME == 86400
    assert stored["expires_at"] <= time.time() + MAX_LIFETIME
