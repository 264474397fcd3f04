"""The real stack (action server + Rasa server) started once for the integration tests."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
import json
import urllib.request
from typing import Dict, List

import pytest
import yaml

from actions.orders.demo_store import seed_demo_store
from bot.stack import StackSettings, bot_stack, ensure_demo_accounts, free_port


@pytest.fixture(scope="session")
def stack(trained_model, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("stack")
    handoff_config = workdir / "handoff.yml"
    config = yaml.safe_load(Path("handoff.yml").read_text())
    # CSRs "work" around the clock in the tests, so escalations queue instead of offering tickets.
    config["business_hours"].update(weekdays=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                                    open="00:00", close="00:00")
    handoff_config.write_text(yaml.safe_dump(config))
    settings = StackSettings(
        rasa_port=free_port(),
        actions_port=free_port(),
        handoff_port=free_port(),
        redis_port=free_port(),
        model=trained_model.resolve(),
        order_db=workdir / "store.db",
        log_dir=workdir / "log",
        data_dir=workdir / "redis",
        extra_env={"HANDOFF_CONFIG": str(handoff_config)},
    )
    seed_demo_store(settings.order_db, dt.date.today())
    with bot_stack(settings):
        asyncio.run(ensure_demo_accounts(settings.redis_url))
        yield settings


class Customer:
    """One customer chatting through Rasa's REST channel."""

    def __init__(self, settings: StackSettings, sender: str):
        self.url = f"http://127.0.0.1:{settings.rasa_port}/webhooks/rest/webhook"
        self.sender = sender

    def say(self, text: str) -> List[Dict]:
        body = json.dumps({"sender": self.sender, "message": text}).encode()
        request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 200
            return json.loads(response.read())

    def says(self, text: str) -> str:
        """The bot's reply texts joined (buttons' titles included)."""
        parts = []
        for reply in self.say(text):
            parts.append(reply.get("text") or "")
            parts += [b["title"] for b in reply.get("buttons") or []]
        return "\n".join(parts)


@pytest.fixture
def customer(stack, request):
    return Customer(stack, sender=f"it-{request.node.name}"[:60])
