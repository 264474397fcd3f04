"""make cluster for real: Redis + Sentinel, two of each service and HAProxy, supervised.

After the fault test (which runs first) every server is up again behind HAProxy, the
Sentinels agree on one primary, and a customer still talks to the bot through the balancer.
"""

from __future__ import annotations

import pytest

from tests.support.clients import WidgetCustomer

pytestmark = pytest.mark.slow


def test_every_process_is_up_behind_haproxy(running_cluster):
    running_cluster.wait_backends_up()

    assert set(running_cluster.backends()) == {
        f"{kind}/{kind}-{n}" for kind in ("rasa", "actions", "handoff") for n in (1, 2)
    }
    assert running_cluster.redis_primary() in ("redis-1", "redis-2")


def test_a_customer_gets_bot_replies_through_the_balancer(running_cluster):
    customer = WidgetCustomer(running_cluster.widget_url)

    # Two messages of one conversation, balanced to either Rasa server (shared tracker).
    assert customer.says("hello")
    assert customer.says("where is my order A1002?")
