"""Crash one process of each kind under steady load; nothing is lost, repeated or left half-way.

Against the cluster (two of each process behind HAProxy, Redis with Sentinel), customers on
the widget and CSRs on the handoff API keep working (bot.devtools.load) while one Rasa
server, one action server, one handoff service and then the Redis primary are SIGKILLed in
turn; supervisord restarts each, Sentinel promotes the replica. Afterwards every
conversation is read back and checked (bot.devtools.load_check): each outbox entry reached
the widget once and in order, each message is in the transcript once, each conversation
ended where its script leads, and every error fell inside an outage and was a 502 or 503.

The figures are printed at the end of the run. ``FAULT_SOAK_SECONDS=1800`` (``make soak``)
adds a long soak that crashes them over and over with more customers.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import List, Sequence, Tuple

import pytest
import redis

from bot.devtools.load import LoadRun, LoadSettings, load_in_background, read_back
from bot.devtools.load_check import Figures, Window, check, errors_by_window, throughput
from bot.devtools.stack import DEMO_PASSWORD
from bot.devtools.supervision import SupervisionError
from tests.support.report import FAULT_RESULTS
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

REDIS_PRIMARY = "redis primary"
FAULTS = ("rasa-1", "actions-1", "handoff-1", REDIS_PRIMARY)
# Once the program is back and HAProxy sees every server up, clients still in a backoff
# retry what failed during the outage: attempts up to this much later count inside it.
SETTLE_SECONDS = 5.0
SOAK_SECONDS = float(os.environ.get("FAULT_SOAK_SECONDS") or 0)


def load_settings(cluster, customers: int) -> LoadSettings:
    return LoadSettings(
        widget_url=cluster.rasa_url,
        handoff_url=cluster.handoff_url,
        csr_logins=[("alice", DEMO_PASSWORD), ("admin", DEMO_PASSWORD)],
        customers=customers,
        escalate_every=3,
        rasa_token=cluster.rasa_token,
        real_ip_header="X-Real-IP",
    )


def crash(cluster, fault: str) -> Tuple[Window, float]:
    """SIGKILL the program; wait until it is back and HAProxy sees every server up.

    Returns the outage window and the seconds until the cluster was whole again.
    """
    started = time.time()
    name = fault
    if fault == REDIS_PRIMARY:
        name = cluster.redis_primary()
        # supervisord restarts a killed Redis within a second, before the Sentinels would
        # notice (down-after: 2 s), so a bare kill never fails over. Freeze the primary first,
        # as a hung or cut-off one, until the Sentinels promoted the replica; then crash it:
        # it comes back and rejoins as a replica.
        cluster.kill(name, signal.SIGSTOP)
        wait_until(lambda: primary_or_none(cluster) not in (None, name), 60, what="a new primary")
    old_pid = cluster.kill(name)
    cluster.wait_restarted(name, old_pid)
    cluster.wait_backends_up()
    whole = time.time()
    return Window(f"{fault} ({name})", started, whole + SETTLE_SECONDS), whole - started


def primary_or_none(cluster):
    """The primary's program name; None while the Sentinels know of none (mid-failover)."""
    try:
        return cluster.redis_primary()
    except redis.RedisError:
        return None


def ended(run: LoadRun) -> int:
    return sum(1 for c in list(run.rec.conversations) if c.finished or c.failure)


def keep_going(run: LoadRun, conversations: int, notes: List[str]) -> bool:
    """Wait until ``conversations`` more conversations ended (load goes on between faults).

    False (and a note) when they did not: the load is stuck, crashing more would tell nothing.
    """
    target = ended(run) + conversations
    try:
        wait_until(lambda: ended(run) >= target, timeout=300, what="conversations ending")
    except AssertionError as stuck:
        notes.append(f"failed: the load stalled: {stuck}")
        return False
    return True


def crash_and_note(cluster, fault: str, windows: List[Window], notes: List[str]) -> bool:
    """Crash ``fault``, noting how long the cluster took to be whole (False: it never was)."""
    try:
        window, took = crash(cluster, fault)
    except (AssertionError, SupervisionError) as exc:
        windows.append(Window(fault, time.time() - 1, time.time()))
        notes.append(f"failed: {fault}: {exc}")
        return False
    windows.append(window)
    notes.append(f"{window.label}: whole again after {took:.1f}s")
    return True


def crash_under_load(
    cluster, customers: int, faults: Sequence[str], until: float = 0.0
) -> Tuple[Figures, List[str]]:
    """Crash ``faults`` in turn (again and again until ``until``, epoch) under the load."""
    settings = load_settings(cluster, customers)
    windows: List[Window] = []
    notes: List[str] = []
    with load_in_background(settings) as run:
        going = keep_going(run, customers, notes)
        while going:
            for fault in faults:
                if not (
                    crash_and_note(cluster, fault, windows, notes)
                    and keep_going(run, customers, notes)
                ):
                    going = False
                    break
            going = going and time.time() < until
    figures = check(run.rec, asyncio.run(read_back(settings, run.rec)), windows)
    lines = report(run, figures, windows, notes)
    FAULT_RESULTS.extend(lines)
    print("\n".join(lines))
    return figures, notes


def report(run: LoadRun, figures: Figures, windows: Sequence[Window], notes) -> List[str]:
    seconds = run.rec.ended - run.rec.started
    lines = [f"fault test: {len(windows)} crashes in {seconds:.0f}s of load"]
    lines += [f"  {line}" for line in figures.lines() + throughput(run.rec) + list(notes)]
    for label, statuses in errors_by_window(run.rec.attempts, windows).items():
        shown = ", ".join(f"{s or 'no answer'} x{n}" for s, n in sorted(statuses.items(), key=str))
        lines.append(f"  errors during {label}: {shown or 'none'}")
    lines += [f"  problem: {p}" for p in figures.problems[:30]]
    return lines


def test_crashing_each_kind_of_process_under_load_loses_and_repeats_nothing(running_cluster):
    figures, notes = crash_under_load(running_cluster, customers=6, faults=FAULTS)
    assert not [n for n in notes if n.startswith("failed")], notes
    assert figures.ok, figures.problems
    assert figures.escalated and figures.finished == figures.conversations


@pytest.mark.skipif(not SOAK_SECONDS, reason="the soak runs with FAULT_SOAK_SECONDS (make soak)")
def test_soak_crashing_processes_again_and_again(running_cluster):
    figures, notes = crash_under_load(
        running_cluster, customers=16, faults=FAULTS, until=time.time() + SOAK_SECONDS
    )
    assert not [n for n in notes if n.startswith("failed")], notes
    assert figures.ok, figures.problems
