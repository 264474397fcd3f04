"""Label decisions and the generated NLU file they are written to."""

from __future__ import annotations

import re

import pytest
import yaml

from bot.retraining import keys
from bot.retraining.errors import InvalidLabel, ItemNotFound
from bot.retraining.labels import known_intents, label
from bot.retraining.nlu_data import HEADER, read_examples
from bot.retraining.review import build_review
from tests.support.trackers import save_tracker, user

T0 = 1_760_000_000.0


async def _items(redis_client, config, *messages):
    await save_tracker(
        redis_client,
        "c1",
        [user(text, intent, conf, T0 + n) for n, (text, intent, conf) in enumerate(messages)],
    )
    return {i.text: i for i in await build_review(redis_client, config)}


def _reviewed(config):
    return read_examples(config.path(config.reviewed_file))


async def test_confirm_relabel_and_out_of_scope_write_the_reviewed_file(
    redis_client, retraining_config
):
    items = await _items(
        redis_client,
        retraining_config,
        ("wheres my parcel at", "order_status", 0.41),
        ("zzz my money pls", "order_status", 0.32),
        ("can u write me a poem", "greet", 0.2),
        ("my card is 4242 4242 4242 4242", "inform", 0.3),
    )
    confirmed = await label(
        redis_client, retraining_config, items["wheres my parcel at"].id, "confirm", by="admin"
    )
    assert confirmed.intent == "order_status" and confirmed.by == "admin"
    await label(
        redis_client,
        retraining_config,
        items["zzz my money pls"].id,
        "relabel",
        intent="refund_status",
    )
    await label(redis_client, retraining_config, items["can u write me a poem"].id, "out_of_scope")
    await label(
        redis_client, retraining_config, items["my card is [card ending 4242]"].id, "confirm"
    )
    assert _reviewed(retraining_config) == {
        "inform": ["my card is [card ending 4242]"],
        "order_status": ["wheres my parcel at"],
        "out_of_scope": ["can u write me a poem"],
        "refund_status": ["zzz my money pls"],
    }
    text = retraining_config.path(retraining_config.reviewed_file).read_text()
    assert text.startswith(HEADER) and 'version: "3.1"' in text
    assert "4242 4242" not in text
    # The review list shows each decision (what the admin page reads).
    listed = await build_review(redis_client, retraining_config, include_decided=True)
    assert {i.text: i.status for i in listed} == {
        "can u write me a poem": "out_of_scope",
        "my card is [card ending 4242]": "confirm",
        "wheres my parcel at": "confirm",
        "zzz my money pls": "relabel",
    }


async def test_rasa_reads_the_generated_file(redis_client, retraining_config):
    from rasa.shared.nlu.training_data.loading import load_data

    items = await _items(
        redis_client,
        retraining_config,
        ("a: b # c - d", "order_status", 0.4),
        ("[weird] (brackets)", "greet", 0.1),
    )
    for item in items.values():
        await label(redis_client, retraining_config, item.id, "confirm")
    data = load_data(str(retraining_config.path(retraining_config.reviewed_file)))
    assert sorted((m.get("text"), m.get("intent")) for m in data.intent_examples) == [
        ("[weird] (brackets)", "greet"),
        ("a: b # c - d", "order_status"),
    ]


async def test_a_new_decision_replaces_the_old_one(redis_client, retraining_config):
    items = await _items(redis_client, retraining_config, ("refund where", "order_status", 0.4))
    item_id = items["refund where"].id
    await label(redis_client, retraining_config, item_id, "confirm")
    await label(redis_client, retraining_config, item_id, "relabel", intent="refund_status")
    await label(redis_client, retraining_config, item_id, "relabel", intent="refund_status")
    assert _reviewed(retraining_config) == {"refund_status": ["refund where"]}
    await label(redis_client, retraining_config, item_id, "ignore")
    assert _reviewed(retraining_config) == {}
    assert yaml.safe_load(retraining_config.path(retraining_config.reviewed_file).read_text()) == {
        "version": "3.1",
        "nlu": [],
    }


async def test_examples_are_sorted_and_unique(redis_client, retraining_config):
    items = await _items(
        redis_client,
        retraining_config,
        ("where is it", "order_status", 0.4),
        ("Any news on my order", "order_status", 0.4),
        ("delivery status?", "order_status", 0.4),
    )
    for item in items.values():
        await label(redis_client, retraining_config, item.id, "confirm")
    assert _reviewed(retraining_config) == {
        "order_status": ["Any news on my order", "delivery status?", "where is it"]
    }


@pytest.mark.parametrize(
    "action, intent, message",
    [
        ("shout", None, "`action` must be one of"),
        ("relabel", None, "needs the intent"),
        ("relabel", "order_statuss", "unknown intent"),
        ("relabel", "faq", "unknown intent"),
        ("relabel", "faq/no_such_topic", "unknown intent"),
    ],
)
async def test_bad_labels_are_refused_with_a_clear_message(
    redis_client, retraining_config, action, intent, message
):
    items = await _items(redis_client, retraining_config, ("wheres my order", "order_status", 0.4))
    with pytest.raises(InvalidLabel, match=message):
        await label(
            redis_client, retraining_config, items["wheres my order"].id, action, intent=intent
        )
    assert not retraining_config.path(retraining_config.reviewed_file).exists()
    assert await redis_client.hlen(keys.DECISIONS) == 0


async def test_confirm_needs_a_real_prediction(redis_client, retraining_config):
    await save_tracker(
        redis_client,
        "c1",
        [
            user(
                "🙂🙂",
                "nlu_fallback",
                0.9,
                T0,
                ranking=[{"name": "nlu_fallback", "confidence": 0.9}],
            )
        ],
    )
    [item] = await build_review(redis_client, retraining_config)
    with pytest.raises(InvalidLabel, match="relabel"):
        await label(redis_client, retraining_config, item.id, "confirm")


async def test_a_hand_written_example_of_another_intent_is_refused(redis_client, retraining_config):
    # "how long does shipping take" is a hand-written faq/shipping_times example.
    items = await _items(
        redis_client, retraining_config, ("How long does shipping take", "greet", 0.2)
    )
    with pytest.raises(InvalidLabel, match="faq/shipping_times"):
        await label(
            redis_client, retraining_config, items["How long does shipping take"].id, "confirm"
        )


async def test_unknown_item(redis_client, retraining_config):
    with pytest.raises(ItemNotFound):
        await label(redis_client, retraining_config, "0123456789abcdef", "ignore")


async def test_an_item_not_listed_yet_is_found_in_the_trackers(redis_client, retraining_config):
    from bot.retraining.review import item_id

    # Confident enough not to be listed at the default threshold, but an admin may still label it.
    await save_tracker(redis_client, "c1", [user("track order pls", "order_status", 0.9, T0)])
    decision = await label(redis_client, retraining_config, item_id("track order pls"), "confirm")
    assert decision.intent == "order_status"


def test_known_intents(retraining_config):
    intents = known_intents(retraining_config)
    assert "order_status" in intents and "out_of_scope" in intents
    assert "faq/shipping_times" in intents and "faq" not in intents
    assert intents == sorted(i for i in intents if "/" not in i) + sorted(
        i for i in intents if "/" in i
    )


# ---- issue #16: nothing an admin labels can corrupt the reviewed file --------------------------


@pytest.mark.parametrize("char", ["\x9c", "\x9f", "\x00", "\ud83d"])
async def test_an_old_item_with_a_control_character_is_refused_and_can_be_ignored(
    redis_client, retraining_config, char
):
    # Logged before customer text was validated: it is in the trackers, it must not reach a file.
    items = await _items(
        redis_client, retraining_config, (f"where{char} is it", "order_status", 0.4)
    )
    [item] = items.values()
    code = f"U+{ord(char):04X}"
    message = f"contains {code} and cannot become training data; ignore it instead"
    with pytest.raises(InvalidLabel, match=re.escape(message)):
        await label(redis_client, retraining_config, item.id, "confirm")
    assert not retraining_config.path(retraining_config.reviewed_file).exists()
    assert await redis_client.hlen(keys.DECISIONS) == 0
    decision = await label(redis_client, retraining_config, item.id, "ignore")
    assert decision.action == "ignore"
    assert _reviewed(retraining_config) == {}


async def test_any_language_and_emoji_are_written_as_sent(redis_client, retraining_config):
    from rasa.shared.nlu.training_data.loading import load_data

    texts = ["где мой заказ 📦", "注文はどこですか", "وين طلبي؟", "👩‍👩‍👧 family pack ❤️ 🇯🇵"]
    items = await _items(
        redis_client, retraining_config, *[(t, "order_status", 0.4) for t in texts]
    )
    for item in items.values():
        await label(redis_client, retraining_config, item.id, "confirm")
    assert sorted(_reviewed(retraining_config)["order_status"]) == sorted(texts)
    data = load_data(str(retraining_config.path(retraining_config.reviewed_file)))
    assert sorted(m.get("text") for m in data.intent_examples) == sorted(texts)


async def test_a_corrupted_reviewed_file_is_reported_every_time_and_left_alone(
    redis_client, retraining_config
):
    from bot.retraining.errors import DataFileInvalid

    reviewed = retraining_config.path(retraining_config.reviewed_file)
    reviewed.write_text(
        HEADER + 'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - a\x9c\n'
    )
    before = reviewed.read_bytes()
    items = await _items(redis_client, retraining_config, ("wheres my order", "order_status", 0.4))
    for action in ("confirm", "ignore"):
        with pytest.raises(DataFileInvalid, match="data/nlu/reviewed.yml line 9 column 8: "):
            await label(redis_client, retraining_config, items["wheres my order"].id, action)
    assert reviewed.read_bytes() == before
    assert await redis_client.hlen(keys.DECISIONS) == 0
