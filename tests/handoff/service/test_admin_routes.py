"""The admin API over real sockets: Sanic server, real Redis, a copy of the bot project.

Conversations are written into Redis the way Rasa's RedisTrackerStore keeps them;
Rasa's model endpoints are the session's fake Rasa (tests/support/fake_rasa.py).
"""

from __future__ import annotations

import shutil
import time

import pytest
import pytest_asyncio
import yaml

from handoff.core.store import HandoffStore
from tests.support.handoff_api import error_code, running, service_config
from tests.support.project import copy_project
from tests.support.trackers import action, bot, save_tracker, user

pytestmark = pytest.mark.asyncio(loop_scope="module")

NOW = time.time()


# ---- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def project_root(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("admin-project"), link_build=True)


@pytest.fixture
def project(project_root):
    """The project as in the repository at the start of each test."""
    for name in ("data", "tests", "models"):
        shutil.rmtree(project_root / name, ignore_errors=True)
    copy_project(project_root)
    (project_root / "models").mkdir()
    for name in ("storefront-original.tar.gz", "storefront-retrained.tar.gz"):
        (project_root / "models" / name).write_bytes(b"not a real model")
    return project_root


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service(redis_url, rasa_server, project_root):
    config = service_config(
        redis_url, rasa_server, rasa_timeout_seconds=5, project_dir=project_root
    )
    async with running(config) as served:
        yield served


@pytest.fixture
def api(api, project, fake_rasa):
    """The shared client (tests/handoff/service/conftest.py), with the project as in the
    repository and the fake Rasa reset for each test."""
    return api


# ---- logged conversations, as Rasa's RedisTrackerStore writes them -------------------------------


async def log_chats(redis):
    """Three customers ask the same odd question, one is understood, one falls back and
    escalates.
    """
    for n in range(3):
        t = NOW - 3600 + n * 60
        await save_tracker(
            redis,
            f"odd-{n}",
            [
                action("action_session_start", t),
                user("hi", "greet", 0.99, t + 1),
                bot("Hi! How can I help?", t + 2),
                user(
                    "Wo  ist mein Paket?" if n == 0 else "wo ist mein paket?",
                    "order_status",
                    0.41,
                    t + 3,
                ),
                bot("Could you give me your order number?", t + 4),
            ],
        )
    await save_tracker(
        redis,
        "fine",
        [
            user("where is my order", "order_status", 0.97, NOW - 600),
            bot("Could you give me your order number?", NOW - 599),
        ],
    )
    fallback = [{"name": "nlu_fallback", "confidence": 0.55}, {"name": "faq", "confidence": 0.3}]
    await save_tracker(
        redis,
        "lost",
        [
            user(
                "my card 4242 4242 4242 4242 was charged twice, mail me at jo@example.com",
                "nlu_fallback",
                0.55,
                NOW - 120,
                ranking=fallback,
            ),
            action("action_handle_fallback", NOW - 119),
            bot("Sorry, I didn't get that.", NOW - 118),
            {"event": "pause", "timestamp": NOW - 117},
        ],
    )
    await HandoffStore(redis).escalate("lost", "nlu_fallback")
    # Three days ago, below the threshold too.
    await save_tracker(
        redis,
        "old",
        [
            user("do you sell garden gnomes", "faq", 0.35, NOW - 3 * 86400),
        ],
    )


async def review(api, token, query=""):
    status, body = await api.call("GET", f"/api/admin/review{query}", token=token)
    assert status == 200, body
    return body


def texts(body):
    return [item["text"] for item in body["items"]]


# ---- access --------------------------------------------------------------------------------------

ROUTES = [
    ("GET", "/api/admin/review"),
    ("POST", "/api/admin/review/abc/label"),
    ("POST", "/api/admin/faq"),
    ("GET", "/api/admin/training"),
    ("POST", "/api/admin/training"),
    ("DELETE", "/api/admin/training"),
    ("GET", "/api/admin/models"),
    ("POST", "/api/admin/models/activate"),
    ("POST", "/api/admin/models/rollback"),
]


@pytest.mark.parametrize("method,path", ROUTES)
async def test_admin_routes_need_a_token(api, method, path):
    status, body = await api.call(method, path)
    assert status == 401 and error_code(body) == "unauthorized"


@pytest.mark.parametrize("method,path", ROUTES)
async def test_admin_routes_refuse_csrs(api, tokens, method, path, fake_rasa):
    status, body = await api.call(method, path, token=tokens["alice"], body={})
    assert status == 403 and error_code(body) == "forbidden"
    assert fake_rasa.loaded == []


async def test_admin_page_is_served_with_the_console_policy(api):
    async with api.session.get(api.base + "/admin") as resp:
        page = await resp.text()
        assert resp.status == 200 and resp.content_type == "text/html"
        assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
        assert resp.headers["X-Frame-Options"] == "DENY"
    assert '<script src="/static/admin.js" defer></script>' in page
    for name in ("staff-kit.js", "admin.js", "admin.css", "console-faq.js"):
        async with api.session.get(f"{api.base}/static/{name}") as resp:
            assert resp.status == 200, name


# ---- review --------------------------------------------------------------------------------------


async def test_review_groups_low_confidence_fallbacks_and_escalations(api, tokens, redis_client):
    await log_chats(redis_client)
    body = await review(api, tokens["root"])
    items = {item["text"]: item for item in body["items"]}
    # The same question three times is one item with a count, most frequent first.
    assert body["items"][0]["text"] == "wo ist mein paket?"
    odd = items["wo ist mein paket?"]
    assert odd["count"] == 3 and odd["predicted_intent"] == "order_status"
    assert odd["reasons"] == ["low_confidence"] and odd["confidence"] == pytest.approx(0.41)
    assert sorted(odd["conversations"]) == ["odd-0", "odd-1", "odd-2"]
    assert [turn["sender"] for turn in odd["context"]] == ["customer", "bot", "customer", "bot"]
    # Secrets are masked before anything is shown or stored.
    [lost] = [item for text, item in items.items() if text.startswith("my card")]
    assert "4242 4242" not in lost["text"] and "jo@example.com" not in lost["text"]
    assert "[card ending 4242]" in lost["text"] and "j***@example.com" in lost["text"]
    assert lost["reasons"] == ["fallback", "low_confidence", "escalation"]
    assert lost["predicted_intent"] == "faq" and lost["confidence"] == pytest.approx(0.3)
    assert "where is my order" not in items  # understood: nothing to review
    assert "order_status" in body["intents"] and "faq" not in body["intents"]
    assert any(name.startswith("faq/") for name in body["intents"])
    assert body["threshold"] == 0.6


async def test_review_filters(api, tokens, redis_client):
    await log_chats(redis_client)
    token = tokens["root"]
    assert "wo ist mein paket?" not in texts(await review(api, token, "?threshold=0.3"))
    assert texts(await review(api, token, "?threshold=0.99"))[-1:] != []
    assert "where is my order" in texts(await review(api, token, "?threshold=0.99"))
    assert texts(await review(api, token, "?intent=order_status")) == ["wo ist mein paket?"]
    only_fallback = texts(await review(api, token, "?reason=fallback"))
    assert len(only_fallback) == 1 and only_fallback[0].startswith("my card")
    escalated = texts(await review(api, token, "?reason=escalation"))
    assert escalated == only_fallback
    # The day of the earliest recent chat (an hour ago): just after midnight UTC that is
    # yesterday, and "today" would leave those chats out.
    day = time.strftime("%Y-%m-%d", time.gmtime(NOW - 3600))
    recent = texts(await review(api, token, f"?since={day}"))
    assert "do you sell garden gnomes" not in recent and "wo ist mein paket?" in recent
    old = texts(await review(api, token, f"?until={NOW - 86400:.0f}"))
    assert old == ["do you sell garden gnomes"]


@pytest.mark.parametrize(
    "query",
    [
        "?threshold=abc",
        "?threshold=1.5",
        "?reason=boredom",
        "?since=yesterday",
        "?until=2024-13-45",
    ],
)
async def test_review_rejects_bad_filters(api, tokens, query):
    status, body = await api.call("GET", f"/api/admin/review{query}", token=tokens["root"])
    assert status == 400 and error_code(body) == "invalid_filter", body


# ---- labels --------------------------------------------------------------------------------------


def reviewed(project):
    data = yaml.safe_load((project / "data/nlu/reviewed.yml").read_text())
    return {
        block["intent"]: [line[2:] for line in block["examples"].splitlines()]
        for block in data["nlu"]
    }


async def item_id(api, token, text):
    return next(i["id"] for i in (await review(api, token))["items"] if i["text"].startswith(text))


async def test_label_confirm_relabel_out_of_scope_and_ignore(api, tokens, redis_client, project):
    await log_chats(redis_client)
    token = tokens["root"]
    odd = await item_id(api, token, "wo ist mein paket")
    status, decision = await api.call(
        "POST", f"/api/admin/review/{odd}/label", token=token, body={"action": "confirm"}
    )
    assert status == 200, decision
    assert decision["action"] == "confirm" and decision["intent"] == "order_status"
    assert decision["by"] == "root"
    assert reviewed(project) == {"order_status": ["wo ist mein paket?"]}
    # Decided items leave the review list.
    assert "wo ist mein paket?" not in texts(await review(api, token))

    lost = await item_id(api, token, "my card")
    status, decision = await api.call(
        "POST",
        f"/api/admin/review/{lost}/label",
        token=token,
        body={"action": "relabel", "intent": "complain"},
    )
    assert status == 200 and decision["intent"] == "complain"
    written = reviewed(project)["complain"]
    assert written == ["my card [card ending 4242] was charged twice, mail me at [email]"]

    old = await item_id(api, token, "do you sell garden gnomes")
    status, decision = await api.call(
        "POST", f"/api/admin/review/{old}/label", token=token, body={"action": "out_of_scope"}
    )
    assert status == 200, decision
    assert reviewed(project)["out_of_scope"] == ["do you sell garden gnomes"]
    status, decision = await api.call(
        "POST", f"/api/admin/review/{old}/label", token=token, body={"action": "ignore"}
    )
    assert status == 200 and decision["action"] == "ignore"
    assert "out_of_scope" not in reviewed(project)
    assert texts(await review(api, token)) == []


@pytest.mark.parametrize(
    "payload,code",
    [
        ({"action": "delete"}, "invalid_label"),
        ({}, "invalid_label"),
        ({"action": "relabel"}, "invalid_label"),
        ({"action": "relabel", "intent": "world_domination"}, "invalid_label"),
        ({"action": "relabel", "intent": ["greet"]}, "invalid_label"),
        ([1, 2], "invalid_input"),
    ],
)
async def test_label_rejects_bad_input(api, tokens, redis_client, project, payload, code):
    await log_chats(redis_client)
    odd = await item_id(api, tokens["root"], "wo ist mein paket")
    status, body = await api.call(
        "POST", f"/api/admin/review/{odd}/label", token=tokens["root"], body=payload
    )
    assert status == 400 and error_code(body) == code, body
    assert not (project / "data/nlu/reviewed.yml").exists()


async def test_label_unknown_item_is_404(api, tokens, redis_client):
    await log_chats(redis_client)
    status, body = await api.call(
        "POST",
        "/api/admin/review/0123456789abcdef/label",
        token=tokens["root"],
        body={"action": "ignore"},
    )
    assert status == 404 and error_code(body) == "item_not_found"
    status, body = await api.call(
        "POST", "/api/admin/review/x/label", token=tokens["root"], data=b"{broken"
    )
    assert status == 400 and error_code(body) == "invalid_input"


# ---- FAQ -----------------------------------------------------------------------------------------


async def test_new_faq(api, tokens, project):
    before = (project / "data/responses/faq.yml").read_text()
    status, body = await api.call(
        "POST",
        "/api/admin/faq",
        token=tokens["root"],
        body={
            "topic": "gift_wrapping",
            "examples": ["do you gift wrap?", "can you wrap it as a present"],
            "answer": "Yes! Tick 'gift wrap' at checkout, it's free.",
        },
    )
    assert status == 201, body
    assert body["intent"] == "faq/gift_wrapping" and body["response"] == "utter_faq/gift_wrapping"
    assert reviewed(project)["faq/gift_wrapping"] == [
        "can you wrap it as a present",
        "do you gift wrap?",
    ]
    after = (project / "data/responses/faq.yml").read_text()
    assert after.startswith(before.rstrip("\n")[:200])  # the hand-written part stays as it was
    assert "utter_faq/gift_wrapping" in yaml.safe_load(after)["responses"]
    # The new topic can be picked when labelling.
    assert "faq/gift_wrapping" in (await review(api, tokens["root"]))["intents"]


@pytest.mark.parametrize(
    "payload",
    [
        {"topic": "Gift Wrapping", "examples": ["a b", "c d"], "answer": "yes"},
        {"topic": "gift_wrapping", "examples": ["only one"], "answer": "yes"},
        {"topic": "gift_wrapping", "examples": ["a b", "c d"], "answer": "  "},
        {"topic": "gift_wrapping", "examples": "a b", "answer": "yes"},
        {"examples": ["a b", "c d"], "answer": "yes"},
    ],
)
async def test_new_faq_rejects_bad_input(api, tokens, project, payload):
    before = (project / "data/responses/faq.yml").read_text()
    status, body = await api.call("POST", "/api/admin/faq", token=tokens["root"], body=payload)
    assert status == 400 and error_code(body) == "invalid_faq", body
    assert (project / "data/responses/faq.yml").read_text() == before


async def test_new_faq_refuses_an_existing_topic(api, tokens, project):
    topic = yaml.safe_load((project / "data/responses/faq.yml").read_text())["responses"]
    existing = next(iter(topic))[len("utter_faq/") :]
    status, body = await api.call(
        "POST",
        "/api/admin/faq",
        token=tokens["root"],
        body={"topic": existing, "examples": ["a question", "another one"], "answer": "An answer."},
    )
    assert status == 400 and existing in body["error"]["message"]


# ---- training ------------------------------------------------------------------------------------


async def test_training_starts_once_reports_progress_and_cancels(api, tokens, project):
    token = tokens["root"]
    assert await api.call("GET", "/api/admin/training", token=token) == (200, {"job": None})
    status, body = await api.call("POST", "/api/admin/training", token=token, body={})
    assert status == 202, body
    job = body["job"]
    assert job["phase"] == "queued" and job["by"] == "root" and job["config"] == "config.yml"
    # One job at a time.
    status, body = await api.call("POST", "/api/admin/training", token=token, body={})
    assert status == 409 and error_code(body) == "job_running"
    status, body = await api.call("GET", "/api/admin/training", token=token)
    assert status == 200 and body["job"]["id"] == job["id"]
    assert body["job"]["phase"] in ("queued", "training")
    status, body = await api.call("DELETE", "/api/admin/training", token=token)
    assert status == 200 and body["job"]["phase"] == "cancelled", body
    status, body = await api.call("GET", "/api/admin/training", token=token)
    assert body["job"]["phase"] == "cancelled" and body["job"]["model"] is None
    # Nothing left behind: no new model, no scratch folder.
    assert sorted(p.name for p in (project / "models").iterdir()) == [
        "storefront-original.tar.gz",
        "storefront-retrained.tar.gz",
    ]
    status, body = await api.call("DELETE", "/api/admin/training", token=token)
    assert status == 404 and error_code(body) == "no_job"
    # The lock is free again.
    status, body = await api.call("POST", "/api/admin/training", token=token, body={})
    assert status == 202
    status, body = await api.call("DELETE", "/api/admin/training", token=token)
    assert status == 200 and body["job"]["phase"] == "cancelled"


@pytest.mark.parametrize(
    "payload",
    [
        {"config": "../handoff.yml"},
        {"config": "/etc/passwd"},
        {"config": "nope.yml"},
        {"config": 5},
    ],
)
async def test_training_rejects_a_config_outside_the_project(api, tokens, payload):
    status, body = await api.call("POST", "/api/admin/training", token=tokens["root"], body=payload)
    assert status == 400 and error_code(body) == "invalid_input", body
    assert await api.call("GET", "/api/admin/training", token=tokens["root"]) == (
        200,
        {"job": None},
    )


# ---- models --------------------------------------------------------------------------------------


async def evaluated(redis, project, candidate, verdict):
    """Store the comparison a training would have stored for ``candidate``."""
    from bot.retraining.comparison import build_comparison
    from bot.retraining.model_registry import ModelRegistry
    from handoff.core.settings import RetrainingConfig

    good = [("greet", "greet"), ("order_status", "order_status")]
    bad = [("greet", "greet"), ("order_status", "greet")]
    new, old = (bad, good) if verdict == "worse" else (good, bad)
    comparison = build_comparison(
        candidate,
        "storefront-original.tar.gz",
        {"test_set": {"candidate": new, "running": old}},
        {"test_set": "tests/nlu/test_nlu.yml"},
    )
    assert comparison.verdict == ("worse" if verdict == "worse" else "better")
    await ModelRegistry(redis, RetrainingConfig(project_dir=project)).save_comparison(comparison)


async def models(api, token):
    status, body = await api.call("GET", "/api/admin/models", token=token)
    assert status == 200, body
    return {m["name"]: m for m in body["models"]}


async def test_models_activate_refuse_worse_override_and_roll_back(
    api, tokens, redis_client, project, fake_rasa
):
    token = tokens["root"]
    listed = await models(api, token)
    assert set(listed) == {"storefront-original.tar.gz", "storefront-retrained.tar.gz"}
    assert listed["storefront-original.tar.gz"]["active_on"] == [fake_rasa.url]
    assert listed["storefront-retrained.tar.gz"]["active_on"] == []

    # Never evaluated: refused without an override.
    status, body = await api.call(
        "POST",
        "/api/admin/models/activate",
        token=token,
        body={"model": "storefront-retrained.tar.gz"},
    )
    assert status == 409 and error_code(body) == "not_evaluated", body
    # Worse than the running model: refused, and Rasa was not asked to load it.
    await evaluated(redis_client, project, "storefront-retrained.tar.gz", "worse")
    status, body = await api.call(
        "POST",
        "/api/admin/models/activate",
        token=token,
        body={"model": "storefront-retrained.tar.gz"},
    )
    assert status == 409 and error_code(body) == "model_worse", body
    assert fake_rasa.loaded == []
    assert (await models(api, token))["storefront-retrained.tar.gz"]["evaluation"][
        "verdict"
    ] == "worse"
    # An explicit override activates it anyway.
    status, body = await api.call(
        "POST",
        "/api/admin/models/activate",
        token=token,
        body={"model": "storefront-retrained.tar.gz", "override": True},
    )
    assert status == 200, body
    assert body["model"] == "storefront-retrained.tar.gz" and body["override"] is True
    assert body["previous"] == "storefront-original.tar.gz" and body["by"] == "root"
    assert fake_rasa.loaded == [str(project.resolve() / "models/storefront-retrained.tar.gz")]
    assert (await models(api, token))["storefront-retrained.tar.gz"]["active_on"] == [fake_rasa.url]
    # One click back.
    status, body = await api.call("POST", "/api/admin/models/rollback", token=token)
    assert status == 200 and body["model"] == "storefront-original.tar.gz" and body["rollback"]
    assert fake_rasa.model_file == "storefront-original.tar.gz"
    status, body = await api.call("POST", "/api/admin/models/rollback", token=token)
    assert status == 409 and error_code(body) == "nothing_to_roll_back"


async def test_activating_a_better_model_needs_no_override(
    api, tokens, redis_client, project, fake_rasa
):
    await evaluated(redis_client, project, "storefront-retrained.tar.gz", "better")
    status, body = await api.call(
        "POST",
        "/api/admin/models/activate",
        token=tokens["root"],
        body={"model": "storefront-retrained.tar.gz"},
    )
    assert status == 200 and body["override"] is False and body["servers"] == [fake_rasa.url]
    assert fake_rasa.model_file == "storefront-retrained.tar.gz"


@pytest.mark.parametrize(
    "payload,status,code",
    [
        ({}, 400, "invalid_input"),
        ({"model": 7}, 400, "invalid_input"),
        ({"model": "storefront-original.tar.gz", "override": "yes"}, 400, "invalid_input"),
        ({"model": "nope.tar.gz"}, 404, "model_not_found"),
        ({"model": "../models/storefront-original.tar.gz"}, 404, "model_not_found"),
        ({"model": "config.yml", "override": True}, 404, "model_not_found"),
    ],
)
async def test_activate_rejects_bad_input(api, tokens, fake_rasa, payload, status, code):
    got, body = await api.call(
        "POST", "/api/admin/models/activate", token=tokens["root"], body=payload
    )
    assert (got, error_code(body)) == (status, code), body
    assert fake_rasa.loaded == []


async def test_rasa_down_is_502_and_nothing_changes(api, tokens, fake_rasa):
    fake_rasa.down = True
    status, body = await api.call(
        "POST",
        "/api/admin/models/activate",
        token=tokens["root"],
        body={"model": "storefront-retrained.tar.gz", "override": True},
    )
    assert status == 502 and error_code(body) == "rasa_unavailable", body
    fake_rasa.down = False
    status, body = await api.call("POST", "/api/admin/models/rollback", token=tokens["root"])
    assert status == 409 and error_code(body) == "nothing_to_roll_back"
