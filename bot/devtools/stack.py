"""Start the product's processes (Redis, action server, Rasa, handoff service) under
supervisord and wait until they answer.

Used by ``make run`` (``python -m bot.devtools.stack``) and by the integration tests,
so that what the tests exercise is exactly what a user runs. The program definitions here
are reused by ``make cluster`` (bot/devtools/cluster.py), which runs several of each.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional
from urllib.parse import urlparse

import yaml

from bot.devtools.supervision import Program, Supervisor
from handoff.core.settings import RASA_TOKEN_FILE


@dataclass
class StackSettings:
    """Ports, paths and environment of one running stack."""

    project_dir: Path = Path(".")
    rasa_port: int = 5005
    actions_port: int = 5055
    handoff_port: int = 5080
    redis_url: Optional[str] = None  # None: start a local redis-server on redis_port
    redis_port: int = 6379
    model: Optional[Path] = None
    order_db: Path = Path("var/demo_store.db")
    log_dir: Path = Path("var/log")
    data_dir: Path = Path("var/redis")
    rasa_token: str = field(
        default_factory=lambda: os.environ.get("RASA_TOKEN") or secrets.token_urlsafe(24)
    )
    extra_env: Dict[str, str] = field(default_factory=dict)
    # The running supervisord while bot_stack() runs (None otherwise).
    supervisor: Optional[Supervisor] = field(default=None, repr=False, compare=False)

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def handoff_url(self) -> str:
        return f"http://127.0.0.1:{self.handoff_port}"


def wait_for_http(url: str, proc: subprocess.Popen, timeout: float, log: Path) -> None:
    """Poll ``url`` until it answers 200; fail early if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[:4]} exited with {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s; see {log}")


@contextmanager
def process(
    name: str,
    command: List[str],
    env: Dict[str, str],
    settings: StackSettings,
    health_url: str,
    timeout: float,
) -> Iterator[subprocess.Popen]:
    """Run one process with its log in ``log_dir``; stop it on exit."""
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    log = settings.log_dir / f"{name}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            command,
            cwd=settings.project_dir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_http(health_url, proc, timeout, log)
        yield proc
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def base_env(settings: StackSettings) -> Dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "BOT_PROJECT_DIR": str(settings.project_dir.resolve()),
            "ORDER_DB_PATH": str(settings.order_db.resolve()),
            "REDIS_URL": settings.redis_url or "",
            "RASA_URL": settings.rasa_url,
            "RASA_TOKEN": settings.rasa_token,
            "HANDOFF_PORT": str(settings.handoff_port),
            "TF_CPP_MIN_LOG_LEVEL": "3",
            # Rasa's telemetry and error reports would call out to the internet.
            "RASA_TELEMETRY_ENABLED": "false",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(settings.extra_env)
    return env


def write_endpoints(settings: StackSettings) -> Path:
    """endpoints.yml with this stack's ports and Redis (the file users edit stays as is)."""
    source = yaml.safe_load((settings.project_dir / "endpoints.yml").read_text())
    source["action_endpoint"] = {"url": f"http://127.0.0.1:{settings.actions_port}/webhook"}
    redis = urlparse(settings.redis_url or "")
    where = {
        "url": redis.hostname or "127.0.0.1",
        "port": redis.port or 6379,
        "db": int((redis.path or "/0").strip("/") or 0),
    }
    if redis.password:
        where["password"] = redis.password
    source["tracker_store"] = {**source.get("tracker_store", {}), **where}
    source["lock_store"] = {**source.get("lock_store", {}), **where}
    target = settings.log_dir.parent / f"endpoints-{settings.rasa_port}.yml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(source))
    return target


# The action server's entry point and the routes that say each process is ready to serve
# (readiness, not mere liveness: Redis reachable, model loaded). The cluster's HAProxy checks
# the same routes.
ACTIONS_MODULE = "actions.server"  # rasa-sdk's server plus /ready and /metrics
ACTIONS_READY_PATH = "/ready"
HANDOFF_READY_PATH = "/ready"


def redis_program(settings: StackSettings, name: str = "redis") -> Program:
    """A local redis-server in the foreground, append-only (trackers and queue survive)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(
            "redis-server is not installed (Debian package redis-server) and REDIS_URL is not set"
        )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        binary,
        "--port",
        str(settings.redis_port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(settings.data_dir.resolve()),
        "--appendonly",
        "yes",
    ]
    return Program(name, command, settings.project_dir, ready_port=settings.redis_port, priority=10)


def actions_program(settings: StackSettings, name: str = "actions") -> Program:
    """The action server (``python -m actions.server``, rasa-sdk's options) on ``actions_port``."""
    port = settings.actions_port
    command = [sys.executable, "-m", ACTIONS_MODULE, "--actions", "actions", "--port", str(port)]
    return Program(
        name,
        command,
        settings.project_dir,
        ready_url=f"http://127.0.0.1:{port}{ACTIONS_READY_PATH}",
        priority=30,
    )


def rasa_program(
    settings: StackSettings, name: str = "rasa", endpoints: Optional[Path] = None
) -> Program:
    """``rasa run`` with the widget and REST channels and the HTTP API on ``rasa_port``.

    Without ``settings.model`` Rasa takes its model from the ``models:`` endpoint of
    ``endpoints`` (the cluster's model server).
    """
    endpoints = endpoints or write_endpoints(settings)
    model = ["--model", str(settings.model)] if settings.model else []
    command = [
        sys.executable,
        "-m",
        "rasa",
        "run",
        *model,
        "--port",
        str(settings.rasa_port),
        "--endpoints",
        str(endpoints),
        "--credentials",
        "credentials.yml",
        "--enable-api",
        "--auth-token",
        settings.rasa_token,
        "--cors",
        "*",
    ]
    return Program(
        name,
        command,
        settings.project_dir,
        ready_url=f"{settings.rasa_url}/status?token={settings.rasa_token}",
        ready_timeout=600,  # loading the model takes a minute, longer on a busy machine
        priority=30,
        startsecs=10,
        startretries=3,
    )


def handoff_program(settings: StackSettings, name: str = "handoff") -> Program:
    """The handoff service (``python -m handoff.service``) on ``settings.handoff_port``."""
    return Program(
        name,
        [sys.executable, "-m", "handoff.service"],
        settings.project_dir,
        env={"HANDOFF_PORT": str(settings.handoff_port)},
        ready_url=f"{settings.handoff_url}{HANDOFF_READY_PATH}",
        ready_timeout=60,
        priority=30,
    )


def stack_programs(settings: StackSettings) -> List[Program]:
    """Every program of ``make run``: Redis (unless REDIS_URL is given), actions, Rasa, handoff."""
    if settings.model is None:
        raise ValueError("the stack needs a trained model path")
    programs = []
    if not settings.redis_url:
        programs.append(redis_program(settings))
        settings.redis_url = f"redis://127.0.0.1:{settings.redis_port}/0"
    programs += [actions_program(settings), rasa_program(settings), handoff_program(settings)]
    return programs


@contextmanager
def supervised(
    programs: List[Program], settings: StackSettings, run_dir: Path, console: bool = False
) -> Iterator[Supervisor]:
    """``programs`` under one supervisord (run files in ``run_dir``), ready; stopped on exit."""
    supervisor = Supervisor(programs, run_dir, settings.log_dir, base_env(settings), console)
    with supervisor:
        yield supervisor


@contextmanager
def handoff_service(settings: StackSettings) -> Iterator[Supervisor]:
    """A supervised handoff service alone, on the Redis of ``settings``."""
    run_dir = settings.log_dir.parent / f"supervisor-handoff-{settings.handoff_port}"
    with supervised([handoff_program(settings)], settings, run_dir) as supervisor:
        yield supervisor


@contextmanager
def bot_stack(settings: StackSettings, console: bool = False) -> Iterator[StackSettings]:
    """Redis, action server, Rasa and the handoff service under supervisord, stopped together.

    Redis starts first; the others start together once it answers. ``settings.supervisor``
    is the running :class:`Supervisor` (kill a program, read its pid) while the stack runs.
    """
    programs = stack_programs(settings)
    run_dir = settings.log_dir.parent / f"supervisor-{settings.rasa_port}"
    with supervised(programs, settings, run_dir, console) as supervisor:
        settings.supervisor = supervisor
        try:
            yield settings
        finally:
            settings.supervisor = None


DEMO_ACCOUNTS = (("alice", "csr", "Alice (CSR)"), ("admin", "admin", "Store admin"))
DEMO_PASSWORD = "demo-password"


async def ensure_demo_accounts(redis_url: str) -> None:
    """CSR and admin logins for the demo (skipped when they exist)."""
    from dataclasses import replace

    from handoff.core.errors import AccountExists
    from handoff.core.resources import Resources
    from handoff.core.settings import load_config

    resources = Resources(replace(load_config(), redis_url=redis_url))
    try:
        auth = resources.auth
        for username, role, display_name in DEMO_ACCOUNTS:
            try:
                await auth.create_account(username, DEMO_PASSWORD, role, display_name=display_name)
            except AccountExists:
                pass
    finally:
        await resources.close()


@contextmanager
def sharing_rasa_token(settings: StackSettings) -> Iterator[Path]:
    """Write Rasa's API token where the retraining CLI looks for it, while the stack runs.

    Without it a CLI in a second terminal could not reach this Rasa (docs/retraining.md).
    """
    path = settings.project_dir / RASA_TOKEN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(settings.rasa_token + "\n")
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def main() -> None:
    import datetime as dt

    from actions.orders.demo_store import seed_demo_store
    from bot.devtools.mailbox import demo_mailbox
    from bot.nlu.training import ensure_model

    settings = StackSettings(
        model=ensure_model(Path(".")), redis_url=os.environ.get("REDIS_URL") or None
    )
    mail_port = int(os.environ.get("DEMO_SMTP_PORT", "2525"))
    own_mailbox = not os.environ.get("HANDOFF_SMTP_HOST")
    if own_mailbox:
        # No mail server of the user's: the demo's own mailbox takes the mail (var/mail/).
        settings.extra_env.update(
            HANDOFF_SMTP_HOST="127.0.0.1",
            HANDOFF_SMTP_PORT=str(mail_port),
            HANDOFF_SMTP_STARTTLS="false",
        )
    settings.order_db.parent.mkdir(parents=True, exist_ok=True)
    seed_demo_store(settings.order_db, dt.date.today())
    # SIGTERM (e.g. from a service manager) stops the stack as cleanly as Ctrl+C.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    print(
        "starting Redis, the action server, Rasa and the handoff service "
        "(loading the model takes about a minute)...",
        flush=True,
    )
    try:
        with ExitStack() as running:
            if own_mailbox:
                running.enter_context(demo_mailbox(Path("var/mail"), mail_port))
            running.enter_context(bot_stack(settings, console=True))
            running.enter_context(sharing_rasa_token(settings))
            asyncio.run(ensure_demo_accounts(settings.redis_url))
            print(
                f"\nEverything is running.\n"
                f"  Demo store + widget:     {settings.handoff_url}/demo\n"
                f"  CSR console:             {settings.handoff_url}/console\n"
                f"  Chat in this terminal:   make shell\n"
                f"  Chat over HTTP:          curl -s -XPOST "
                f"{settings.rasa_url}/webhooks/rest/webhook "
                f'-d \'{{"sender": "me", "message": "where is my order A1002?"}}\'\n'
                f"  Handoff API (CSRs):      {settings.handoff_url}/api  "
                f"(OpenAPI: {settings.handoff_url}/openapi.yaml)\n"
                f"  Demo logins:             alice / {DEMO_PASSWORD} (CSR), "
                f"admin / {DEMO_PASSWORD} (admin)\n"
                f"  Redis:                   {settings.redis_url}\n"
                + (
                    "  Mail the demo sends:     var/mail/ (and a line here per mail)\n"
                    if own_mailbox
                    else ""
                )
                + f"  Logs:                    {settings.log_dir}/\n"
                f"  Processes (supervised):  .venv/bin/supervisorctl -c "
                f"{settings.supervisor.config_path} status\n"
                f"Press Ctrl+C to stop.",
                flush=True,
            )
            signal.pause()
    except KeyboardInterrupt:
        print("stopped.")


if __name__ == "__main__":
    main()
