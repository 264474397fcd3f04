"""Every Redis key of the retraining tools, in one place.

They start with ``retraining:`` so they share the database with Rasa's
tracker store (``rasa:tracker:*``) and the handoff service (``handoff:*``).

Layout::

    retraining:item:{id}             string  JSON of a review item as last listed (expires)
    retraining:decisions             hash    review item id -> JSON Decision
    retraining:lock                  string  id of the running training job (expires unless renewed)
    retraining:job:{id}              string  JSON Job (progress, result, comparison)
    retraining:job:{id}:cancel       string  set when someone asked to cancel the job
    retraining:last_job              string  id of the newest job
    retraining:comparison:{model}    string  JSON Comparison of a trained model
    retraining:active                list    activated model names, newest last (rollback stack);
                                             the last is what GET /models/active serves
    retraining:activations           list    JSON activation log, newest last
"""

from __future__ import annotations

PREFIX = "retraining"

# Before items expired they lived in one hash; it is removed on the next listing.
LEGACY_ITEMS = f"{PREFIX}:items"
DECISIONS = f"{PREFIX}:decisions"
LOCK = f"{PREFIX}:lock"
LAST_JOB = f"{PREFIX}:last_job"
ACTIVE = f"{PREFIX}:active"
ACTIVATIONS = f"{PREFIX}:activations"


def item(item_id: str) -> str:
    """A review item as last listed: what an admin saw when labelling it."""
    return f"{PREFIX}:item:{item_id}"


def job(job_id: str) -> str:
    """The JSON record of one training job."""
    return f"{PREFIX}:job:{job_id}"


def cancel(job_id: str) -> str:
    """The flag asking one training job to stop."""
    return f"{PREFIX}:job:{job_id}:cancel"


def comparison(model: str) -> str:
    """The evaluation of one trained model against the model that ran when it was trained."""
    return f"{PREFIX}:comparison:{model}"


def trackers(key_prefix: str) -> str:
    """Match pattern of Rasa's RedisTrackerStore keys (``<prefix>:tracker:<sender_id>``)."""
    return f"{tracker_prefix(key_prefix)}*"


def tracker_prefix(key_prefix: str) -> str:
    """What Rasa puts before the sender id (rasa/core/tracker_store.py, RedisTrackerStore)."""
    return f"{key_prefix}:tracker:" if key_prefix else "tracker:"
