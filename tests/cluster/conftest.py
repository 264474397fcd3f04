"""One cluster for the package (bot/devtools/cluster.py, as ``make cluster`` runs it), on free
ports, with a fresh demo store and the demo logins.

One for all: two Rasa servers loading a model take minutes on two cores, so the topology,
fault and model-distribution tests share it. The fault test runs first (files sort), so the
others also show a cluster that came through every crash.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
import yaml

from actions.orders.demo_store import seed_demo_store
from bot.devtools.cluster import ClusterSettings, cluster
from bot.devtools.stack import ensure_demo_accounts
from tests.support.project import copy_project

# The trained model under a second name, to activate and roll back: the model server's ETag
# is the file name, all Rasa compares.
SECOND_MODEL = "storefront-second.tar.gz"


@pytest.fixture(scope="package")
def running_cluster(trained_model, tmp_path_factory):
    """Two of each process behind HAProxy, Redis with Sentinel; CSRs work around the clock."""
    workdir = tmp_path_factory.mktemp("cluster")
    project = copy_project(workdir / "project", link_build=True, model=Path(trained_model))
    (project / "models" / SECOND_MODEL).symlink_to(Path(trained_model).resolve())
    settings = ClusterSettings.on_free_ports(
        project_dir=Path(".").resolve(),
        # The handoff services serve models from and write labels to the copy.
        models_project_dir=project,
        run_dir=workdir / "run",
        order_db=workdir / "store.db",
        model=Path(trained_model).name,
        # Each Rasa asks for a new model this often (activation waits for both).
        model_pull_seconds=2,
        # The load poses as many customers, each from its own address (X-Real-IP).
        trust_client_real_ip=True,
        extra_env={"HANDOFF_CONFIG": str(_around_the_clock(workdir))},
    )
    seed_demo_store(settings.order_db, dt.date.today())
    with cluster(settings) as running:
        asyncio.run(ensure_demo_accounts(running.redis_url()))
        yield running


def _around_the_clock(workdir: Path) -> Path:
    """handoff.yml with CSRs at work at any hour: escalations queue (as in the `stack` fixture)."""
    config = yaml.safe_load(Path("handoff.yml").read_text())
    config["business_hours"].update(
        weekdays=["mon", "tue", "wed", "thu", "fri", "sat", "sun"], open="00:00", close="00:00"
    )
    config["tickets"] = {**(config.get("tickets") or {}), "offer_when_no_csr_online": False}
    path = workdir / "handoff.yml"
    path.write_text(yaml.safe_dump(config))
    return path
