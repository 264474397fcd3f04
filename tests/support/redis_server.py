"""A real redis-server for the tests, on its own free port and temporary directory.

Tests never touch the Redis that `make run` uses: each test session starts
its own server and throws it away afterwards (``redis_url`` in tests/conftest.py, started
only when a selected test needs it).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from typing import Iterator


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_redis() -> Iterator[str]:
    """Start redis-server on a free loopback port; yield its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(
            "redis-server is not installed: run `make setup` (apt package redis-server)"
        )
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="test-redis-")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            workdir,
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, proc)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"redis-server did not listen on {port} within {timeout}s")


class RedisProcess:
    """A redis-server that a test can kill and start again on the same port (and data dir).

    Args:
        port: Its port (default: a free one).
        extra_args: More ``redis-server`` options, e.g. ``["--replicaof", "127.0.0.1", "6380"]``.
    """

    def __init__(self, port: int | None = None, extra_args: list[str] | None = None):
        """Choose the port and a data directory; nothing runs until :meth:`start`."""
        self.port = port or free_port()
        self.extra_args = list(extra_args or [])
        self.workdir = tempfile.mkdtemp(prefix="test-redis-")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisProcess":
        """Start the server and wait until it listens."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run `make setup`")
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.workdir]
        command += ["--save", "", "--appendonly", "no", *self.extra_args]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for_port(self.port, self.proc)
        return self

    def kill(self) -> None:
        """SIGKILL the server (a crash: no shutdown, clients see their connections drop)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        """Shut the server down as an operator would (SIGTERM), keeping port and data dir."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> None:
        """Kill it and start it again on the same port."""
        self.kill()
        self.start()

    def close(self) -> None:
        """Stop the server for good and remove its directory."""
        self.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "RedisProcess":
        """Start it (``with RedisProcess() as server:``)."""
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        """Stop it."""
        self.close()
