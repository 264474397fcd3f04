"""A real Redis primary, its replica and Sentinels watching them, for failover tests.

``sentinel_group()`` starts them on free loopback ports, waits until the replica is in sync
and every Sentinel knows the primary, and stops everything afterwards. Tests kill the
primary (``group.primary.kill()``) or ask for a failover (``group.failover()``) and wait
with ``group.wait_for_new_primary(old_port)``.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import redis

from tests.support.redis_server import RedisProcess, _wait_for_port, free_port
from tests.support.waiting import wait_until

SERVICE = "storefront"


@dataclass
class SentinelGroup:
    """The running processes of one group.

    Attributes:
        primary: The server that was the primary at start.
        replica: Its replica at start.
        sentinels: ``(host, port)`` of each Sentinel.
        service: The name the Sentinels monitor the primary under.
    """

    primary: RedisProcess
    replica: RedisProcess
    sentinels: List[Tuple[str, int]]
    service: str = SERVICE
    procs: List[subprocess.Popen] = field(default_factory=list)

    @property
    def addresses(self) -> List[str]:
        """The Sentinels as ``host:port`` (the form of ``REDIS_SENTINELS``)."""
        return [f"{host}:{port}" for host, port in self.sentinels]

    def primary_address(self) -> Optional[Tuple[str, int]]:
        """Where the first Sentinel that answers says the primary is (None: none answers)."""
        for host, port in self.sentinels:
            try:
                with redis.Redis(
                    host=host, port=port, socket_timeout=1, decode_responses=True
                ) as client:
                    reply = client.sentinel_get_master_addr_by_name(self.service)
            except redis.RedisError:
                continue
            if reply:
                return reply[0], int(reply[1])
        return None

    def failover(self) -> None:
        """Ask a Sentinel to promote the replica now (no need to wait for a timeout)."""
        host, port = self.sentinels[0]
        with redis.Redis(host=host, port=port, socket_timeout=5) as client:
            client.execute_command("SENTINEL", "FAILOVER", self.service)

    def wait_for_new_primary(self, old_port: int, timeout: float = 30.0) -> Tuple[str, int]:
        """Wait until the Sentinels name a primary other than ``old_port`` that takes writes."""

        def promoted() -> Optional[Tuple[str, int]]:
            address = self.primary_address()
            if address is None or address[1] == old_port:
                return None
            try:
                with redis.Redis(host=address[0], port=address[1], socket_timeout=1) as client:
                    role = client.execute_command("ROLE")
            except redis.RedisError:
                return None
            return address if role and role[0] == b"master" else None

        return wait_until(promoted, timeout=timeout, what="a new primary")

    def wait_until_replica(self, server: RedisProcess, timeout: float = 30.0) -> None:
        """Wait until ``server`` (a running former primary) has been turned into a replica.

        Until then it still takes writes from clients connected to it, which the new
        primary never sees: a failover asked for while the primary lives is complete here.
        """

        def demoted() -> bool:
            try:
                with redis.Redis(port=server.port, socket_timeout=1) as client:
                    return client.execute_command("ROLE")[0] == b"slave"
            except redis.RedisError:
                return False

        wait_until(demoted, timeout=timeout, what=f"{server.port} turned into a replica")


@contextmanager
def sentinel_group(
    sentinel_count: int = 1, down_after_ms: int = 1000, failover_timeout_ms: int = 5000
) -> Iterator[SentinelGroup]:
    """Start a primary, a replica and ``sentinel_count`` Sentinels (quorum: a majority)."""
    with ExitStack() as stack:
        primary = stack.enter_context(RedisProcess())
        replica = stack.enter_context(
            RedisProcess(extra_args=["--replicaof", "127.0.0.1", str(primary.port)])
        )
        group = SentinelGroup(primary, replica, [])
        quorum = sentinel_count // 2 + 1
        for _ in range(sentinel_count):
            workdir = Path(tempfile.mkdtemp(prefix="test-sentinel-"))
            stack.callback(shutil.rmtree, workdir, True)
            port = free_port()
            proc = _start_sentinel(
                workdir, port, primary.port, quorum, down_after_ms, failover_timeout_ms
            )
            stack.callback(_stop, proc)
            group.procs.append(proc)
            group.sentinels.append(("127.0.0.1", port))
        wait_until(lambda: _in_sync(replica), what="the replica in sync")
        wait_until(
            lambda: group.primary_address() == ("127.0.0.1", primary.port),
            what="the Sentinels knowing the primary",
        )
        yield group


def _start_sentinel(
    workdir: Path, port: int, primary_port: int, quorum: int, down_ms: int, failover_ms: int
) -> subprocess.Popen:
    binary = shutil.which("redis-sentinel") or shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-sentinel is not installed: run `make setup`")
    conf = workdir / "sentinel.conf"  # Sentinel rewrites its file: one per process
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {workdir}\n"
        f"sentinel monitor {SERVICE} 127.0.0.1 {primary_port} {quorum}\n"
        f"sentinel down-after-milliseconds {SERVICE} {down_ms}\n"
        f"sentinel failover-timeout {SERVICE} {failover_ms}\n"
        f"sentinel parallel-syncs {SERVICE} 1\n"
    )
    command = [binary, str(conf)]
    if not binary.endswith("redis-sentinel"):
        command.append("--sentinel")
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for_port(port, proc)
    return proc


def _in_sync(replica: RedisProcess) -> bool:
    with redis.Redis(port=replica.port, socket_timeout=1) as client:
        return client.info("replication").get("master_link_status") == "up"


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=10)
