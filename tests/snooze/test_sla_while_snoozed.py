"""A snoozed conversation's SLA clock keeps running (docs/sla.md): its targets fall due and
breach as an open one's; a resolved one's stop."""

from __future__ import annotations

from datetime import timedelta

from tests.sla.test_clock import T0, clock, policy


def test_a_snoozed_clock_runs_and_breaches_a_resolved_one_stops() -> None:
    p = policy(None, None, first=60, nxt=None, resolution=480)
    policies = {p.id: p}
    running, stopped = clock(), clock()
    for c in (running, stopped):
        c.start_cycle(T0)
        c.evaluate(policies, T0)
    running.moved("snoozed", running.division_id, None)
    stopped.moved("resolved", stopped.division_id, None)
    late = T0 + timedelta(minutes=61)
    [breach] = running.evaluate(policies, late)
    assert (breach.kind, breach.target) == ("breached", "first_response")
    assert running.due_at == T0 + timedelta(minutes=60)
    assert stopped.evaluate(policies, late) == [] and stopped.due_at is None
