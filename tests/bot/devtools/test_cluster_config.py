"""The HAProxy configuration make cluster writes: valid to HAProxy itself, and it keeps the
token-free scrapes off the balancer (each kind's own scrape path, not the lead's page)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from bot.devtools.cluster import ClusterSettings, render_haproxy


@pytest.fixture
def haproxy_config(tmp_path):
    path = tmp_path / "haproxy.cfg"
    path.write_text(render_haproxy(ClusterSettings.on_free_ports()))
    return path


@pytest.mark.skipif(not shutil.which("haproxy"), reason="Debian's haproxy (make system-deps)")
def test_haproxy_accepts_the_rendered_configuration(haproxy_config):
    checked = subprocess.run(
        ["haproxy", "-c", "-f", str(haproxy_config)], capture_output=True, text=True
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_each_frontend_refuses_its_kinds_scrape_and_nothing_else(haproxy_config):
    frontends = haproxy_config.read_text().split("frontend ")[1:]
    denied = {
        block.split()[0]: [line.split("path ")[1] for line in block.splitlines() if "deny" in line]
        for block in frontends
    }

    assert denied == {
        "rasa": ["/webhooks/widget/metrics }"],
        "actions": ["/metrics }"],
        "handoff": ["/prometheus }"],
    }
