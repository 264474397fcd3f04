"""Compare what a load run sent with what arrived, and sort its errors by time and status.

Pure functions over a :class:`bot.devtools.load.Recording` and what was read back after the
run (each conversation's outbox, transcript and handoff state). A conversation passes when:

- the widget received every outbox entry exactly once, in outbox order, and every id an
  answer named (a bot reply in a 200, a CSR's message in a 201) is in the outbox;
- the transcript holds every message the customer sent, once: a message whose request
  failed and was retried may be there up to once per attempt (the server may have taken
  it before the connection broke; the API has no idempotency key), which is counted as a
  retry copy, not a duplicate;
- each CSR message is in the outbox once (again up to once per attempt);
- it ended where its script leads: ``closed`` after a person was asked for, else with the bot.

An error is an attempt with no HTTP answer, a 5xx, a 429, or a 4xx the script does not
expect. It is allowed only inside an outage window and only as 502 or 503.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from bot.devtools.load import (
    Attempt,
    Conversation,
    LoadSettings,
    ReadBack,
    Recording,
    Sent,
    run_for,
)

ALLOWED_STATUSES = (502, 503)
# 4xx answers the scripts meet on purpose: claiming before the escalation arrived (404, 409)
# or again after a claim that succeeded under a 502 (409), closing again (409).
EXPECTED_4XX = {"claim": (404, 409), "close": (409,)}


@dataclass
class Window:
    """An outage: from the fault until the system was whole again (epoch seconds)."""

    label: str
    start: float
    end: float

    def overlaps(self, attempt: Attempt) -> bool:
        return attempt.started <= self.end and attempt.ended >= self.start


@dataclass
class Figures:
    """What a run did and what went wrong, ready to print and assert on."""

    conversations: int = 0
    escalated: int = 0
    finished: int = 0
    customer_messages: int = 0
    csr_messages: int = 0
    delivered: int = 0
    transcripts_checked: int = 0
    reconnects: int = 0
    retried_messages: int = 0
    retry_copies: int = 0
    lost: int = 0
    duplicated: int = 0
    wrong_state: int = 0
    errors_by_status: Counter = field(default_factory=Counter)
    errors_inside: int = 0
    errors_outside: int = 0
    resent: int = 0  # requests sent again after the balancer closed their connection
    problems: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> List[str]:
        statuses = ", ".join(f"{s or 'no answer'}: {n}" for s, n in sorted(self._status_items()))
        return [
            f"conversations {self.conversations} (asked for a person {self.escalated}), "
            f"finished {self.finished}",
            f"customer messages {self.customer_messages}, CSR messages {self.csr_messages}, "
            f"outbox entries delivered {self.delivered}, socket reconnects {self.reconnects}",
            f"transcripts checked {self.transcripts_checked}, "
            f"lost {self.lost}, duplicated {self.duplicated}, wrong end state {self.wrong_state}",
            f"retried messages {self.retried_messages} (copies kept from retries "
            f"{self.retry_copies})",
            f"errors inside outages {self.errors_inside}, outside {self.errors_outside}"
            + (f" (by status: {statuses})" if statuses else ""),
            f"requests resent on a new connection after the balancer closed theirs {self.resent}",
        ]

    def _status_items(self) -> Iterable[Tuple[int, int]]:
        return ((s if s is not None else 0, n) for s, n in self.errors_by_status.items())


def check(
    rec: Recording, read_back: Dict[str, ReadBack], windows: Sequence[Window] = ()
) -> Figures:
    """Every check over the run; ``figures.problems`` lists what failed, one line each."""
    figures = Figures()
    for conv in rec.conversations:
        _count(conv, figures)
        if not conv.conversation_id:
            figures.problems.append(f"{conv.label}: no session ({conv.failure})")
            continue
        back = read_back.get(conv.conversation_id, ReadBack())
        _check_delivery(conv, back, figures)
        _check_transcript(conv, back, figures)
        _check_csr_messages(conv, back, figures)
        _check_end(conv, back, figures)
    _check_errors(rec.attempts, windows, figures)
    return figures


def _count(conv: Conversation, figures: Figures) -> None:
    figures.conversations += 1
    figures.escalated += conv.escalates
    figures.finished += conv.finished
    figures.customer_messages += len(conv.sent)
    figures.csr_messages += len(conv.csr_sent)
    figures.reconnects += conv.reconnects
    figures.retried_messages += sum(1 for s in conv.sent + conv.csr_sent if s.attempts > 1)


def _check_delivery(conv: Conversation, back: ReadBack, figures: Figures) -> None:
    outbox_ids = [e["id"] for e in back.outbox]
    received = conv.received
    figures.delivered += len(set(received))
    repeats = len(received) - len(set(received))
    if repeats:
        figures.duplicated += repeats
        figures.problems.append(f"{conv.label}: {repeats} outbox entries delivered twice")
    missing = [i for i in outbox_ids if i not in set(received)]
    if missing:
        figures.lost += len(missing)
        figures.problems.append(f"{conv.label}: outbox entries never delivered: {missing}")
    unknown = [i for i in dict.fromkeys(received) if i not in set(outbox_ids)]
    if unknown:
        figures.problems.append(f"{conv.label}: delivered ids not in the outbox: {unknown}")
    in_order = [i for i in dict.fromkeys(received) if i in set(outbox_ids)]
    if in_order != [i for i in outbox_ids if i in set(in_order)]:
        figures.problems.append(f"{conv.label}: delivered out of order")
    acked = [i for s in conv.sent + conv.csr_sent for i in s.entry_ids]
    vanished = [i for i in acked if i not in set(outbox_ids)]
    if vanished:
        figures.lost += len(vanished)
        figures.problems.append(f"{conv.label}: acknowledged entries not in the outbox: {vanished}")


def _check_transcript(conv: Conversation, back: ReadBack, figures: Figures) -> None:
    if back.transcript is None:
        return
    figures.transcripts_checked += 1
    said = [text for sender, text in back.transcript if sender == "customer"]
    for problem, copies in _match(conv.sent, said, figures):
        figures.problems.append(f"{conv.label}: transcript: {problem}")
        if copies == 0:
            figures.lost += 1
        else:
            figures.duplicated += copies


def _match(sent: Sequence[Sent], said: List[str], figures: Figures) -> List[Tuple[str, int]]:
    """Walk the sent messages in order over the transcript's customer lines.

    Each sent message must be the next line, repeated at most once per attempt; a message
    never acknowledged may be missing. Returns (problem, copies) pairs: copies 0 for a
    message lost, the surplus for one kept too often.
    """
    problems: List[Tuple[str, int]] = []
    position = 0
    for message in sent:
        copies = 0
        while position < len(said) and said[position] == message.text:
            copies, position = copies + 1, position + 1
        if copies == 0 and message.acked:
            problems.append((f"{message.text!r} is missing", 0))
        elif copies > max(message.attempts, 1):
            problems.append((f"{message.text!r} kept {copies} times", copies - message.attempts))
        elif copies > 1:
            figures.retry_copies += copies - 1
    if position < len(said):
        problems.append((f"lines nobody sent: {said[position:]}", len(said) - position))
    return problems


def _check_csr_messages(conv: Conversation, back: ReadBack, figures: Figures) -> None:
    texts = Counter(e.get("text") for e in back.outbox if e.get("sender") == "csr")
    for message in conv.csr_sent:
        copies = texts.get(message.text, 0)
        if copies == 0 and message.acked:
            figures.lost += 1
            figures.problems.append(f"{conv.label}: CSR message {message.text!r} not in outbox")
        elif copies > max(message.attempts, 1):
            figures.duplicated += copies - message.attempts
            figures.problems.append(f"{conv.label}: CSR message {message.text!r} x{copies}")
        elif copies > 1:
            figures.retry_copies += copies - 1


def _check_end(conv: Conversation, back: ReadBack, figures: Figures) -> None:
    expected = ("closed",) if conv.escalates else (None, "bot")
    if not conv.finished or back.state not in expected:
        figures.wrong_state += 1
        figures.problems.append(
            f"{conv.label}: ended {back.state!r} (expected {' or '.join(map(repr, expected))})"
            + (f": {conv.failure}" if conv.failure else "")
        )


def is_error(attempt: Attempt) -> bool:
    """No answer, a 5xx, a 429, or a 4xx the scripts do not meet on purpose.

    Not a kept-alive connection the balancer closed before answering: the client sends the
    request again at once (:class:`bot.devtools.load.Http`), as browsers do, and no customer
    sees it; those are counted apart (``Figures.resent``).
    """
    if attempt.resent:
        return False
    status = attempt.status
    if status is None or status >= 500 or status == 429:
        return True
    return status >= 400 and status not in EXPECTED_4XX.get(attempt.route, ())


def _check_errors(attempts: Sequence[Attempt], windows: Sequence[Window], figures: Figures):
    outside: Counter = Counter()
    for attempt in attempts:
        figures.resent += attempt.resent
        if not is_error(attempt):
            continue
        figures.errors_by_status[attempt.status] += 1
        inside = any(w.overlaps(attempt) for w in windows)
        if inside:
            figures.errors_inside += 1
        else:
            figures.errors_outside += 1
            outside[(attempt.route, attempt.status)] += 1
        if not inside or attempt.status not in ALLOWED_STATUSES:
            where = "inside" if inside else "outside"
            figures.problems.append(
                f"{attempt.who} {attempt.route}: {attempt.status or attempt.error} {where} "
                f"an outage at {attempt.started:.1f}"
            )


def errors_by_window(attempts: Sequence[Attempt], windows: Sequence[Window]) -> Dict[str, Counter]:
    """Per outage, the errors whose attempts overlapped it, by status (for the report)."""
    table: Dict[str, Counter] = {w.label: Counter() for w in windows}
    for attempt in attempts:
        if is_error(attempt):
            for window in windows:
                if window.overlaps(attempt):
                    table[window.label][attempt.status] += 1
    return table


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m bot.devtools.load_check``: drive a running product, check, print figures."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bot.devtools.load_check", description=__doc__)
    parser.add_argument("--widget", required=True, help="Rasa (or its load balancer) URL")
    parser.add_argument("--handoff", required=True, help="handoff service URL")
    parser.add_argument("--customers", type=int, default=8)
    parser.add_argument("--csr", action="append", default=[], help="user:password (repeat)")
    parser.add_argument("--escalate-every", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rasa-token", default=None)
    args = parser.parse_args(argv)
    settings = LoadSettings(
        widget_url=args.widget.rstrip("/"),
        handoff_url=args.handoff.rstrip("/"),
        csr_logins=[tuple(login.split(":", 1)) for login in args.csr],
        customers=args.customers,
        escalate_every=args.escalate_every if args.csr else 0,
        rasa_token=args.rasa_token,
    )
    rec, back = run_for(settings, args.seconds)
    figures = check(rec, back)
    print("\n".join(figures.lines() + throughput(rec)))
    for problem in figures.problems[:50]:
        print("  problem:", problem)
    return 0 if figures.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())


def throughput(rec: Recording) -> List[str]:
    """Customer messages per second and the answer times of the widget's message call."""
    seconds = max(rec.ended - rec.started, 1e-9)
    answered = sorted(
        a.ended - a.started
        for a in rec.attempts
        if a.route == "widget_message" and a.status in (200, 202)
    )
    if not answered:
        return ["no message answered"]

    def pick(share: float) -> float:
        return answered[min(len(answered) - 1, int(share * len(answered)))]

    return [
        f"{len(answered) / seconds:.2f} messages/s answered over {seconds:.0f}s; answer time "
        f"p50 {pick(0.5):.2f}s, p95 {pick(0.95):.2f}s, max {answered[-1]:.2f}s"
    ]
