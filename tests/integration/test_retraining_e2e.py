"""The retraining workflow end to end, on the running product (the session's ``stack``).

Customers ask where their order is in words the shipped model is unsure about; their
messages are logged in Rasa's tracker store, show up in the admin review list, an
admin labels them, a training produces a model that understands them, it is
activated on the running Rasa and the bot answers differently. A deliberately
worse model (one epoch per component) is refused. At the end the original model is
rolled back in, so the tests after this one meet the bot they expect.

The handoff service works on a copy of the project (``HANDOFF_PROJECT_DIR``, see
tests/conftest.py): labels, training data and models never touch the repository.
Two trainings run here, an incremental one and a full one of a one-epoch config.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, List

import pytest
import yaml

from bot.devtools.stack import DEMO_PASSWORD
from tests.support.clients import Csr, Customer, call
from tests.support.project import write_one_epoch_config

pytestmark = [pytest.mark.model, pytest.mark.end_to_end]

# "Where is my order?" in words a model may not have learnt (couriers, drivers, British "goods").
# The test picks those the running model falls back on or is unsure about (the NLU data keeps
# growing and the same inputs train a different model on another machine, so a fixed list would
# go stale; the pool is long because the model is sure of most of it, wrongly or not).
# Disjoint from tests/browser/test_admin_page.py's messages.
POOL = [
    "the courier never showed up",
    "the courier didn't come",
    "the driver didn't show",
    "the courier did not show up today",
    "the driver never showed up",
    "the courier hasn't come yet",
    "the driver never came",
    "waited in all day for the courier",
    "the courier never came by",
    "still waiting on the courier",
    "when will my goods arrive",
    "when do my goods get here",
    "my goods haven't arrived",
    "when will my goods be dispatched",
    "are my goods on the way",
    "where are my goods",
    "the van never arrived",
    "nobody delivered anything today",
    "the delivery van didn't stop",
    "no sign of the courier",
    "courier didn't turn up today",
    "the postman didn't bring it",
    "my courier never turned up",
    "the driver skipped my street",
    "courier went to the wrong door",
    "the parcel man never knocked",
    "delivery bloke never came",
    "my goods are late",
    "goods still not here",
    "still no goods",
    "the courier forgot me",
    "driver hasn't been yet",
    "no show from the delivery",
    "owt from the courier yet",
    "still haven't had my bits",
    "the little van icon hasn't moved",
    "nowt's arrived",
    "sat in all day and nothing",
    "been in since 8 and no van",
    "my things have gone walkabout",
    "the lorry hasn't been round",
    "the drop-off never happened",
    "my kit hasn't rocked up",
    "the porch is still empty",
    "my consignment hasn't rocked up",
    "the courier bottled it",
]
UNSURE_BELOW = 0.6
TRAINING_TIMEOUT = 45 * 60


class Admin(Csr):
    """An admin on the handoff API (same client, admin login)."""

    def delete(self, path: str):
        return call("DELETE", f"{self.base}{path}", token=self.token)

    def wait_for_training(self, seen: List[Dict]) -> Dict:
        deadline = time.monotonic() + TRAINING_TIMEOUT
        while time.monotonic() < deadline:
            status, body = self.get("/admin/training")
            assert status == 200, body
            job = body["job"]
            seen.append({k: job[k] for k in ("phase", "component", "epoch", "epochs", "percent")})
            if job["phase"] in ("done", "failed", "cancelled"):
                return job
            time.sleep(3)
        raise AssertionError(f"training still running after {TRAINING_TIMEOUT}s: {seen[-1]}")


def rasa_status(stack) -> Dict:
    status, body = call("GET", f"{stack.rasa_url}/status?token={stack.rasa_token}")
    assert status == 200, body
    return body


def parse(stack, text: str) -> Dict:
    status, body = call(
        "POST", f"{stack.rasa_url}/model/parse?token={stack.rasa_token}", {"text": text}
    )
    assert status == 200, body
    return body["intent"]


@pytest.fixture
def admin(stack):
    return Admin(stack.handoff_url, "admin", DEMO_PASSWORD)


@pytest.fixture
def project(stack) -> Path:
    return Path(stack.extra_env["HANDOFF_PROJECT_DIR"])


@pytest.fixture
def original_model(stack, admin):
    """The model the stack started with; put back on Rasa whatever happens in the test."""
    name = rasa_status(stack)["model_file"]
    yield name
    if rasa_status(stack)["model_file"] != name:
        status, body = admin.post("/admin/models/rollback")
        if status != 200 or rasa_status(stack)["model_file"] != name:
            status, body = admin.post("/admin/models/activate", {"model": name, "override": True})
            assert status == 200, body


def test_admin_turns_logged_chats_into_a_better_model_and_a_worse_one_is_refused(
    stack, admin, project, original_model
):
    # 1. Customers ask; the running bot falls back on or is unsure about their messages.
    parsed = {text: parse(stack, text) for text in POOL}
    unsure = sorted(
        (
            text
            for text, intent in parsed.items()
            if intent["name"] == "nlu_fallback" or intent["confidence"] < UNSURE_BELOW
        ),
        key=lambda text: (parsed[text]["name"] != "nlu_fallback", POOL.index(text)),
    )[:8]
    assert len(unsure) >= 4, parsed
    before = {}
    for n, text in enumerate(unsure):
        before[text] = Customer(stack, sender=f"e2e-{n}").says(text)
    assert any("say it another way" in reply for reply in before.values()), before

    # 2. Their messages are in the review list, from the logged trackers.
    status, body = admin.get("/admin/review")
    assert status == 200, body
    listed = {item["text"]: item for item in body["items"]}
    to_label = [text for text in unsure if text in listed]
    assert to_label == unsure, sorted(listed)
    for text in to_label:
        item = listed[text]
        assert {"fallback", "low_confidence"} & set(item["reasons"]), item
        assert item["count"] == 1 and item["context"][0]["sender"] == "customer"

    # 3. The admin labels them as order status questions.
    for text in to_label:
        status, decision = admin.post(
            f"/admin/review/{listed[text]['id']}/label",
            {"action": "relabel", "intent": "order_status"},
        )
        assert status == 200 and decision["intent"] == "order_status", decision
    reviewed = yaml.safe_load((project / "data/nlu/reviewed.yml").read_text())
    [block] = [b for b in reviewed["nlu"] if b["intent"] == "order_status"]
    assert all(f"- {text}" in block["examples"] for text in to_label)
    status, body = admin.get("/admin/review")
    assert not {item["text"] for item in body["items"]} & set(to_label)

    # 4. Training runs in the background with epoch progress; one job at a time.
    status, body = admin.post("/admin/training", {})
    assert status == 202, body
    status, again = admin.post("/admin/training", {})
    assert status == 409 and again["error"]["code"] == "job_running"
    seen: List[Dict] = []
    job = admin.wait_for_training(seen)
    assert job["phase"] == "done", job
    assert any(s["phase"] == "training" and s["epochs"] > 0 for s in seen), seen
    assert any(s["phase"] == "evaluating" for s in seen) or job["comparison"], seen
    # Incremental by default: the running model's weights trained further on the new labels.
    assert job["mode"] == "incremental" and job["base_model"] == original_model, job
    candidate = job["model"]
    assert candidate != original_model and (project / "models" / candidate).is_file()

    # 5. Compared with the running model: not worse on the held-out set, and now it gets the
    #    labelled messages right.
    comparison = job["comparison"]
    assert comparison["running"] == original_model
    assert comparison["verdict"] in ("better", "not_worse"), comparison["reasons"]
    review_set = comparison["datasets"]["review"]
    assert review_set["candidate"]["accuracy"] >= 0.8, review_set
    assert review_set["candidate"]["accuracy"] > review_set["running"]["accuracy"], review_set
    test_set = comparison["datasets"]["test_set"]
    assert test_set["candidate"]["examples"] == test_set["running"]["examples"] > 100

    # 6. Activated on the running Rasa: the bot now answers differently.
    status, activation = admin.post("/admin/models/activate", {"model": candidate})
    assert status == 200, activation
    assert activation["previous"] == original_model
    assert rasa_status(stack)["model_file"] == candidate
    understood = [text for text in to_label if parse(stack, text)["name"] == "order_status"]
    assert len(understood) >= len(to_label) - 1, [(t, parse(stack, t)) for t in to_label]
    fell_back = [text for text in to_label if "say it another way" in before[text]]
    after = {
        text: Customer(stack, sender=f"e2e-after-{n}").says(text)
        for n, text in enumerate(fell_back)
    }
    # Instead of asking to rephrase, the bot now starts the order status form.
    answered = [text for text in fell_back if "order number" in after[text]]
    assert answered and len(answered) >= len(fell_back) - 1, after
    status, body = admin.get("/admin/models")
    active = [m["name"] for m in body["models"] if m["active_on"]]
    assert active == [candidate]

    # 7. A deliberately worse model (one epoch per component) is refused.
    # A full retrain: finetuning the good candidate for one epoch would not make it worse.
    status, body = admin.post(
        "/admin/training", {"config": write_one_epoch_config(project), "full": True}
    )
    assert status == 202, body
    worse_job = admin.wait_for_training([])
    assert worse_job["phase"] == "done", worse_job
    assert worse_job["mode"] == "full" and worse_job["comparison"]["running"] == candidate
    assert worse_job["comparison"]["verdict"] == "worse", worse_job["comparison"]["reasons"]
    status, refused = admin.post("/admin/models/activate", {"model": worse_job["model"]})
    assert status == 409 and refused["error"]["code"] == "model_worse", refused
    assert rasa_status(stack)["model_file"] == candidate

    # 8. One click back to the model the bot started with.
    status, body = admin.post("/admin/models/rollback")
    assert status == 200 and body["model"] == original_model, body
    assert rasa_status(stack)["model_file"] == original_model
    again = Customer(stack, sender="e2e-rolled-back").says(fell_back[0])
    assert again == before[fell_back[0]]
