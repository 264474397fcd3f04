"""``make cluster``: the product as it runs past one process of each kind, on one machine.

Redis primary + replica watched by three Sentinels, two action servers, two Rasa servers and
two handoff services, with HAProxy in front of each kind; everything under one supervisord
(bot/devtools/supervision.py), so a process that dies is restarted::

    browser ─▶ HAProxy :5005 ─▶ rasa-1, rasa-2 ──▶ HAProxy :5055 ─▶ actions-1, actions-2
    console ─▶ HAProxy :5080 ─▶ handoff-1, handoff-2 ──▶ HAProxy :5005 (Rasa API)
    Rasa pulls the active model from HAProxy :5080 /models/active (the model server)
    every process finds the Redis primary through the Sentinels (REDIS_SENTINELS)

:func:`cluster` is the API the fault tests use: LB URLs, Sentinel addresses, and
:meth:`Cluster.kill` / :meth:`Cluster.wait_restarted` to SIGKILL one program and get its
new pid. ``python -m bot.devtools.cluster`` runs it until Ctrl+C.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
import shutil
import signal
import socket
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import yaml

from bot.devtools.stack import (
    ACTIONS_READY_PATH,
    HANDOFF_READY_PATH,
    StackSettings,
    actions_program,
    base_env,
    handoff_program,
    rasa_program,
)
from bot.devtools.supervision import Program, SupervisionError, Supervisor, file_limit

# What HAProxy asks each backend before sending it traffic (readiness: Redis, model loaded).
RASA_READY_PATH = "/webhooks/widget/ready"
MODEL_SERVER_PATH = "/models/active"
# Each kind's Prometheus scrape (the handoff service's /metrics is the support lead's page).
SCRAPE_PATHS = {"rasa": "/webhooks/widget/metrics", "actions": "/metrics", "handoff": "/prometheus"}
MODELS_API = "/api/admin/models/"  # activation and rollback (bot/retraining/model_registry.py)


@dataclass
class ClusterSettings:
    """Ports and paths of one cluster; :meth:`on_free_ports` for tests.

    The three load-balanced ports are the ones ``make run`` uses for the single processes,
    so the widget, the console and ``make shell`` work against either.
    """

    project_dir: Path = Path(".")  # the bot project the processes run in
    # Where the handoff services serve models from and write labels (HANDOFF_PROJECT_DIR);
    # None: project_dir. Tests give a copy.
    models_project_dir: Optional[Path] = None
    run_dir: Path = Path("var/cluster")
    order_db: Path = Path("var/demo_store.db")
    rasa_port: int = 5005  # HAProxy: widget, REST channel and Rasa's HTTP API
    handoff_port: int = 5080  # HAProxy: console, handoff API, model server
    actions_port: int = 5055  # HAProxy: action servers (Rasa's action_endpoint)
    stats_port: int = 8404  # HAProxy's stats page (CSV at /;csv)
    rasa_backends: Tuple[int, ...] = (5105, 5106)
    actions_backends: Tuple[int, ...] = (5155, 5156)
    handoff_backends: Tuple[int, ...] = (5181, 5182)
    redis_ports: Tuple[int, ...] = (6379, 6380)  # the first starts as primary
    sentinel_ports: Tuple[int, ...] = (26379, 26380, 26381)
    sentinel_service: str = "storefront"
    sentinel_down_after_ms: int = 2000
    # The first active model (a file name in models/); None: the newest.
    model: Optional[str] = None
    # How often each Rasa server asks the model server for a new model.
    model_pull_seconds: int = 10
    # Two Rasa servers load their model at once: minutes on a busy machine.
    rasa_ready_timeout: float = 1200.0
    rasa_token: str = field(
        default_factory=lambda: os.environ.get("RASA_TOKEN") or secrets.token_urlsafe(24)
    )
    # Keep an X-Real-IP the client sent (a load test posing as many addresses); otherwise
    # HAProxy sets it to the client's address, as a production balancer must.
    trust_client_real_ip: bool = False
    extra_env: Dict[str, str] = field(default_factory=dict)

    @classmethod
    def on_free_ports(cls, **overrides: object) -> "ClusterSettings":
        """Settings with every port free on this machine (for tests)."""
        ports: Dict[str, object] = {}
        for spec in fields(cls):
            if spec.name.endswith("_port"):
                ports[spec.name] = _free_port()
            elif spec.name.endswith(("_backends", "_ports")):
                ports[spec.name] = tuple(_free_port() for _ in getattr(cls(), spec.name))
        return cls(**{**ports, **overrides})

    @property
    def log_dir(self) -> Path:
        return self.run_dir / "log"

    @property
    def sentinels(self) -> List[Tuple[str, int]]:
        return [("127.0.0.1", port) for port in self.sentinel_ports]

    def url(self, port: int) -> str:
        return f"http://127.0.0.1:{port}"


@dataclass
class Cluster:
    """A running cluster: where to reach it, and its supervisord to crash programs with."""

    settings: ClusterSettings
    supervisor: Supervisor

    @property
    def rasa_url(self) -> str:
        """HAProxy in front of the Rasa servers: widget, REST channel, Rasa API."""
        return self.settings.url(self.settings.rasa_port)

    widget_url = rasa_url

    @property
    def handoff_url(self) -> str:
        """HAProxy in front of the handoff services."""
        return self.settings.url(self.settings.handoff_port)

    @property
    def stats_url(self) -> str:
        return self.settings.url(self.settings.stats_port)

    @property
    def sentinels(self) -> List[Tuple[str, int]]:
        return self.settings.sentinels

    @property
    def sentinel_service(self) -> str:
        return self.settings.sentinel_service

    @property
    def rasa_token(self) -> str:
        return self.settings.rasa_token

    @property
    def programs(self) -> List[str]:
        """Every program's name: redis-1, sentinel-1, actions-1, rasa-1, handoff-1, haproxy..."""
        return list(self.supervisor.programs)

    def as_stack(self) -> StackSettings:
        """A StackSettings whose URLs are the balancers', for helpers written for ``stack``."""
        return StackSettings(
            project_dir=self.settings.project_dir,
            rasa_port=self.settings.rasa_port,
            handoff_port=self.settings.handoff_port,
            redis_url=self.redis_url(),
            log_dir=self.settings.log_dir,
            order_db=self.settings.order_db,
            rasa_token=self.settings.rasa_token,
            extra_env=dict(self.settings.extra_env),
        )

    def pid(self, name: str) -> int:
        """The current pid of program ``name`` (0 when not running)."""
        return self.supervisor.pid(name)

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> int:
        """SIGKILL (or ``sig``) program ``name``; returns the pid that was killed."""
        return self.supervisor.kill(name, sig)

    def wait_restarted(self, name: str, old_pid: int, timeout: Optional[float] = None) -> int:
        """Wait until supervisord restarted ``name`` and it answers again; its new pid."""
        return self.supervisor.wait_restarted(name, old_pid, timeout)

    def redis_primary(self) -> str:
        """The program (``redis-1`` or ``redis-2``) the Sentinels name primary now."""
        from redis.sentinel import Sentinel

        host, port = Sentinel(self.sentinels, socket_timeout=1).discover_master(
            self.sentinel_service
        )
        return f"redis-{self.settings.redis_ports.index(int(port)) + 1}"

    def redis_url(self) -> str:
        """A plain URL of the current primary (for a test's own checks)."""
        port = self.settings.redis_ports[int(self.redis_primary().split("-")[1]) - 1]
        return f"redis://127.0.0.1:{port}/0"

    def backends(self) -> Dict[str, str]:
        """HAProxy's view: ``"rasa/rasa-1" -> "UP"`` (or DOWN, MAINT...) for every server."""
        with urllib.request.urlopen(f"{self.stats_url}/;csv", timeout=5) as response:
            rows = csv.DictReader(io.StringIO(response.read().decode().lstrip("# ")))
            return {
                f"{row['pxname']}/{row['svname']}": row["status"]
                for row in rows
                if row["svname"] not in ("FRONTEND", "BACKEND")
            }

    def wait_backends_up(self, timeout: float = 120.0) -> None:
        """Wait until HAProxy's health checks pass for every server."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                down = [name for name, state in self.backends().items() if state != "UP"]
            except OSError:
                down = ["haproxy"]
            if not down:
                return
            time.sleep(0.5)
        raise SupervisionError(f"HAProxy still sees {down} not UP; see {self.settings.log_dir}")


@contextmanager
def cluster(settings: ClusterSettings, console: bool = False) -> Iterator[Cluster]:
    """Start the whole cluster, wait until HAProxy sees every server up; stop it on exit."""
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    programs = cluster_programs(settings)
    supervisor = Supervisor(
        programs, settings.run_dir / "supervisor", settings.log_dir, cluster_env(settings), console
    )
    running = Cluster(settings, supervisor)
    try:
        supervisor.launch()
        supervisor.run(_named(programs, "redis-", "sentinel-", "haproxy"))
        _set_first_model(settings)
        supervisor.run(_named(programs, "actions-", "handoff-", "rasa-"))
        running.wait_backends_up()
        yield running
    finally:
        supervisor.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _named(programs: List[Program], *prefixes: str) -> List[str]:
    return [p.name for p in programs if p.name.startswith(prefixes)]


def cluster_env(settings: ClusterSettings) -> Dict[str, str]:
    """The environment every program of the cluster gets (instances differ only in ports)."""
    front = _instance(settings, rasa_port=settings.rasa_port, handoff_port=settings.handoff_port)
    env = base_env(front)
    sentinels = ",".join(f"{host}:{port}" for host, port in settings.sentinels)
    env.update(
        {
            "REDIS_SENTINELS": sentinels,
            "REDIS_SENTINEL_SERVICE": settings.sentinel_service,
            "HANDOFF_PROJECT_DIR": str(
                (settings.models_project_dir or settings.project_dir).resolve()
            ),
            # Activation: each Rasa pulls from the model server; wait until all of them run it.
            "RETRAINING_MODEL_SERVER": "true",
            "RETRAINING_RASA_URLS": ",".join(settings.url(p) for p in settings.rasa_backends),
            # Behind HAProxy the client's address is in X-Real-IP (HAProxy sets it).
            "SANIC_REAL_IP_HEADER": "X-Real-IP",
            # A killed Rasa leaves its conversations' locks in Redis; the other instance
            # waits for them to expire. Rasa's 60 s default outlasted clients' timeouts in
            # the fault test; one message's processing takes well under this.
            "TICKET_LOCK_LIFETIME": "15",
        }
    )
    env.update(settings.extra_env)
    return env


def cluster_programs(settings: ClusterSettings) -> List[Program]:
    """Every program of the cluster, with its config files written to ``run_dir``."""
    programs = redis_programs(settings) + sentinel_programs(settings)
    programs.append(haproxy_program(settings))
    endpoints = write_cluster_endpoints(settings)
    for n, port in enumerate(settings.actions_backends, 1):
        programs.append(actions_program(_instance(settings, actions_port=port), f"actions-{n}"))
    for n, port in enumerate(settings.handoff_backends, 1):
        programs.append(handoff_program(_instance(settings, handoff_port=port), f"handoff-{n}"))
    for n, port in enumerate(settings.rasa_backends, 1):
        rasa = rasa_program(_instance(settings, rasa_port=port), f"rasa-{n}", endpoints)
        # Rasa pulls its model after the handoff services answer (the model server).
        rasa.priority = 40
        rasa.ready_timeout = settings.rasa_ready_timeout
        programs.append(rasa)
    return programs


def _instance(settings: ClusterSettings, **ports: int) -> StackSettings:
    """The StackSettings of one instance: its own port, the balancers' for the rest."""
    values = dict(
        project_dir=settings.project_dir,
        rasa_port=settings.rasa_port,
        actions_port=settings.actions_port,
        handoff_port=settings.handoff_port,
        redis_url=f"redis://127.0.0.1:{settings.redis_ports[0]}/0",
        model=None,
        order_db=settings.order_db,
        log_dir=settings.log_dir,
        rasa_token=settings.rasa_token,
        extra_env=settings.extra_env,
    )
    return StackSettings(**{**values, **ports})


# --- Redis and Sentinel --------------------------------------------------------------------


def redis_programs(settings: ClusterSettings) -> List[Program]:
    """redis-1 (primary at first) and the replicas, append-only, each in its own directory.

    Config files are written once: Sentinel rewrites them on a failover, so a restarted
    cluster keeps the roles (and data) it had.
    """
    binary = _binary("redis-server")
    primary = settings.redis_ports[0]
    programs = []
    for n, port in enumerate(settings.redis_ports, 1):
        data = (settings.run_dir / f"redis-{n}").resolve()
        data.mkdir(parents=True, exist_ok=True)
        lines = [f"port {port}", "bind 127.0.0.1", f"dir {data}", "appendonly yes"]
        if port != primary:
            lines.append(f"replicaof 127.0.0.1 {primary}")
        conf = _write_once(data / "redis.conf", lines)
        programs.append(
            Program(f"redis-{n}", [binary, str(conf)], data, ready_port=port, priority=10)
        )
    return programs


def sentinel_programs(settings: ClusterSettings) -> List[Program]:
    """Three redis-sentinel processes watching the primary (quorum 2)."""
    binary = _binary("redis-sentinel")
    service = settings.sentinel_service
    programs = []
    for n, port in enumerate(settings.sentinel_ports, 1):
        data = (settings.run_dir / f"sentinel-{n}").resolve()
        data.mkdir(parents=True, exist_ok=True)
        quorum = len(settings.sentinel_ports) // 2 + 1
        lines = [
            f"port {port}",
            "bind 127.0.0.1",
            f"dir {data}",
            f"sentinel monitor {service} 127.0.0.1 {settings.redis_ports[0]} {quorum}",
            f"sentinel down-after-milliseconds {service} {settings.sentinel_down_after_ms}",
            f"sentinel failover-timeout {service} 10000",
            f"sentinel parallel-syncs {service} 1",
        ]
        conf = _write_once(data / "sentinel.conf", lines)
        programs.append(
            Program(f"sentinel-{n}", [binary, str(conf)], data, ready_port=port, priority=15)
        )
    return programs


def _write_once(path: Path, lines: List[str]) -> Path:
    if not path.exists():
        path.write_text("\n".join(lines) + "\n")
    return path


def _binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found is None:
        raise RuntimeError(f"{name} is not installed: run `make setup` (Debian package {name})")
    return found


# --- Rasa's endpoints and HAProxy ----------------------------------------------------------


def write_cluster_endpoints(settings: ClusterSettings) -> Path:
    """endpoints.yml of every Rasa server: actions, model server and stores via the cluster."""
    source = yaml.safe_load((settings.project_dir / "endpoints.yml").read_text())
    source["action_endpoint"] = {"url": f"{settings.url(settings.actions_port)}/webhook"}
    source["models"] = {
        "url": f"{settings.url(settings.handoff_port)}{MODEL_SERVER_PATH}",
        # Rasa reads ${...} from its environment: the token stays out of the file.
        "token": "${RASA_TOKEN}",
        "wait_time_between_pulls": settings.model_pull_seconds,
    }
    # The stores (bot/stores, the project's endpoints.yml) find the primary through the
    # Sentinels of REDIS_SENTINELS; url and port only say where it was at first.
    primary = {"url": "127.0.0.1", "port": settings.redis_ports[0], "db": 0}
    for key in ("tracker_store", "lock_store"):
        source[key] = {**source.get(key, {}), **primary}
    target = settings.run_dir / "endpoints.yml"
    target.write_text(yaml.safe_dump(source))
    return target


def haproxy_program(settings: ClusterSettings) -> Program:
    """HAProxy in the foreground (``-db``), with its config rendered into ``run_dir``."""
    conf = settings.run_dir / "haproxy.cfg"
    conf.write_text(render_haproxy(settings))
    return Program(
        "haproxy",
        [_binary("haproxy"), "-db", "-f", str(conf.resolve())],
        settings.run_dir,
        ready_port=settings.stats_port,
        priority=20,
    )


def render_haproxy(settings: ClusterSettings) -> str:
    """haproxy.cfg: one frontend and backend per kind of process, health-checked."""
    real_ip = "http-request set-header X-Real-IP %[src]"
    if settings.trust_client_real_ip:
        real_ip += " unless { req.hdr(X-Real-IP) -m found }"
    lines = [
        "global",
        "    log stdout format raw local0 info",
        # Two descriptors per proxied connection, within what supervisord allows (minfds).
        f"    maxconn {max(256, (file_limit() - 200) // 2)}",
        "",
        "defaults",
        "    mode http",
        "    log global",
        # The path without its query string: widget and API tokens travel as ?token=.
        '    log-format "%ci [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %tsc %HM %HPO"',
        "    option dontlognull",
        "    timeout connect 2s",
        "    timeout client 65s",
        "    timeout server 65s",
        # An open WebSocket is a tunnel: it may stay quiet for long.
        "    timeout tunnel 1h",
        "    timeout http-keep-alive 10s",
        # A request that could not reach a server (it died) goes to the other one.
        "    option redispatch",
        "    retries 2",
        "    retry-on conn-failure",
        "    default-server inter 1s fall 2 rise 2",
        # Without it a check's answer must come within `inter` (1 s): a busy Rasa (parsing
        # blocks its event loop) misses that under 16 customers and is taken out of service
        # for nothing (cluster_bench). A dead server still refuses at once.
        "    timeout check 5s",
        "",
    ]
    kinds = (
        ("rasa", settings.rasa_port, settings.rasa_backends, RASA_READY_PATH),
        ("actions", settings.actions_port, settings.actions_backends, ACTIONS_READY_PATH),
        ("handoff", settings.handoff_port, settings.handoff_backends, HANDOFF_READY_PATH),
    )
    for kind, port, backends, ready in kinds:
        lines += [
            f"frontend {kind}",
            f"    bind 127.0.0.1:{port}",
            f"    {real_ip}",
            # Scrapes answer without a token: the monitoring network asks each server directly.
            f"    http-request deny deny_status 404 if {{ path {SCRAPE_PATHS[kind]} }}",
            f"    default_backend {kind}",
            "",
            f"backend {kind}",
            # Long-lived sockets: new ones go to the server with fewest open.
            "    balance leastconn",
            f"    option httpchk GET {ready}",
            "    http-check expect status 200",
        ]
        if kind == "handoff":
            # An activation answers once every Rasa pulled and loaded the model: minutes.
            lines.append(f"    http-request set-timeout server 15m if {{ path_beg {MODELS_API} }}")
        lines += [
            f"    server {kind}-{n} 127.0.0.1:{backend} check"
            for n, backend in enumerate(backends, 1)
        ]
        lines.append("")
    lines += [
        "listen stats",
        f"    bind 127.0.0.1:{settings.stats_port}",
        "    stats enable",
        "    stats uri /",
        "    stats refresh 5s",
        "",
    ]
    return "\n".join(lines)


def _set_first_model(settings: ClusterSettings) -> None:
    """Make a model active before the Rasa servers start, so their first pull gets one."""
    from bot.retraining.model_registry import set_first_model
    from handoff.core.settings import load_config

    set_first_model(load_config(env=cluster_env(settings)), settings.model)


def main() -> None:
    """``make cluster``: run the cluster with the demo data until Ctrl+C or SIGTERM."""
    import asyncio
    import datetime as dt

    from actions.orders.demo_store import seed_demo_store
    from bot.devtools.stack import DEMO_PASSWORD, ensure_demo_accounts
    from bot.nlu.training import ensure_model

    ensure_model(Path("."))
    settings = ClusterSettings()
    settings.order_db.parent.mkdir(parents=True, exist_ok=True)
    seed_demo_store(settings.order_db, dt.date.today())
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    print("starting the cluster (Redis + Sentinel, 2 x actions, Rasa, handoff, HAProxy)...")
    try:
        with cluster(settings, console=True) as running:
            asyncio.run(ensure_demo_accounts(running.redis_url()))
            print(
                f"\nThe cluster is running.\n"
                f"  Demo store + widget:  {running.handoff_url}/demo\n"
                f"  CSR console:          {running.handoff_url}/console "
                f"(alice / {DEMO_PASSWORD})\n"
                f"  Rasa (balanced):      {running.rasa_url}\n"
                f"  HAProxy stats:        {running.stats_url}/\n"
                f"  Redis Sentinels:      "
                f"{', '.join(f'{host}:{port}' for host, port in running.sentinels)} "
                f"(service {running.sentinel_service})\n"
                f"  Processes:            .venv/bin/supervisorctl -c "
                f"{running.supervisor.config_path} status\n"
                f"  Logs:                 {settings.log_dir}/\n"
                f"Press Ctrl+C to stop.",
                flush=True,
            )
            signal.pause()
    except KeyboardInterrupt:
        print("stopped.")
    except SupervisionError as exc:
        print(f"cluster: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
