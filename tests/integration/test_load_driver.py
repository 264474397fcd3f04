"""The load driver and its checker against the single stack (no faults): a healthy product
loses nothing, repeats nothing, and answers no call with an error."""

from __future__ import annotations

from bot.devtools.load import LoadSettings, run_for
from bot.devtools.load_check import check, throughput
from bot.devtools.stack import DEMO_PASSWORD


def test_a_healthy_stack_delivers_everything_once_and_every_conversation_ends_as_expected(stack):
    settings = LoadSettings(
        widget_url=stack.rasa_url,
        handoff_url=stack.handoff_url,
        csr_logins=[("alice", DEMO_PASSWORD), ("admin", DEMO_PASSWORD)],
        customers=4,
        conversations=8,
        escalate_every=2,
        think_seconds=0.1,
        rasa_token=stack.rasa_token,
        real_ip_header="X-Real-IP",
    )
    rec, read_back = run_for(settings)
    figures = check(rec, read_back)
    print("\n".join(figures.lines() + throughput(rec)))
    assert figures.ok, figures.problems
    assert figures.conversations == 8 and figures.escalated == 4
    assert figures.finished == 8 and figures.csr_messages == 8
    assert figures.transcripts_checked == 8
    assert figures.errors_inside == figures.errors_outside == 0
