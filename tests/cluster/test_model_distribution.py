"""Activation and rollback reach both Rasa servers of the cluster through the model server.

Neither Rasa has a models/ directory of its own: each pulls ``GET /models/active`` from the
handoff services behind HAProxy (Rasa's ``models:`` endpoint, ETag polling), and the admin
API answers an activation only once every server in ``retraining.rasa_urls`` runs the model.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.devtools.stack import DEMO_PASSWORD
from tests.cluster.conftest import SECOND_MODEL
from tests.support.clients import call

pytestmark = pytest.mark.slow


def running_models(cluster) -> list:
    """The model file each Rasa server reports, asked directly, not through HAProxy."""
    found = []
    for port in cluster.settings.rasa_backends:
        url = f"{cluster.settings.url(port)}/status?token={cluster.rasa_token}"
        status, body = call("GET", url)
        assert status == 200, body
        found.append(body["model_file"])
    return found


def admin_token(cluster) -> str:
    body = {"username": "admin", "password": DEMO_PASSWORD}
    status, login = call("POST", f"{cluster.handoff_url}/api/login", body)
    assert status == 200, login
    return login["token"]


def test_activation_and_rollback_reach_every_rasa_through_the_pull(running_cluster, trained_model):
    first = Path(trained_model).name
    assert running_models(running_cluster) == [first, first]
    token = admin_token(running_cluster)
    models = f"{running_cluster.handoff_url}/api/admin/models"

    body = {"model": SECOND_MODEL, "override": True}
    status, activation = call("POST", f"{models}/activate", body, token, timeout=900)
    assert status == 200, activation
    assert activation["model"] == SECOND_MODEL and activation["previous"] == first
    assert running_models(running_cluster) == [SECOND_MODEL, SECOND_MODEL]

    status, back = call("POST", f"{models}/rollback", None, token, timeout=900)
    assert status == 200, back
    assert back["model"] == first and back["rollback"]
    assert running_models(running_cluster) == [first, first]
