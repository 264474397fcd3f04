"""The follow-up question through the widget channel: real HTTP and Redis; answers skip Rasa."""

from __future__ import annotations

import json

import pytest

from handoff.core import followup, keys
from handoff.core.auth import Auth, Identity
from handoff.core.csr_desk import HandoffService
from handoff.core.followup import Followups
from handoff.core.outbox import Outbox
from handoff.core.rasa_client import NullRasa
from tests.support.auth import FAST_SCRYPT_N, SECRET

pytestmark = pytest.mark.asyncio(loop_scope="module")

YES = '/followup_answer{"solved": true}'
NO = '/followup_answer{"solved": false}'


def code(body):
    return body["error"]["code"]


@pytest.fixture
def followups(redis_client, store):
    return Followups(redis_client, store)


async def samples(redis, key):
    return [json.loads(m) for m in await redis.zrange(key, 0, -1)]


async def bot_finished_a_flow(client, bot, followups, flow="order_status"):
    """What the action server does at the end of a flow: record, then ask through Rasa."""
    session = await client.new_session()

    async def answer(message):
        await followups.ask(message.sender_id, resolver="bot", reason=flow)
        out = message.output_channel
        await out.send_text_message(message.sender_id, "Order A1002 is on its way.")
        await out.send_response(
            message.sender_id, {"text": followup.QUESTION, "buttons": followup.buttons()}
        )

    bot.answer = answer
    status, body = await client.say(session["token"], "where is my order A1002")
    assert status == 200
    bot.reset()
    return session["conversation_id"], session["token"], body["messages"]


async def test_a_yes_after_a_bot_flow_is_recorded_and_asks_for_a_rating(
    client, bot, followups, redis_client
):
    conv_id, token, replies = await bot_finished_a_flow(client, bot, followups)
    question = replies[-1]
    assert question["kind"] == "followup_request" and question["sender"] == "bot"
    assert [b["title"] for b in question["buttons"]] == ["Yes", "No"]
    status, body = await client.say(token, YES)
    assert status == 200 and bot.received == []
    thanks, rating = body["messages"]
    assert thanks["kind"] == "followup_thanks" and rating["kind"] == "csat_request"
    [sample] = await samples(redis_client, keys.METRICS_FOLLOWUPS)
    assert sample["solved"] is True and sample["resolver"] == "bot"
    assert sample["reason"] == "order_status"
    # The rating of a case the bot finished counts, though no CSR ever had it.
    status, body = await client.say(token, "4")
    assert status == 200 and body["messages"][0]["kind"] == "csat_thanks"
    [csat] = await samples(redis_client, keys.METRICS_CSAT)
    assert csat["conv"] == conv_id and csat["score"] == 4
    assert bot.received == []
    # Answered: pressing Yes again is refused, and "yes" is ordinary text for the bot.
    status, body = await client.say(token, YES)
    assert status == 409 and code(body) == "no_followup"
    status, _ = await client.say(token, "yes")
    assert status == 200 and bot.texts() == ["yes"]


async def test_a_typed_no_offers_a_person_and_counts_as_a_reopen(
    client, bot, followups, redis_client
):
    conv_id, token, _ = await bot_finished_a_flow(client, bot, followups, flow="return")
    status, body = await client.say(token, "No")
    assert status == 200 and bot.received == []
    [offer] = body["messages"]
    assert offer["kind"] == "followup_offer"
    assert offer["buttons"] == [{"title": "Talk to a person", "payload": "/request_human"}]
    [reopen] = await samples(redis_client, keys.METRICS_REOPENS)
    assert reopen == {**reopen, "subject": conv_id, "kind": "conversation", "reason": "return"}
    # The offer's button is an intent for the bot (it escalates, or offers a ticket).
    await client.say(token, "/request_human")
    assert bot.texts() == ["/request_human"]


async def test_a_typed_no_to_another_question_goes_to_the_bot(client, bot, followups):
    _, token, _ = await bot_finished_a_flow(client, bot, followups)
    await client.say(token, "can I cancel it instead?")  # the bot answers: question not newest
    status, _ = await client.say(token, "no")
    assert status == 200 and bot.texts() == ["can I cancel it instead?", "no"]


async def test_after_a_csr_closes_the_question_comes_first_then_the_rating(
    client, bot, store, redis_client, followups
):
    session = await client.new_session()
    conv_id, token = session["conversation_id"], session["token"]
    await store.escalate(conv_id, "complaint")
    await store.claim(conv_id, "alice")
    desk = HandoffService(
        store,
        Outbox(redis_client),
        NullRasa(),
        Auth(redis_client, SECRET, scrypt_n=FAST_SCRYPT_N),
        followups=followups,
    )
    await desk.close(conv_id, Identity("alice", "csr", "Alice"), "refund_issued")
    notice, question = (await client.messages(token))[-2:]
    assert notice["sender"] == "system" and question["kind"] == "followup_request"
    status, body = await client.say(token, NO)
    assert status == 200
    offer, rating = body["messages"]
    assert offer["kind"] == "followup_offer" and rating["kind"] == "csat_request"
    [sample] = await samples(redis_client, keys.METRICS_FOLLOWUPS)
    assert sample == {**sample, "resolver": "csr", "csr": "alice", "reason": "complaint"}
    assert sample["solved"] is False
    status, _ = await client.say(token, '/csat_rating{"csat_score": 3}')
    assert status == 200 and (await store.get(conv_id)).csat == 3
    assert bot.received == []


async def test_answers_without_a_question_are_refused(client, bot):
    session = await client.new_session()
    status, body = await client.say(session["token"], YES)
    assert status == 409 and code(body) == "no_followup"
    status, body = await client.say(session["token"], '/followup_answer{"solved": "maybe"}')
    assert status == 400 and code(body) == "invalid_input"
    status, _ = await client.say(session["token"], "no")  # nothing asked: the bot's
    assert status == 200 and bot.texts() == ["no"]
