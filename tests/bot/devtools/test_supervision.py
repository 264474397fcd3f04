"""make run's supervision: a crashed process comes back, under a real supervisord.

A small stack (a real redis-server and the real handoff service, the programs ``make run``
defines) runs under supervisord; each program is SIGKILLed and must come back with a new pid
and answer again.
"""

from __future__ import annotations

import configparser
import os
import urllib.request

import pytest
import redis

from bot.devtools.stack import StackSettings, handoff_program, redis_program, supervised
from bot.devtools.supervision import Program, Supervisor
from tests.support.redis_server import free_port


@pytest.fixture
def small_stack(tmp_path):
    settings = StackSettings(
        handoff_port=free_port(),
        redis_port=free_port(),
        log_dir=tmp_path / "log",
        data_dir=tmp_path / "redis",
        order_db=tmp_path / "store.db",
    )
    settings.redis_url = f"redis://127.0.0.1:{settings.redis_port}/0"
    programs = [redis_program(settings), handoff_program(settings)]
    with supervised(programs, settings, tmp_path / "run") as supervisor:
        yield settings, supervisor


def test_a_killed_handoff_service_is_restarted_and_answers_again(small_stack):
    settings, supervisor = small_stack
    old_pid = supervisor.kill("handoff")

    new_pid = supervisor.wait_restarted("handoff", old_pid)

    assert new_pid != old_pid
    with urllib.request.urlopen(f"{settings.handoff_url}/health", timeout=5) as response:
        assert response.status == 200
    # The crash and the restart are in supervisord's log, where make run's console shows them.
    log = (settings.log_dir / "supervisord.log").read_text()
    assert "exited: handoff (terminated by SIGKILL" in log
    assert f"spawned: 'handoff' with pid {new_pid}" in log


def test_a_killed_redis_is_restarted_with_its_data(small_stack):
    settings, supervisor = small_stack
    # Redis writes the append-only file before it replies: the key outlives the SIGKILL.
    with redis.Redis.from_url(settings.redis_url) as client:
        client.set("survives", "yes")

    old_pid = supervisor.kill("redis")
    supervisor.wait_restarted("redis", old_pid)

    with redis.Redis.from_url(settings.redis_url) as client:
        assert client.get("survives") == b"yes"


def test_stop_ends_every_program(tmp_path):
    port = free_port()
    program = Program(
        "sleeper",
        ["python3", "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        ready_port=port,
    )
    supervisor = Supervisor([program], tmp_path / "run", tmp_path / "log")
    with supervisor:
        pid = supervisor.pid("sleeper")
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_the_config_keeps_percent_signs_and_quotes_literal(tmp_path):
    program = Program("odd", ["echo", "100%"], env={"NOTE": 'say "hi" 50%'})
    text = Supervisor([program], tmp_path, tmp_path).render()

    parser = configparser.RawConfigParser()
    parser.read_string(text)
    section = parser["program:odd"]
    assert section["command"] == "echo 100%%"
    assert section["environment"] == 'NOTE="say \\"hi\\" 50%%"'
