"""Lifecycle events: one publication feeds the live consoles and the outgoing webhooks.

Every change worth telling someone about (a conversation escalated, claimed, closed; a
ticket opened, answered, solved) is published here, inside the same MULTI/EXEC as the
change itself, so nobody hears of a change that did not happen and no committed change
goes unheard:

* ``PUBLISH handoff:events``: the consoles' live feed. Fire-and-forget; a console that
  reconnects re-reads what it shows.
* ``XADD handoff:webhook_events``: the durable log the webhook deliverer reads
  (:mod:`handoff.delivery.webhooks`), so a receiver that is down gets every event once it
  is back, in order.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from redis.asyncio.client import Pipeline

from handoff.core import keys

# The durable log is a buffer for receivers that are down, not an archive: a store whose
# receiver is away for longer than this many events loses the oldest (approximate trim).
WEBHOOK_LOG_LENGTH = 100_000


def publish(pipe: Pipeline, event: Mapping[str, Any]) -> None:
    """Queue ``event`` (a JSON object with at least ``type`` and ``at``) on ``pipe``.

    ``pipe`` is a pipeline already in MULTI: the event exists exactly when the change it
    describes was committed.
    """
    body = json.dumps(dict(event))
    pipe.publish(keys.EVENTS, body)
    pipe.xadd(keys.WEBHOOK_EVENTS, {"event": body}, maxlen=WEBHOOK_LOG_LENGTH, approximate=True)
