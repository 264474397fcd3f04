"""The command-line entry points, run as real processes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import urllib.request

from handoff.core.settings import REPO_ROOT
from handoff.service import __main__ as handoff_main
from handoff.service import accounts
from tests.support.auth import SECRET, run_accounts_cli
from tests.support.redis_server import free_port


def run_accounts(args, redis_url, stdin=""):
    env = {"REDIS_URL": redis_url, "HANDOFF_SECRET": SECRET}
    return run_accounts_cli(*args, env=env, stdin=stdin, timeout=60)


def test_accounts_cli_process(redis_db):
    done = run_accounts(
        ["create", "--username", "alice", "--role", "admin", "--password-stdin"],
        redis_db,
        stdin="long-enough-pass\n",
    )
    assert done.returncode == 0, done.stderr
    assert "created admin account 'alice'" in done.stdout
    again = run_accounts(
        ["create", "--username", "alice", "--password-stdin"], redis_db, stdin="other-pass-1\n"
    )
    assert again.returncode == 1 and "already exists" in again.stderr


def test_accounts_cli_commands(redis_db, monkeypatch, capsys):
    # In-process for speed; the process test above covers the module entry point.
    monkeypatch.setenv("REDIS_URL", redis_db)
    monkeypatch.setenv("HANDOFF_SECRET", SECRET)
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert accounts.main(["create", "--username", "bob", "--password-stdin"]) == 1
    assert "password" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("long-enough-pass\n"))
    args = ["create", "--username", "bob", "--display-name", "Bob B.", "--password-stdin"]
    assert accounts.main(args) == 0
    assert accounts.main(["list"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "bob\tcsr\tBob B."
    assert accounts.main(["delete", "--username", "bob"]) == 0
    assert accounts.main(["delete", "--username", "bob"]) == 0
    assert capsys.readouterr().out.splitlines()[-2:] == ["deleted 'bob'", "no account 'bob'"]


def test_python_m_handoff_serves(redis_db, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": redis_db,
        "HANDOFF_PORT": str(port),
        "HANDOFF_SECRET": SECRET,
        "HANDOFF_CONFIG": str(tmp_path / "none.yml"),
        "RASA_URL": "",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "handoff.service"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as resp:
                    assert json.loads(resp.read()) == {"status": "ok", "redis": "ok"}
                    break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "service did not start"
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_production_mode_refuses_the_default_secret(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HANDOFF_ENV", "production")
    monkeypatch.setenv("HANDOFF_CONFIG", str(tmp_path / "none.yml"))
    monkeypatch.delenv("HANDOFF_SECRET", raising=False)
    assert handoff_main.main() == 2  # before anything is served
    assert "HANDOFF_SECRET" in capsys.readouterr().err
