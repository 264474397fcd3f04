"""Benchmark: 1 against 2 Rasa servers behind HAProxy, and a burst on the widget against REST.

Usage::

    .venv/bin/python -m bot.devtools.cluster_bench --seconds 60 --concurrency 16 --burst 500

One run starts the cluster (bot/devtools/cluster.py, on free ports, with the newest model in
models/) and measures, in this order:

1. **Throughput.** ``--concurrency`` REST customers (``POST /webhooks/rest/webhook``
   through HAProxy), each sending its next message as soon as the previous one is
   answered, for ``--seconds``: first with both Rasa servers, then after ``rasa-2`` is
   stopped (supervisorctl; HAProxy marks it DOWN), with one. Same load, same cluster; the
   CPU each program used and the machine's busy share are sampled from ``/proc``.
2. **Burst**, on one Rasa process (``rasa-1``, on its own port, not through HAProxy):
   ``--burst`` new REST customers send one message at once; then ``--burst`` widget
   customers, whose sessions and WebSockets are opened first (not timed), send one message
   at once over ``POST /webhooks/widget/messages`` (what widget.js does) and the time is
   until the bot's reply arrives on their socket. Each sends from a fresh HTTP connection.

Prints Markdown (results: docs/benchmarks/cluster.md). Not a test: it measures, and asserts
nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import os
import resource
import statistics
import tempfile
import time
import zlib
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator, Dict, List, Optional, Tuple

import aiohttp

from bot.devtools.cluster import Cluster, ClusterSettings, cluster

MESSAGES = (
    "hi",
    "how long does standard shipping take?",
    "do you ship to canada?",
    "how much is express shipping?",
)
BURST_MESSAGE = "how long does standard shipping take?"
PER_CONVERSATION = len(MESSAGES)  # a throughput customer starts a new conversation after these
OPEN_CONCURRENCY = 50  # widget sessions and sockets opened at once before a burst
ERROR_PAUSE = 1.0  # seconds a throughput customer waits after a failed message
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Throughput:
    """One closed-loop run: answers within the window and their latencies."""

    label: str
    seconds: float
    latencies: List[float] = field(default_factory=list)
    errors: int = 0
    cpu: Dict[str, float] = field(default_factory=dict)  # program -> cores used on average
    busy: float = 0.0  # the machine's busy share of all cores
    per_server: Dict[str, int] = field(default_factory=dict)  # HAProxy's request count delta

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds


@dataclass
class Burst:
    """One burst: each customer's latency (None: never answered within the timeout)."""

    channel: str
    latencies: List[Optional[float]] = field(default_factory=list)
    post_latencies: List[float] = field(default_factory=list)  # widget: POST answer times
    retried: Dict[str, int] = field(default_factory=dict)  # status -> attempts retried
    failures: Dict[str, int] = field(default_factory=dict)  # REST: what went wrong -> count
    errors: int = 0

    def answered(self, within: float) -> int:
        return sum(1 for t in self.latencies if t is not None and t <= within)

    @property
    def done(self) -> List[float]:
        return [t for t in self.latencies if t is not None]


def _address(who: str) -> str:
    """A private address per customer: the session budget is per address (X-Real-IP)."""
    h = zlib.crc32(who.encode())
    return f"10.{(h >> 16) & 255}.{(h >> 8) & 255}.{h & 255}"


def _median(values: List[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _quantile(values: List[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@asynccontextmanager
async def _session(timeout: float) -> AsyncIterator[aiohttp.ClientSession]:
    """A client with no connection limit (aiohttp's default of 100 would queue a burst)."""
    connector = aiohttp.TCPConnector(limit=0)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session:
        yield session


# --- CPU from /proc --------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK  # utime + stime


def _machine_ticks() -> Tuple[int, int]:
    """(busy, total) clock ticks of all cores since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


class CpuSample:
    """CPU used by each program of the cluster (and this driver) between start and stop."""

    def __init__(self, running: Cluster):
        self.pids = {name: running.pid(name) for name in running.programs}
        self.pids = {name: pid for name, pid in self.pids.items() if pid}
        self.pids["load driver"] = os.getpid()
        self.before = {name: _cpu_seconds(pid) for name, pid in self.pids.items()}
        self.machine = _machine_ticks()
        self.started = time.monotonic()

    def stop(self) -> Tuple[Dict[str, float], float]:
        elapsed = time.monotonic() - self.started
        used = {
            name: (_cpu_seconds(pid) - self.before[name]) / elapsed
            for name, pid in self.pids.items()
        }
        busy_now, total_now = _machine_ticks()
        busy, total = busy_now - self.machine[0], total_now - self.machine[1]
        return used, busy / total if total else 0.0


def _rasa_requests(running: Cluster) -> Dict[str, int]:
    """HAProxy's total sessions per Rasa server (its stats CSV, ``stot``)."""
    import csv
    import io
    import urllib.request

    with urllib.request.urlopen(f"{running.stats_url}/;csv", timeout=5) as response:
        rows = csv.DictReader(io.StringIO(response.read().decode().lstrip("# ")))
        return {
            row["svname"]: int(row["stot"] or 0)
            for row in rows
            if row["pxname"] == "rasa" and row["svname"].startswith("rasa-")
        }


# --- throughput ------------------------------------------------------------------------------


async def throughput(running: Cluster, label: str, concurrency: int, seconds: float) -> Throughput:
    """``concurrency`` REST customers in a closed loop through HAProxy for ``seconds``."""
    result = Throughput(label, seconds)
    url = f"{running.rasa_url}/webhooks/rest/webhook"
    requests_before = _rasa_requests(running)
    cpu = CpuSample(running)
    until = time.monotonic() + seconds
    async with _session(60.0) as session:
        await asyncio.gather(
            *(
                _rest_customer(session, url, f"{label}-{n}", until, result)
                for n in range(concurrency)
            )
        )
    result.cpu, result.busy = cpu.stop()
    after = _rasa_requests(running)
    result.per_server = {name: after[name] - requests_before.get(name, 0) for name in after}
    return result


async def _rest_customer(
    session: aiohttp.ClientSession, url: str, who: str, until: float, result: Throughput
) -> None:
    sent = 0
    while time.monotonic() < until:
        sender = f"{who}-{sent // PER_CONVERSATION}"
        text = MESSAGES[sent % PER_CONVERSATION]
        sent += 1
        started = time.monotonic()
        ok = await _rest_post(session, url, sender, text) is None
        ended = time.monotonic()
        if ended > until:
            return  # answered after the window: not counted on either side
        if ok:
            result.latencies.append(ended - started)
        else:
            result.errors += 1
            await asyncio.sleep(ERROR_PAUSE)  # as a client backs off; no spinning on 503s


async def _rest_post(
    session: aiohttp.ClientSession, url: str, sender: str, text: str
) -> Optional[str]:
    """One REST message; None when the bot answered something, else what went wrong."""
    try:
        async with session.post(
            url, json={"sender": sender, "message": text}, headers={"X-Real-IP": _address(sender)}
        ) as resp:
            body = await resp.json(content_type=None)
            if resp.status != 200:
                return str(resp.status)
            return None if body else "empty answer"
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as exc:
        return type(exc).__name__


async def stop_second_rasa(running: Cluster, timeout: float = 60.0) -> None:
    """Stop ``rasa-2`` under supervisord and wait until HAProxy no longer sends it anything."""
    running.supervisor.rpc.supervisor.stopProcess("rasa-2", True)
    deadline = time.monotonic() + timeout
    while running.backends().get("rasa/rasa-2") != "DOWN":
        if time.monotonic() > deadline:
            raise RuntimeError("HAProxy still sees rasa-2 UP after it was stopped")
        await asyncio.sleep(0.5)


# --- burst -----------------------------------------------------------------------------------


async def rest_burst(base: str, size: int, timeout: float) -> Burst:
    """``size`` new REST customers send one message each at once."""
    result = Burst("REST")
    url = f"{base}/webhooks/rest/webhook"
    async with _session(timeout) as session:
        started = time.monotonic()

        async def one(n: int) -> None:
            failure = await _rest_post(session, url, f"burst-rest-{n}", BURST_MESSAGE)
            result.latencies.append(None if failure else time.monotonic() - started)
            if failure:
                result.errors += 1
                result.failures[failure] = result.failures.get(failure, 0) + 1

        await asyncio.gather(*(one(n) for n in range(size)))
    return result


class WidgetCrowd:
    """Widget customers with a session and an open socket each, waiting for the bot's reply."""

    def __init__(self, base: str):
        self.base = f"{base}/webhooks/widget"
        self.tokens: List[str] = []
        self.replied: Dict[int, float] = {}  # customer -> monotonic time of the first bot frame
        self.opened = 0
        self.started: Optional[float] = None
        self.readers: List[asyncio.Task] = []

    async def open(self, session: aiohttp.ClientSession, size: int) -> None:
        gate = asyncio.Semaphore(OPEN_CONCURRENCY)
        self.tokens = [""] * size

        async def start(n: int) -> None:
            async with gate:
                who = f"burst-widget-{n}"
                async with session.post(
                    f"{self.base}/session", headers={"X-Real-IP": _address(who)}
                ) as resp:
                    resp.raise_for_status()
                    self.tokens[n] = (await resp.json())["token"]
                ws = await session.ws_connect(
                    f"{self.base.replace('http', 'ws', 1)}/ws?token={self.tokens[n]}",
                    heartbeat=30,
                )
                self.opened += 1
                self.readers.append(asyncio.ensure_future(self._read(n, ws)))

        await asyncio.gather(*(start(n) for n in range(size)))

    async def _read(self, n: int, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for frame in ws:
            if frame.type != aiohttp.WSMsgType.TEXT or self.started is None:
                continue
            data = json.loads(frame.data)
            message = data.get("message") or {}
            if data.get("type") == "message" and message.get("sender") == "bot":
                self.replied.setdefault(n, time.monotonic())

    async def close(self) -> None:
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)


async def _widget_post(
    session: aiohttp.ClientSession, crowd: WidgetCrowd, n: int, give_up: float, result: Burst
) -> bool:
    """POST one message as widget.js does: a 502/503 is retried after ``Retry-After``."""
    while time.monotonic() < give_up:
        try:
            async with session.post(
                f"{crowd.base}/messages",
                json={"text": BURST_MESSAGE},
                headers={"Authorization": f"Bearer {crowd.tokens[n]}"},
            ) as resp:
                await resp.read()
                status, retry_after = resp.status, resp.headers.get("Retry-After")
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            status, retry_after = None, None
        if status == 200:
            return True
        if status not in (None, 502, 503, 504):
            return False
        result.retried[str(status)] = result.retried.get(str(status), 0) + 1
        await asyncio.sleep(float(retry_after or 1.0))
    return False


async def widget_burst(base: str, size: int, timeout: float) -> Burst:
    """``size`` widget customers (sockets open) send one message each at once."""
    result = Burst("widget")
    crowd = WidgetCrowd(base)
    async with _session(timeout) as sockets:
        await crowd.open(sockets, size)
        try:
            # A fresh client, as for the REST burst: each message on a new connection.
            async with _session(timeout) as senders:
                crowd.started = started = time.monotonic()

                async def one(n: int) -> None:
                    ok = await _widget_post(senders, crowd, n, started + timeout, result)
                    result.post_latencies.append(time.monotonic() - started)
                    result.errors += 0 if ok else 1

                await asyncio.gather(*(one(n) for n in range(size)))
                # Every message that was taken gets its reply on the socket (or time is up).
                taken = size - result.errors
                while len(crowd.replied) < taken and time.monotonic() < started + timeout:
                    await asyncio.sleep(0.1)
        finally:
            await crowd.close()
    result.latencies = [
        crowd.replied[n] - started if n in crowd.replied else None for n in range(size)
    ]
    return result


# --- the run and its report ------------------------------------------------------------------


@dataclass
class Report:
    """Everything one run measured."""

    command: str
    when: str
    two: Optional[Throughput] = None
    one: Optional[Throughput] = None
    bursts: List[Burst] = field(default_factory=list)
    window: float = 60.0

    def markdown(self) -> str:
        lines = [f"Run {self.when}:", "", "```", self.command, "```", ""]
        if self.two and self.one:
            lines += self._throughput_table()
        if {b.channel for b in self.bursts} == {"REST", "widget"}:
            lines += self._burst_table()
        return "\n".join(lines)

    def _throughput_table(self) -> List[str]:
        two, one = self.two, self.one
        lines = [
            "| Rasa servers | messages/s | latency p50 | p95 | errors | machine busy |"
            " Rasa CPU (cores) | HAProxy sessions per server |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for n, run in ((1, one), (2, two)):
            rasa = ", ".join(
                f"{name} {cores:.2f}" for name, cores in run.cpu.items() if name.startswith("rasa")
            )
            servers = ", ".join(f"{k} {v}" for k, v in sorted(run.per_server.items()) if v)
            lines.append(
                f"| {n} | {run.rate:.2f} | {_median(run.latencies):.3f} s |"
                f" {_quantile(run.latencies, 0.95):.3f} s | {run.errors} |"
                f" {run.busy:.0%} | {rasa} | {servers} |"
            )
        lines += ["", f"2 servers / 1 server: **{two.rate / one.rate:.2f}x**", ""]
        lines += ["CPU by program (cores, average over the window):", ""]
        lines += ["| program | 1 Rasa | 2 Rasa |", "|---|---|---|"]
        for name in sorted(set(one.cpu) | set(two.cpu)):
            a, b = one.cpu.get(name, 0.0), two.cpu.get(name, 0.0)
            if max(a, b) >= 0.01:
                lines.append(f"| {name} | {a:.2f} | {b:.2f} |")
        return lines + [""]

    def _burst_table(self) -> List[str]:
        w = self.window
        lines = [
            f"| channel | customers | answered | within {w:.0f} s | median | p95 | max | errors |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for b in self.bursts:
            done = b.done
            lines.append(
                f"| {b.channel} | {len(b.latencies)} | {len(done)} | {b.answered(w)} |"
                f" {_median(done):.2f} s | {_quantile(done, 0.95):.2f} s |"
                f" {max(done, default=float('nan')):.2f} s | {b.errors} |"
            )
        rest = next(b for b in self.bursts if b.channel == "REST")
        widget = next(b for b in self.bursts if b.channel == "widget")
        ratio = _median(widget.done) / _median(rest.done)
        lines += [
            "",
            f"widget median / REST median: **{ratio:.2f}x**; the widget's POST answers:"
            f" median {_median(widget.post_latencies):.2f} s; attempts answered 502/503 (or"
            f" not at all) and retried after Retry-After: {widget.retried or 'none'}",
            "",
        ]
        return lines


def _settings(args: argparse.Namespace, workdir: Path) -> ClusterSettings:
    from actions.orders.demo_store import seed_demo_store

    settings = ClusterSettings.on_free_ports(
        project_dir=Path(".").resolve(),
        run_dir=workdir / "run",
        order_db=workdir / "store.db",
        model=args.model,
        # Every customer of the load poses as its own address (X-Real-IP).
        trust_client_real_ip=True,
        extra_env=dict(pair.split("=", 1) for pair in args.env),
    )
    seed_demo_store(settings.order_db, dt.date.today())
    return settings


async def measure(running: Cluster, args: argparse.Namespace, report: Report) -> None:
    """Warm up, throughput with 2 then 1 Rasa, then the bursts on rasa-1.

    A phase that fails is reported and skipped: the cluster took minutes to start.
    """
    print(f"warming up ({args.warmup:.0f} s)...", flush=True)
    await throughput(running, "warmup", args.concurrency, args.warmup)
    if not args.skip_throughput:
        print(f"throughput, 2 Rasa servers ({args.seconds:.0f} s)...", flush=True)
        report.two = await _phase(throughput(running, "two", args.concurrency, args.seconds))
    await stop_second_rasa(running)
    if not args.skip_throughput:
        print(f"throughput, 1 Rasa server ({args.seconds:.0f} s)...", flush=True)
        report.one = await _phase(throughput(running, "one", args.concurrency, args.seconds))
    rasa_1 = running.settings.url(running.settings.rasa_backends[0])
    for size in args.burst:
        print(f"burst of {size}, REST then widget, on rasa-1...", flush=True)
        for run in (rest_burst, widget_burst):
            spy = asyncio.ensure_future(
                _spy(running.pid("rasa-1"), args.spy_dir, f"{run.__name__}-{size}")
            )
            burst = await _phase(run(rasa_1, size, args.burst_timeout))
            spy.cancel()
            if burst is not None:
                report.bursts.append(burst)


async def _spy(pid: int, spy_dir: Optional[Path], name: str, every: float = 3.0) -> None:
    """``py-spy dump`` of the Rasa process every few seconds while a burst runs."""
    if spy_dir is None:
        return
    spy_dir.mkdir(parents=True, exist_ok=True)
    for n in itertools.count(1):
        await asyncio.sleep(every)
        proc = await asyncio.create_subprocess_exec(
            "py-spy",
            "dump",
            "--pid",
            str(pid),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        (spy_dir / f"{name}-{n:02d}.txt").write_bytes(out)


async def _phase(measuring):
    """Await one measurement; print its figures, or its failure and None."""
    import traceback

    try:
        result = await measuring
    except Exception:  # noqa: BLE001 - the other phases still run
        traceback.print_exc()
        return None
    if isinstance(result, Throughput):
        print(f"  {result.rate:.2f} messages/s, {result.errors} errors", flush=True)
    else:
        done = result.done
        print(
            f"  {result.channel}: {len(done)}/{len(result.latencies)} answered,"
            f" median {_median(done):.2f} s, errors {result.errors} {result.failures},"
            f" retried {result.retried}",
            flush=True,
        )
    return result


def _raise_file_limit() -> None:
    """Thousands of sockets in this one process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: Optional[List[str]] = None) -> None:
    """Start the cluster, measure, print Markdown."""
    import sys

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="each throughput window")
    parser.add_argument("--warmup", type=float, default=15.0, help="load before measuring")
    parser.add_argument("--concurrency", type=int, default=16, help="throughput customers")
    parser.add_argument("--burst", type=int, nargs="*", default=[500], help="burst sizes")
    parser.add_argument("--burst-window", type=float, default=60.0, help="'answered within'")
    parser.add_argument("--burst-timeout", type=float, default=300.0, help="give up after")
    parser.add_argument("--skip-throughput", action="store_true", help="only the bursts")
    parser.add_argument("--spy-dir", type=Path, help="py-spy dumps of rasa-1 during bursts")
    parser.add_argument(
        "--env", action="append", default=[], help="KEY=VALUE for every cluster process"
    )
    parser.add_argument("--model", default=None, help="model file in models/ (default newest)")
    args = parser.parse_args(argv)
    _raise_file_limit()
    command = ".venv/bin/python -m bot.devtools.cluster_bench " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    report = Report(
        command.strip(), dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    )
    report.window = args.burst_window
    with tempfile.TemporaryDirectory(prefix="cluster-bench-") as tmp:
        print("starting the cluster (two Rasa servers load the model: minutes)...", flush=True)
        with cluster(_settings(args, Path(tmp))) as running:
            asyncio.run(measure(running, args, report))
    print(report.markdown())


if __name__ == "__main__":
    main()
