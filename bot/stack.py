"""Start the product's processes (Redis, action server, Rasa) and wait until they answer.

Used by ``make run`` (``python -m bot.stack``) and by the integration tests,
so that what the tests exercise is exactly what a user runs.
"""

from __future__ import annotations

import os
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

import yaml


@dataclass
class StackSettings:
    """Ports, paths and environment of one running stack."""

    project_dir: Path = Path(".")
    rasa_port: int = 5005
    actions_port: int = 5055
    model: Optional[Path] = None
    order_db: Path = Path("var/demo_store.db")
    log_dir: Path = Path("var/log")
    extra_env: Dict[str, str] = field(default_factory=dict)


def free_port() -> int:
    """A port nobody listens on right now (for tests running beside `make run`)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
def process(name: str, command: List[str], env: Dict[str, str], settings: StackSettings,
            health_url: str, timeout: float) -> Iterator[subprocess.Popen]:
    """Run one process with its log in ``log_dir``; stop it on exit."""
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    log = settings.log_dir / f"{name}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(command, cwd=settings.project_dir, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
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
    env.update({
        "BOT_PROJECT_DIR": str(settings.project_dir.resolve()),
        "ORDER_DB_PATH": str(settings.order_db.resolve()),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(settings.extra_env)
    return env


def write_endpoints(settings: StackSettings) -> Path:
    """endpoints.yml with this stack's action server port (the file users edit stays as is)."""
    source = yaml.safe_load((settings.project_dir / "endpoints.yml").read_text())
    source["action_endpoint"] = {"url": f"http://127.0.0.1:{settings.actions_port}/webhook"}
    target = settings.log_dir.parent / f"endpoints-{settings.rasa_port}.yml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(source))
    return target


@contextmanager
def action_server(settings: StackSettings) -> Iterator[subprocess.Popen]:
    command = [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(settings.actions_port)]
    with process("actions", command, base_env(settings), settings,
                 f"http://127.0.0.1:{settings.actions_port}/health", timeout=120) as proc:
        yield proc


@contextmanager
def rasa_server(settings: StackSettings) -> Iterator[subprocess.Popen]:
    if settings.model is None:
        raise ValueError("rasa_server needs a trained model path")
    command = [
        sys.executable, "-m", "rasa", "run", "--model", str(settings.model), "--port", str(settings.rasa_port),
        "--endpoints", str(write_endpoints(settings)), "--credentials", "credentials.yml",
        "--enable-api", "--cors", "*",
    ]
    with process("rasa", command, base_env(settings), settings,
                 f"http://127.0.0.1:{settings.rasa_port}/status", timeout=300) as proc:
        yield proc


@contextmanager
def bot_stack(settings: StackSettings) -> Iterator[StackSettings]:
    """Action server and Rasa, started in order and stopped together."""
    with ExitStack() as stack:
        stack.enter_context(action_server(settings))
        stack.enter_context(rasa_server(settings))
        yield settings


def main() -> None:
    from actions.orders.demo_store import seed_demo_store
    from bot.training import ensure_model
    import datetime as dt

    settings = StackSettings(model=ensure_model(Path(".")))
    settings.order_db.parent.mkdir(parents=True, exist_ok=True)
    seed_demo_store(settings.order_db, dt.date.today())
    print("starting the action server and Rasa (loading the model takes about a minute)...", flush=True)
    with bot_stack(settings):
        print(
            f"\nThe bot is running.\n"
            f"  Chat in this terminal:   make shell\n"
            f"  Chat over HTTP:          curl -s -XPOST http://127.0.0.1:{settings.rasa_port}/webhooks/rest/webhook "
            f"-d '{{\"sender\": \"me\", \"message\": \"where is my order A1001?\"}}'\n"
            f"  Logs:                    {settings.log_dir}/\n"
            f"Press Ctrl+C to stop.",
            flush=True,
        )
        try:
            signal.pause()
        except KeyboardInterrupt:
            print("stopping...")


if __name__ == "__main__":
    main()
