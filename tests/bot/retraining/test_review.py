"""The review list built from Rasa's tracker store and the handoff records."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from bot.retraining import keys
from bot.retraining.errors import InvalidFilter
from bot.retraining.review import build_review, item_id, remembered_item
from handoff.core.http_errors import status_of
from handoff.core.store import HandoffStore
from tests.support.trackers import action, bot, pause, save_tracker, user

T0 = 1_760_000_000.0  # 2025-10-09T08:53:20Z
FALLBACK_RANKING = [
    {"name": "nlu_fallback", "confidence": 0.55},
    {"name": "order_status", "confidence": 0.41},
    {"name": "refund_status", "confidence": 0.30},
]


async def test_fallback_and_low_confidence_messages_are_listed_with_context(
    redis_client, retraining_config
):
    await save_tracker(
        redis_client,
        "c1",
        [
            action("action_session_start", T0),
            user("hi", "greet", 0.99, T0 + 1),
            bot("Hi! How can I help?", T0 + 2),
            user("wheres my stuff at", "nlu_fallback", 0.55, T0 + 3, ranking=FALLBACK_RANKING),
            action("action_handle_fallback", T0 + 4),
            bot("Sorry, I didn't get that.", T0 + 5),
            user(
                "can I pay with klarna",
                "faq",
                0.42,
                T0 + 6,
                response_selector={
                    "faq": {"response": {"intent_response_key": "faq/payment_methods"}}
                },
            ),
            bot("We accept Visa...", T0 + 7),
        ],
    )
    items = await build_review(redis_client, retraining_config)
    by_text = {i.text: i for i in items}
    assert set(by_text) == {"wheres my stuff at", "can I pay with klarna"}  # "hi" was understood
    fell_back = by_text["wheres my stuff at"]
    # The fallback hides the real guess; the review shows the best real intent.
    assert fell_back.predicted_intent == "order_status" and fell_back.confidence == 0.41
    assert fell_back.reasons == ["fallback", "low_confidence"]
    assert [t["sender"] for t in fell_back.context] == [
        "customer",
        "bot",
        "customer",
        "bot",
        "customer",
    ]
    assert fell_back.first_seen == "2025-10-09T08:53:23+00:00" and fell_back.conversations == ["c1"]
    assert fell_back.status == "open" and fell_back.id == item_id("Wheres  my STUFF at")
    faq = by_text["can I pay with klarna"]
    assert faq.predicted_intent == "faq/payment_methods" and faq.reasons == ["low_confidence"]
    assert faq.to_dict()["reasons"] == ["low_confidence"]


async def test_the_same_question_asked_thirty_times_is_one_item(redis_client, retraining_config):
    for n in range(30):
        text = "Where is my ORDER??" if n % 2 else "where  is my order??"
        await save_tracker(redis_client, f"conv{n}", [user(text, "order_status", 0.3, T0 + n)])
    await save_tracker(redis_client, "other", [user("refund?", "refund_status", 0.2, T0)])
    items = await build_review(redis_client, retraining_config)
    assert [(i.count, len(i.conversations)) for i in items] == [(30, 30), (1, 1)]
    assert items[0].last_seen == "2025-10-09T08:53:49+00:00"


async def test_secrets_are_masked_in_text_and_context(redis_client, retraining_config):
    await save_tracker(
        redis_client,
        "c1",
        [
            user(
                "my card 4242 4242 4242 4242 was charged twice, mail me at jo@example.com",
                "complain",
                0.2,
                T0,
            ),
            bot("Sorry to hear that, jo@example.com noted", T0 + 1),
        ],
    )
    [item] = await build_review(redis_client, retraining_config)
    assert "4242 4242" not in item.text and "jo@example.com" not in item.text
    # What an admin sees keeps enough to recognise, as a CSR's transcript does.
    assert "[card ending 4242]" in item.text and "j***@example.com" in item.text
    assert all("jo@example.com" not in turn["text"] for turn in item.context)
    assert item.context[-1]["text"] == "Sorry to hear that, j***@example.com noted"
    assert "jo@example.com" not in await redis_client.get(keys.item(item.id))


async def test_listed_items_expire_and_the_old_unexpiring_hash_goes(
    redis_client, retraining_config
):
    await redis_client.hset(keys.LEGACY_ITEMS, "old", '{"text": "my address is 1 Elm St"}')
    await save_tracker(redis_client, "c1", [user("wheres my stuff at", "order_status", 0.3, T0)])
    short = dataclasses.replace(retraining_config, item_ttl_days=2)
    [item] = await build_review(redis_client, short)
    assert 86400 < await redis_client.ttl(keys.item(item.id)) <= 2 * 86400
    assert not await redis_client.exists(keys.LEGACY_ITEMS)
    assert (await remembered_item(redis_client, item.id)).text == "wheres my stuff at"


async def test_escalations_and_low_csat_come_from_the_handoff_records(
    redis_client, retraining_config
):
    store = HandoffStore(redis_client)
    await store.escalate("angry", "frustrated", confidence=0.9)
    await store.claim("angry", "alice")
    await store.close("angry", "resolved", by="alice")
    await store.set_csat("angry", 1)
    await save_tracker(
        redis_client,
        "angry",
        [
            user("this is useless", "complain", 0.95, T0),
            user("I said my parcel never came", "order_status", 0.91, T0 + 1),
            action("action_human_handoff", T0 + 2),
            pause(T0 + 3),
            # While a CSR has the conversation, messages are for the CSR, not review candidates.
            user("ok thanks alice", "thank", 0.2, T0 + 4),
            bot("You're welcome", T0 + 5, agent="Alice"),
        ],
    )
    items = {i.text: i for i in await build_review(redis_client, retraining_config)}
    assert set(items) == {"this is useless", "I said my parcel never came"}
    assert items["I said my parcel never came"].reasons == ["escalation", "low_csat"]
    assert items["I said my parcel never came"].escalation_reasons == ["frustrated"]
    only_escalations = await build_review(redis_client, retraining_config, reason="escalation")
    assert len(only_escalations) == 2


async def test_an_escalation_out_of_hours_is_one_too(redis_client, retraining_config):
    # Outside business hours the bot offers a ticket (slot ticket_reason) instead of pausing.
    await save_tracker(
        redis_client,
        "night",
        [
            user("hello", "greet", 0.99, T0),
            user("i want a refund for the broken lamp", "refund_status", 0.93, T0 + 1),
            user("a real person please", "request_human", 0.97, T0 + 2),
            action("action_human_handoff", T0 + 3),
            {
                "event": "slot",
                "timestamp": T0 + 4,
                "name": "ticket_reason",
                "value": "request_human",
            },
            user("jo@example.com", "inform", 0.98, T0 + 5),
            {"event": "slot", "timestamp": T0 + 6, "name": "ticket_reason", "value": None},
        ],
    )
    items = {i.text: i for i in await build_review(redis_client, retraining_config)}
    assert set(items) == {"i want a refund for the broken lamp", "a real person please"}
    assert items["a real person please"].reasons == ["escalation"]
    assert items["a real person please"].escalation_reasons == ["request_human"]


async def test_a_rewound_message_is_not_listed(redis_client, retraining_config):
    # Rasa took "wheres my stuff at" back (a rewind): the bot forgot it, so does the review.
    await save_tracker(
        redis_client,
        "c1",
        [
            action("action_listen", T0),
            user("wheres my stuff at", "order_status", 0.3, T0 + 1),
            bot("Which order?", T0 + 2),
            {"event": "rewind", "timestamp": T0 + 3},
            action("action_listen", T0 + 4),
            user("where is order 1234", "order_status", 0.4, T0 + 5),
        ],
    )
    [item] = await build_review(redis_client, retraining_config)
    assert item.text == "where is order 1234"
    assert [t["text"] for t in item.context] == ["where is order 1234"]


async def test_nothing_before_a_restart_counts(redis_client, retraining_config):
    await save_tracker(
        redis_client,
        "c1",
        [
            user("refund pls", "refund_status", 0.2, T0),
            action("action_human_handoff", T0 + 1),
            pause(T0 + 2),
            {"event": "restart", "timestamp": T0 + 3},
            # The restart also ended the pause: this message was for the bot again.
            user("is anyone there", "greet", 0.25, T0 + 4),
        ],
    )
    [item] = await build_review(redis_client, retraining_config)
    assert item.text == "is anyone there" and item.reasons == ["low_confidence"]
    assert [t["text"] for t in item.context] == ["is anyone there"]


async def test_an_undone_fallback_action_is_no_fallback(redis_client, retraining_config):
    await save_tracker(
        redis_client,
        "c1",
        [
            user("track order 1234", "order_status", 0.95, T0),
            action("action_handle_fallback", T0 + 1),
            {"event": "undo", "timestamp": T0 + 2},
        ],
    )
    assert await build_review(redis_client, retraining_config) == []


async def test_threshold_and_filters(redis_client, retraining_config):
    day = dt.datetime(2025, 10, 9, tzinfo=dt.timezone.utc).timestamp()
    await save_tracker(
        redis_client,
        "c1",
        [
            user("track it", "order_status", 0.55, day + 3600),
            user("money back?", "refund_status", 0.35, day + 86400 + 10),
        ],
    )
    assert len(await build_review(redis_client, retraining_config)) == 2
    assert [i.text for i in await build_review(redis_client, retraining_config, threshold=0.5)] == [
        "money back?"
    ]
    assert await build_review(redis_client, retraining_config, threshold=0.1) == []
    assert [
        i.text for i in await build_review(redis_client, retraining_config, until="2025-10-09")
    ] == ["track it"]
    assert [
        i.text for i in await build_review(redis_client, retraining_config, since="2025-10-10")
    ] == ["money back?"]
    assert [
        i.text for i in await build_review(redis_client, retraining_config, since=day + 7200)
    ] == ["money back?"]
    assert [
        i.text for i in await build_review(redis_client, retraining_config, intent="order_status")
    ] == ["track it"]


@pytest.mark.parametrize(
    "kwargs",
    [{"threshold": 1.5}, {"threshold": "lots"}, {"reason": "boring"}, {"since": "last tuesday"}],
)
async def test_bad_filters_are_refused(redis_client, retraining_config, kwargs):
    with pytest.raises(InvalidFilter) as info:
        await build_review(redis_client, retraining_config, **kwargs)
    assert status_of(info.value) == 400 and info.value.code == "invalid_filter"


async def test_decided_items_are_left_out_unless_asked(redis_client, retraining_config):
    from bot.retraining.labels import label

    await save_tracker(
        redis_client,
        "c1",
        [user("wheres my parcel", "order_status", 0.4, T0), user("hmm", "deny", 0.3, T0 + 1)],
    )
    first = (await build_review(redis_client, retraining_config))[0]
    await label(redis_client, retraining_config, first.id, "ignore", by="admin")
    assert first.id not in [i.id for i in await build_review(redis_client, retraining_config)]
    everything = {
        i.id: i for i in await build_review(redis_client, retraining_config, include_decided=True)
    }
    assert everything[first.id].status == "ignore"


async def test_trackers_written_by_rasas_own_redis_tracker_store_are_read(
    redis_db, redis_client, retraining_config
):
    """The key format and JSON are Rasa's, not our guess of them."""
    from urllib.parse import urlparse

    from rasa.core.tracker_store import RedisTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    where = urlparse(redis_db)
    store = RedisTrackerStore(
        Domain.empty(), host=where.hostname, port=where.port, db=0, key_prefix="rasa"
    )
    tracker = DialogueStateTracker.from_events(
        "from-rasa",
        [
            UserUttered(
                "is the sofa in stock",
                {"name": "faq", "confidence": 0.31},
                parse_data={
                    "intent": {"name": "faq", "confidence": 0.31},
                    "intent_ranking": [],
                    "response_selector": {
                        "faq": {"response": {"intent_response_key": "faq/stock"}}
                    },
                },
                timestamp=T0,
            )
        ],
    )
    await store.save(tracker)
    [item] = await build_review(redis_client, retraining_config)
    assert item.conversations == ["from-rasa"] and item.predicted_intent == "faq/stock"
