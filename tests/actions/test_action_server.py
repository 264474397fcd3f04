"""``python -m actions.server`` for real: rasa-sdk's server plus /ready, /metrics, JSON logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from contextlib import ExitStack

import pytest

from handoff.core.settings import REPO_ROOT
from tests.support.prometheus import samples, value
from tests.support.redis_server import free_port, running_redis
from tests.support.waiting import wait_until

# Not `fast`: it runs a redis-server of its own (stopped by the readiness test).
pytestmark = pytest.mark.redis


def get(url: str):
    """(status, body text) of a GET; error statuses too."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode(), resp.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), exc.headers


def answers(url: str) -> bool:
    try:
        return get(url)[0] == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def action_server(tmp_path_factory):
    """(base URL, its own Redis's ExitStack, log file): the server with LOG_FORMAT=json."""
    workdir = tmp_path_factory.mktemp("action-server")
    port = free_port()
    with ExitStack() as redis_stack:
        redis_url = redis_stack.enter_context(running_redis())
        env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "LOG_FORMAT": "json",
            "ORDER_DB_PATH": str(workdir / "store.db"),
        }
        log = workdir / "actions.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "actions.server", "--port", str(port)],
                cwd=REPO_ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: proc.poll() is not None or answers(base + "/health"), timeout=60)
            assert proc.poll() is None, log.read_text()
            yield base, redis_stack, log
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def test_actions_are_served_as_by_rasa_sdk(action_server):
    base, _, _ = action_server
    status, body, _ = get(base + "/actions")
    assert status == 200
    assert "action_human_handoff" in {action["name"] for action in json.loads(body)}


def test_metrics_parse_and_count_errors(action_server):
    base, _, _ = action_server
    status, before, headers = get(base + "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "process_cpu_seconds_total" in samples(before)
    request = urllib.request.Request(
        base + "/webhook",
        data=json.dumps({"next_action": "no_such_action", "tracker": {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 404
    after = get(base + "/metrics")[1]
    labels = {"server": "actions", "status": "404"}
    assert value(after, "storefront_http_errors_total", labels) == (
        value(before, "storefront_http_errors_total", labels) + 1
    )


def test_logs_are_json_lines(action_server):
    _, _, log = action_server
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert lines
    records = [json.loads(line) for line in lines]  # every line, the first one too
    assert any("Action endpoint is up and running" in r["message"] for r in records)
    assert {"time", "level", "logger", "message"} <= set(records[0])


def test_ready_follows_redis(action_server):
    base, redis_stack, _ = action_server
    status, body, _ = get(base + "/ready")
    assert (status, json.loads(body)) == (200, {"status": "ready", "checks": {"redis": "ok"}})
    redis_stack.close()  # stops this server's Redis
    status, body, _ = get(base + "/ready")
    assert (status, json.loads(body)["checks"]) == (503, {"redis": "down"})
    assert get(base + "/health")[0] == 200  # liveness is unchanged: no restart for that
