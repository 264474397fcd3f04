"""Issue #16 over real HTTP: no admin input can corrupt the training data, and a file that
is corrupted already is a clear 409 naming its line, never a 500.

The measured failure: a FAQ whose text held U+009C/U+009F landed in data/nlu/reviewed.yml,
PyYAML then refused the file, and every label decision answered 500 from then on.
"""

from __future__ import annotations

import logging
import shutil
import time

import aiohttp
import pytest
import pytest_asyncio
from rasa.shared.nlu.training_data.loading import load_data

from bot.retraining.nlu_data import HEADER, read_examples
from tests.support.handoff_api import create_staff, error_code, running, service_config
from tests.support.project import copy_project
from tests.support.trackers import save_tracker, user

pytestmark = pytest.mark.asyncio(loop_scope="module")

NOW = time.time()
REVIEWED, FAQ = "data/nlu/reviewed.yml", "data/responses/faq.yml"
# The reviewed file as the old code wrote it for an example holding U+009C (line 9, column 16).
CORRUPTED = HEADER + 'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - gift wrap\x9c?\n'
GOOD_FAQ = {
    "topic": "gift_wrapping",
    "examples": ["do you gift wrap?", "can you wrap it as a present"],
    "answer": "Yes! Tick 'gift wrap' at checkout, it's free.",
}


# ---- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def project_root(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("admin-data-files"))


@pytest.fixture
def project(project_root):
    """The project's data as in the repository at the start of each test."""
    shutil.rmtree(project_root / "data", ignore_errors=True)
    return copy_project(project_root)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service(redis_url, project_root):
    async with running(service_config(redis_url, project_dir=project_root)) as served:
        yield served


@pytest.fixture
def api(api, project):
    """The shared client (tests/handoff/service/conftest.py), with the project's data as in the
    repository for each test."""
    return api


@pytest_asyncio.fixture(loop_scope="module")
async def admin(api, redis_client):
    await create_staff(redis_client, "root")
    return await api.login("root")


# ---- helpers -------------------------------------------------------------------------------------


async def listed(api, token, redis, *texts):
    """Log ``texts`` as low-confidence customer messages; their review item ids by text."""
    for n, text in enumerate(texts):
        await save_tracker(redis, f"c{n}", [user(text, "order_status", 0.4, NOW - 60 + n)])
    status, body = await api.call("GET", "/api/admin/review", token=token)
    assert status == 200, body
    return {item["text"]: item["id"] for item in body["items"]}


async def label(api, token, item, action, intent=None):
    body = {"action": action, **({"intent": intent} if intent else {})}
    return await api.call("POST", f"/api/admin/review/{item}/label", token=token, body=body)


def snapshot(project):
    """Every file under data/ (temporary files included) and its bytes."""
    return {
        str(path.relative_to(project)): path.read_bytes()
        for path in sorted((project / "data").rglob("*"))
        if path.is_file()
    }


def rasa_loads(project):
    for name in (REVIEWED, FAQ):
        if (project / name).exists():
            load_data(str(project / name))  # raises if Rasa cannot read it


# ---- (a) the corrupted-file scenario -------------------------------------------------------------


@pytest.mark.parametrize("where", ["answer", "examples", "both"])
async def test_a_faq_with_c1_controls_is_refused_and_labelling_still_works(
    api, admin, redis_client, project, where
):
    ids = await listed(api, admin, redis_client, "wo ist mein paket?", "refund where")
    status, body = await label(api, admin, ids["wo ist mein paket?"], "confirm")
    assert status == 200, body
    before = snapshot(project)
    payload = dict(GOOD_FAQ)
    if where in ("examples", "both"):
        payload["examples"] = ["do you gift\x9c wrap?", "can you wrap it\x9f as a present"]
    if where in ("answer", "both"):
        payload["answer"] = "Yes!\x9c Tick\x9f 'gift wrap' at checkout."
    status, body = await api.call("POST", "/api/admin/faq", token=admin, body=payload)
    assert status == 400 and error_code(body) == "invalid_faq", body
    assert "U+009C" in body["error"]["message"] and "position" in body["error"]["message"]
    assert snapshot(project) == before  # both files byte-identical, no temporary file
    rasa_loads(project)
    # The next decision works: the reviewed file is still readable.
    status, body = await label(api, admin, ids["refund where"], "relabel", "refund_status")
    assert status == 200, body
    assert read_examples(project / REVIEWED) == {
        "order_status": ["wo ist mein paket?"],
        "refund_status": ["refund where"],
    }
    rasa_loads(project)


# ---- (b) a file corrupted already ----------------------------------------------------------------


async def test_a_corrupted_reviewed_file_is_a_409_naming_its_line_every_time(
    api, admin, redis_client, project
):
    ids = await listed(api, admin, redis_client, "wo ist mein paket?")
    (project / REVIEWED).write_text(CORRUPTED)
    before = snapshot(project)
    for action in ("confirm", "ignore", "confirm"):  # never a 500, never a loop of them
        status, body = await label(api, admin, ids["wo ist mein paket?"], action)
        assert status == 409 and error_code(body) == "data_file_invalid", body
        message = body["error"]["message"]
        assert message.startswith(f"{REVIEWED} line 9 column 16: "), message
        assert "U+009C" in message and message.endswith("fix the file or restore it from git")
    status, body = await api.call("POST", "/api/admin/faq", token=admin, body=GOOD_FAQ)
    assert status == 409 and error_code(body) == "data_file_invalid", body
    status, body = await api.call("GET", "/api/admin/review", token=admin)
    assert status == 200 and list(ids.values()) == [i["id"] for i in body["items"]]
    assert snapshot(project) == before
    # Restored from git (here: removed, as the repository has none): labelling works again.
    (project / REVIEWED).unlink()
    status, body = await label(api, admin, ids["wo ist mein paket?"], "confirm")
    assert status == 200, body


async def test_a_broken_faq_file_keeps_the_review_list_and_names_its_line(
    api, admin, redis_client, project
):
    faq = project / FAQ
    lines = faq.read_text().splitlines(keepends=True)
    faq.write_text("".join(lines + ['  utter_faq/bad:\n    - text: "a\x9fb"\n']))
    ids = await listed(api, admin, redis_client, "wo ist mein paket?")
    status, body = await api.call("GET", "/api/admin/review", token=admin)
    assert status == 200, body
    assert [i["id"] for i in body["items"]] == list(ids.values()) and body["intents"] == []
    [problem] = body["problems"]
    assert problem.startswith(f"{FAQ} line {len(lines) + 2} column 15: ") and "U+009F" in problem
    status, body = await label(api, admin, ids["wo ist mein paket?"], "relabel", "order_status")
    assert status == 409 and error_code(body) == "data_file_invalid", body
    assert body["error"]["message"] == problem
    status, body = await api.call("POST", "/api/admin/faq", token=admin, body=GOOD_FAQ)
    assert status == 409 and body["error"]["message"] == problem


async def test_the_service_logs_a_broken_data_file_at_startup_and_keeps_serving(
    redis_url, tmp_path, caplog
):
    project = copy_project(tmp_path / "project")
    (project / REVIEWED).write_text(CORRUPTED)
    caplog.set_level(logging.ERROR, logger="handoff.service.app")
    async with running(service_config(redis_url, project_dir=project)) as (_, base):
        async with aiohttp.ClientSession() as session:
            async with session.get(base + "/console") as resp:
                assert resp.status == 200  # the CSR console is served as ever
    logged = [r for r in caplog.records if r.name == "handoff.service.app"]
    assert [r.levelno for r in logged] == [logging.ERROR]
    assert f"{REVIEWED}:9:16" in logged[0].getMessage() and "U+009C" in logged[0].getMessage()


# ---- (d) any language, any emoji -----------------------------------------------------------------


async def test_any_language_and_emoji_are_accepted_and_written_as_sent(
    api, admin, redis_client, project
):
    payload = {
        "topic": "gift_wrapping",
        "examples": ["ギフト包装はできますか？", "подарочная упаковка 🎁", "👩‍👩‍👧 gift ❤️ 🇯🇵"],
        "answer": "はい！ Да! Tick 'gift wrap' 🎁 at checkout.\nThank you 🙏🏽",
    }
    status, body = await api.call("POST", "/api/admin/faq", token=admin, body=payload)
    assert status == 201, body
    assert load_data(str(project / FAQ)).responses["utter_faq/gift_wrapping"] == [
        {"text": payload["answer"]}
    ]
    texts = ["وين طلبي؟ 📦", "Πού είναι η παραγγελία μου;"]
    ids = await listed(api, admin, redis_client, *texts)
    for text in texts:
        status, body = await label(api, admin, ids[text], "relabel", "faq/gift_wrapping")
        assert status == 200 and body["text"] == text, body
    examples = {m.get("text") for m in load_data(str(project / REVIEWED)).intent_examples}
    assert examples == set(payload["examples"]) | set(texts)


# ---- (e) the inputs that used to answer 500 (or to break a file) --------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"examples": ["do you gift wrap?", "half an emoji \ud83c"]},  # 500: UnicodeEncodeError
        {"answer": "Yes \udfc1 we do."},  # 201, then Rasa could not read faq.yml
        {"examples": ["do you gift wrap?", "nul\x00 byte"]},  # 201, then every label 500
        {"topic": "gift_wrapping\n"},  # 201 with a response named "utter_faq/gift_wrapping\n"
        {"topic": "g" * 10_000},
        {"topic": ["gift_wrapping"]},
        {"examples": {"do you gift wrap?": 1}},
        {"examples": ["do you gift wrap?", None]},
        {"examples": ["do you gift wrap?", "x" * 5000]},
        {"examples": [f"question {n}" for n in range(1000)]},
        {"answer": 42},
        {"answer": None},
        {"answer": "y" * 5000},
    ],
)
async def test_bad_faq_input_is_a_400_and_changes_nothing(api, admin, project, change):
    before = snapshot(project)
    body = {**GOOD_FAQ, **change}
    status, body = await api.call("POST", "/api/admin/faq", token=admin, body=body)
    assert status == 400 and error_code(body) == "invalid_faq", body
    assert snapshot(project) == before
    rasa_loads(project)


@pytest.mark.parametrize("char", ["\ud83d", "\x9c", "\x00", "\u0085\x1b"])
async def test_an_old_message_no_file_can_hold_is_a_400_and_can_be_ignored(
    api, admin, redis_client, project, char
):
    # Logged before customer text was validated (a lone surrogate used to 500 the list too).
    text = f"where is it{char} now"
    await save_tracker(redis_client, "old", [user(text, "order_status", 0.4, NOW)])
    status, body = await api.call("GET", "/api/admin/review", token=admin)
    assert status == 200, body
    [item] = body["items"]
    status, body = await label(api, admin, item["id"], "confirm")
    assert status == 400 and error_code(body) == "invalid_label", body
    assert "cannot become training data; ignore it instead" in body["error"]["message"]
    assert not (project / REVIEWED).exists()
    status, body = await label(api, admin, item["id"], "ignore")
    assert status == 200 and body["action"] == "ignore", body


@pytest.mark.parametrize(
    "payload",
    [
        {"action": {"confirm": True}},
        {"action": "confirm" * 1000},
        {"action": "relabel", "intent": {"name": "greet"}},
        {"action": "relabel", "intent": "greet\x9c"},
        {"action": "relabel", "intent": "g" * 10_000},
    ],
)
async def test_bad_label_input_is_a_400(api, admin, redis_client, project, payload):
    ids = await listed(api, admin, redis_client, "wo ist mein paket?")
    status, body = await api.call(
        "POST", f"/api/admin/review/{ids['wo ist mein paket?']}/label", token=admin, body=payload
    )
    assert status == 400 and error_code(body) == "invalid_label", body
    assert len(body["error"]["message"]) < 300
    assert not (project / REVIEWED).exists()


@pytest.mark.parametrize("item", ["x" * 5000, "%C2%9C", "..%2F..%2Fetc"])
async def test_a_malformed_item_id_is_a_404(api, admin, item):
    status, body = await label(api, admin, item, "ignore")
    assert status == 404 and error_code(body) == "item_not_found", body


@pytest.mark.parametrize(
    "query", ["?intent=%C2%9C", "?intent=" + "a" * 500, "?since=" + "9" * 100 + "-01-01"]
)
async def test_bad_review_filters_are_a_400(api, admin, query):
    status, body = await api.call("GET", f"/api/admin/review{query}", token=admin)
    assert status == 400 and error_code(body) == "invalid_filter", body
