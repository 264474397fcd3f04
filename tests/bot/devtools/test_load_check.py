"""The load checker on hand-made recordings: it finds each kind of loss, repetition, wrong end
and misplaced error, and lets a retried message's extra copy and an outage's 503 pass."""

from __future__ import annotations

from bot.devtools.load import Attempt, Conversation, ReadBack, Recording, Sent
from bot.devtools.load_check import Window, check, errors_by_window


def entry(entry_id, sender="bot", text="ok", **extra):
    return {"id": entry_id, "sender": sender, "text": text, **extra}


def bot_conversation(**changes):
    """A bot-only conversation of two messages, each answered by one outbox entry."""
    conv = Conversation(slot=0, number=0, escalates=False, conversation_id="a", token="t")
    conv.sent = [Sent("hi", 1, True, 200, ["1-0"]), Sent("shipping?", 1, True, 200, ["2-0"])]
    conv.received = ["1-0", "2-0"]
    conv.finished = True
    for name, value in changes.items():
        setattr(conv, name, value)
    back = ReadBack(
        outbox=[entry("1-0"), entry("2-0")],
        transcript=[("customer", "hi"), ("bot", "ok"), ("customer", "shipping?")],
    )
    return conv, back


def run_of(conv, back, attempts=(), windows=()):
    return check(Recording(list(attempts), [conv]), {conv.conversation_id: back}, windows)


def test_a_conversation_that_went_well_passes():
    figures = run_of(*bot_conversation())
    assert figures.ok, figures.problems
    assert figures.delivered == 2 and figures.transcripts_checked == 1


def test_an_entry_delivered_twice_is_a_duplicate():
    figures = run_of(*bot_conversation(received=["1-0", "2-0", "2-0"]))
    assert figures.duplicated == 1 and not figures.ok


def test_an_outbox_entry_never_delivered_is_lost():
    figures = run_of(*bot_conversation(received=["1-0"]))
    assert figures.lost == 1 and "never delivered" in figures.problems[0]


def test_entries_delivered_out_of_order_fail():
    figures = run_of(*bot_conversation(received=["2-0", "1-0"]))
    assert any("out of order" in p for p in figures.problems)


def test_an_acknowledged_reply_missing_from_the_outbox_is_lost():
    conv, back = bot_conversation()
    back.outbox = [entry("1-0")]
    conv.received = ["1-0"]
    figures = run_of(conv, back)
    assert figures.lost == 1 and "acknowledged" in figures.problems[0]


def test_a_message_missing_from_the_transcript_is_lost():
    conv, back = bot_conversation()
    back.transcript = [("customer", "hi")]
    figures = run_of(conv, back)
    assert figures.lost == 1 and "missing" in figures.problems[0]


def test_a_message_sent_once_but_kept_twice_is_a_duplicate():
    conv, back = bot_conversation()
    back.transcript.append(("customer", "shipping?"))
    figures = run_of(conv, back)
    assert figures.duplicated == 1 and not figures.ok


def test_a_retried_message_may_be_kept_once_per_attempt():
    conv, back = bot_conversation()
    conv.sent[1].attempts = 2
    back.transcript.append(("customer", "shipping?"))
    figures = run_of(conv, back)
    assert figures.ok, figures.problems
    assert figures.retry_copies == 1 and figures.retried_messages == 1


def test_a_customer_line_nobody_sent_fails():
    conv, back = bot_conversation()
    back.transcript.append(("customer", "who said this?"))
    assert not run_of(conv, back).ok


def test_an_escalated_conversation_must_end_closed_with_each_csr_message_once():
    conv, back = bot_conversation(escalates=True)
    conv.csr_sent = [Sent("Hello", 1, True, 201, ["3-0"])]
    conv.received.append("3-0")
    back.outbox.append(entry("3-0", sender="csr", text="Hello"))
    back.state = "assigned"
    figures = run_of(conv, back)
    assert figures.wrong_state == 1
    back.state = "closed"
    assert run_of(conv, back).ok
    back.outbox.append(entry("4-0", sender="csr", text="Hello"))
    conv.received.append("4-0")
    assert run_of(conv, back).duplicated == 1


def test_errors_pass_only_as_502_or_503_inside_an_outage():
    outage = Window("rasa", start=100.0, end=110.0)
    inside_503 = Attempt("c0.0", "widget_message", 104.0, 105.0, 503)
    inside_500 = Attempt("c0.0", "widget_message", 105.0, 106.0, 500)
    outside_502 = Attempt("c0.0", "widget_message", 120.0, 121.0, 502)
    expected_409 = Attempt("alice", "claim", 120.0, 121.0, 409)
    conv, back = bot_conversation()

    assert run_of(conv, back, [inside_503, expected_409], [outage]).ok
    figures = run_of(conv, back, [inside_503, inside_500, outside_502], [outage])
    assert (figures.errors_inside, figures.errors_outside) == (2, 1)
    assert len(figures.problems) == 2
    table = errors_by_window([inside_503, inside_500, outside_502], [outage])
    assert table == {"rasa": {503: 1, 500: 1}}


def test_a_call_without_any_answer_is_an_error_even_inside_an_outage():
    outage = Window("redis", start=0.0, end=10.0)
    dropped = Attempt("alice", "csr_message", 1.0, 2.0, None, "ServerDisconnectedError()")
    figures = run_of(*bot_conversation(), attempts=[dropped], windows=[outage])
    assert figures.errors_by_status == {None: 1} and not figures.ok


def test_a_request_resent_after_the_balancer_closed_its_connection_is_counted_not_an_error():
    closed = Attempt(
        "c0.0", "widget_message", 1.0, 1.1, None, "ServerDisconnectedError()", resent=True
    )
    answered = Attempt("c0.0", "widget_message", 1.1, 1.5, 202)

    figures = run_of(*bot_conversation(), attempts=[closed, answered])

    assert figures.ok and figures.resent == 1
    assert figures.errors_inside == figures.errors_outside == 0
