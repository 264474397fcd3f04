"""Benchmark: Redis connections of one widget-channel process as idle sockets grow.

Usage::

    .venv/bin/python -m bot.devtools.fanout_bench --sockets 1000 5000
    .venv/bin/python -m bot.devtools.fanout_bench --sockets 1000 --tree /tmp/old-tree
    .venv/bin/python -m bot.devtools.fanout_bench --sockets 5000 --hub-only

For each count it starts a throwaway redis-server and one channel process (a Sanic
app serving the widget channel's routes, as Rasa mounts them, with a bot that never
answers), opens that many customer WebSockets, and reports the process's Redis
connections: idle, the most seen while one message per conversation is delivered
(a burst), and idle again afterwards. Connections are counted twice: the process's
established TCP connections to Redis (``/proc``) and Redis's ``CLIENT LIST`` entries
named by the channel's URL. ``--tree`` runs the channel from another checkout (e.g.
``git archive HEAD | tar -x -C /tmp/old-tree``) to compare. Results: docs/benchmarks/fanout.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional

import aiohttp
import redis.asyncio as aioredis

from handoff.core import keys
from handoff.core.customer_tokens import CustomerTokens, new_conversation_id
from handoff.core.delivery_hub import DeliveryHub
from handoff.core.outbox import Outbox
from handoff.core.settings import REPO_ROOT

SECRET = "fanout-benchmark-secret-long-enough-0123456789"
CLIENT_NAME = "fanout-bench-channel"
OPEN_CONCURRENCY = 100
WRITERS = 50
SAMPLE_SECONDS = 0.5

# The channel process: the widget channel's blueprint on Sanic, from whichever tree is on
# sys.path (so an older checkout runs its own code).
SERVE = """
import sys
from sanic import Sanic
from bot.channel.widget import WidgetInput, WidgetSettings
from handoff.core.settings import HandoffConfig

redis_url, secret, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
channel = WidgetInput(WidgetSettings(shared=HandoffConfig(redis_url=redis_url, secret=secret)))

async def silent_bot(message):
    return None

app = Sanic("fanout_bench")
app.config.MOTD = False
app.blueprint(channel.blueprint(silent_bot), url_prefix="/webhooks/widget")
app.run(host="127.0.0.1", port=port, access_log=False, workers=1, backlog=4096)
"""


@dataclass
class Result:
    """One run's figures."""

    sockets: int
    open_seconds: float
    idle: int
    idle_named: int
    burst_peak: int
    burst_seconds: float
    after_burst: int
    rss_mb: float


# ---- processes ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listened on {port} within {timeout}s")


@contextlib.contextmanager
def _running(
    args: List[str], port: int, log: Optional[Path] = None, **popen
) -> Iterator[subprocess.Popen]:
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, **popen)
    try:
        _wait_for_port(port, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log:
            out.close()


@contextlib.contextmanager
def _redis() -> Iterator[int]:
    port, workdir = _free_port(), tempfile.mkdtemp(prefix="fanout-redis-")
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir]
    try:
        with _running([*args, "--save", "", "--maxclients", "20000"], port):
            yield port
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def _channel(redis_port: int, tree: Path) -> Iterator[tuple]:
    port = _free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0?client_name={CLIENT_NAME}"
    env = {**os.environ, "PYTHONPATH": str(tree), "LOG_LEVEL": "WARNING"}
    args = [sys.executable, "-c", SERVE, redis_url, SECRET, str(port)]
    log = Path(tempfile.gettempdir()) / "fanout-bench-channel.log"
    with _running(args, port, log=log, cwd=tree, env=env) as proc:
        yield proc, port


# ---- counting -----------------------------------------------------------------------------------


def tcp_connections(pid: int, remote_port: int) -> int:
    """Established TCP connections of process ``pid`` to ``remote_port`` (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    count = 0
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()
                port = int(fields[2].rsplit(":", 1)[1], 16)
                if port == remote_port and fields[3] == "01" and fields[9] in inodes:
                    count += 1
    return count


async def named_clients(redis: aioredis.Redis) -> int:
    """Redis's view: clients named by the channel's URL."""
    return sum(1 for c in await redis.client_list() if c.get("name") == CLIENT_NAME)


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def settled(pid: int, redis_port: int, checks: int = 4, interval: float = 0.5) -> int:
    """The connection count once it has not changed for ``checks`` samples in a row."""
    last, same = -1, 0
    while same < checks:
        await asyncio.sleep(interval)
        now = tcp_connections(pid, redis_port)
        same = same + 1 if now == last else 0
        last = now
    return last


# ---- the run ------------------------------------------------------------------------------------


class Crowd:
    """N open customer sockets; counts the messages each received."""

    def __init__(self) -> None:
        self.received: dict = {}
        self.sockets: list = []
        self.readers: list = []
        self.last_at = 0.0  # when the latest message arrived (monotonic)

    async def open(self, session: aiohttp.ClientSession, url: str, conv_ids: List[str]) -> None:
        tokens, gate = CustomerTokens(SECRET), asyncio.Semaphore(OPEN_CONCURRENCY)

        async def connect(conv_id: str) -> None:
            async with gate:
                ws = await session.ws_connect(url + tokens.issue(conv_id).token, autoclose=False)
            self.sockets.append(ws)
            self.received[conv_id] = 0
            self.readers.append(asyncio.ensure_future(self._read(conv_id, ws)))

        await asyncio.gather(*[connect(c) for c in conv_ids])

    async def _read(self, conv_id: str, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT and '"type": "message"' in msg.data:
                self.received[conv_id] += 1
                self.last_at = time.monotonic()

    def all_have(self, count: int) -> bool:
        return all(n >= count for n in self.received.values())

    async def close(self) -> None:
        await asyncio.gather(*[ws.close() for ws in self.sockets], return_exceptions=True)
        for reader in self.readers:
            reader.cancel()


async def _burst(crowd: Crowd, writer: Outbox, pid: int, redis_port: int) -> tuple:
    """One message to every conversation; the peak connection count and the time it took.

    The writer stands for the handoff service: at most ``WRITERS`` appends at a time.
    Counting reads /proc (every TCP socket of the machine), so it samples sparingly.
    """
    started, peak, gate = time.monotonic(), 0, asyncio.Semaphore(WRITERS)

    async def append(conv_id: str) -> None:
        async with gate:
            await writer.append(conv_id, {"sender": "csr", "text": "burst"})

    sending = asyncio.ensure_future(asyncio.gather(*[append(c) for c in crowd.received]))
    while not (sending.done() and crowd.all_have(1)):
        peak = max(peak, tcp_connections(pid, redis_port))
        await asyncio.sleep(SAMPLE_SECONDS)
    await sending
    return max(peak, tcp_connections(pid, redis_port)), crowd.last_at - started


async def measure(sockets: int, tree: Path) -> Result:
    """Open ``sockets`` sockets on a fresh channel process and count its Redis connections."""
    with _redis() as redis_port, _channel(redis_port, tree) as (proc, port):
        redis = aioredis.from_url(f"redis://127.0.0.1:{redis_port}/0", decode_responses=True)
        url = f"ws://127.0.0.1:{port}/webhooks/widget/ws?token="
        crowd = Crowd()
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            started = time.monotonic()
            await crowd.open(session, url, [new_conversation_id() for _ in range(sockets)])
            open_seconds = time.monotonic() - started
            idle = await settled(proc.pid, redis_port)
            idle_named = await named_clients(redis)
            # The writer is another process's client (the handoff service's, say).
            peak, burst_seconds = await _burst(crowd, Outbox(redis), proc.pid, redis_port)
            after = await settled(proc.pid, redis_port)
            memory = rss_mb(proc.pid)
            await crowd.close()
        await redis.close()
    return Result(sockets, open_seconds, idle, idle_named, peak, burst_seconds, after, memory)


async def measure_hub(sockets: int) -> float:
    """Seconds to deliver one message to each of ``sockets`` subscriptions, without sockets.

    The hub alone, in this process: it tells the hub's share of a burst from the WebSocket
    layer's. Appends go out ``WRITERS`` at a time, as in :func:`measure`.
    """
    with _redis() as redis_port:
        url = f"redis://127.0.0.1:{redis_port}/0"
        hub_client, writer_client = (aioredis.from_url(url, decode_responses=True) for _ in "ab")
        hub, writer = DeliveryHub(hub_client, Outbox(hub_client)), Outbox(writer_client)
        conv_ids = [new_conversation_id() for _ in range(sockets)]
        async with contextlib.AsyncExitStack() as stack:
            subs = [await stack.enter_async_context(hub.subscribe(c, None)) for c in conv_ids]
            while hub.conversations() < sockets or not await _all_subscribed(
                writer_client, conv_ids
            ):
                await asyncio.sleep(0.1)
            gate, started = asyncio.Semaphore(WRITERS), time.monotonic()

            async def append(conv_id: str) -> None:
                async with gate:
                    await writer.append(conv_id, {"sender": "csr", "text": "burst"})

            await asyncio.gather(*[append(c) for c in conv_ids], *[s.next() for s in subs])
            seconds = time.monotonic() - started
        await hub.close()
        for client in (hub_client, writer_client):
            await client.close()
    return seconds


async def _all_subscribed(redis: aioredis.Redis, conv_ids: List[str]) -> bool:
    counts = await redis.pubsub_numsub(*[keys.outbox_appended(c) for c in conv_ids])
    return all(subscribers for _, subscribers in counts)


def _table(results: List[Result]) -> str:
    rows = [
        "| sockets | open (s) | Redis conns idle (/proc) | CLIENT LIST | burst peak | "
        "burst delivered (s) | after burst | RSS (MiB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rows.append(
            f"| {r.sockets} | {r.open_seconds:.1f} | {r.idle} | {r.idle_named} | "
            f"{r.burst_peak} | {r.burst_seconds:.2f} | {r.after_burst} | {r.rss_mb:.0f} |"
        )
    return "\n".join(rows)


def main(argv: Optional[List[str]] = None) -> None:
    """Run the benchmark for each ``--sockets`` count and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--tree", type=Path, default=REPO_ROOT, help="checkout to run")
    parser.add_argument("--hub-only", action="store_true", help="time the hub without sockets")
    args = parser.parse_args(argv)
    if args.hub_only:
        for n in args.sockets:
            print(f"hub only: {n} deliveries in {asyncio.run(measure_hub(n)):.2f} s")
        return
    results = [asyncio.run(measure(n, args.tree.resolve())) for n in args.sockets]
    print(_table(results))


if __name__ == "__main__":
    main()
