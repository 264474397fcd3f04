"""Start the product's processes (Redis, action server, Rasa, handoff service) and wait until
they answer.

Used by ``make run`` (``python -m bot.devtools.stack``) and by the integration tests,
so that what the tests exercise is exactly what a user runs.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
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


@contextmanager
def action_server(settings: StackSettings) -> Iterator[subprocess.Popen]:
    command = [
        sys.executable,
        "-m",
        "rasa_sdk",
        "--actions",
        "actions",
        "--port",
        str(settings.actions_port),
    ]
    with process(
        "actions",
        command,
        base_env(settings),
        settings,
        f"http://127.0.0.1:{settings.actions_port}/health",
        timeout=120,
    ) as proc:
        yield proc


@contextmanager
def rasa_server(settings: StackSettings) -> Iterator[subprocess.Popen]:
    if settings.model is None:
        raise ValueError("rasa_server needs a trained model path")
    command = [
        sys.executable,
        "-m",
        "rasa",
        "run",
        "--model",
        str(settings.model),
        "--port",
        str(settings.rasa_port),
        "--endpoints",
        str(write_endpoints(settings)),
        "--credentials",
        "credentials.yml",
        "--enable-api",
        "--auth-token",
        settings.rasa_token,
        "--cors",
        "*",
    ]
    with process(
        "rasa",
        command,
        base_env(settings),
        settings,
        f"{settings.rasa_url}/status?token={settings.rasa_token}",
        timeout=300,
    ) as proc:
        yield proc


@contextmanager
def redis_server(settings: StackSettings) -> Iterator[Optional[subprocess.Popen]]:
    """A local redis-server unless ``settings.redis_url`` points at one already."""
    if settings.redis_url:
        yield None
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(
            "redis-server is not installed (Debian package redis-server) and REDIS_URL is not set"
        )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    # Append-only persistence: trackers and the CSR queue survive a restart.
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
        "--logfile",
        str((settings.log_dir / "redis.log").resolve()),
    ]
    proc = subprocess.Popen(
        command,
        cwd=settings.project_dir,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(settings.redis_port, proc)
        settings.redis_url = f"redis://127.0.0.1:{settings.redis_port}/0"
        yield proc
    finally:
        _stop(proc)


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {proc.returncode} (port {port} in use?)")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"redis-server did not listen on {port}")


@contextmanager
def handoff_service(settings: StackSettings) -> Iterator[subprocess.Popen]:
    command = [sys.executable, "-m", "handoff.service"]
    with process(
        "handoff",
        command,
        base_env(settings),
        settings,
        f"{settings.handoff_url}/health",
        timeout=60,
    ) as proc:
        yield proc


@contextmanager
def bot_stack(settings: StackSettings) -> Iterator[StackSettings]:
    """Redis, action server, Rasa and the handoff service, started in order and stopped together."""
    with ExitStack() as stack:
        stack.enter_context(redis_server(settings))
        stack.enter_context(action_server(settings))
        stack.enter_context(rasa_server(settings))
        stack.enter_context(handoff_service(settings))
        yield settings


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
            running.enter_context(bot_stack(settings))
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
                f"Press Ctrl+C to stop.",
                flush=True,
            )
            signal.pause()
    except KeyboardInterrupt:
        print("stopped.")


if __name__ == "__main__":
    main()
