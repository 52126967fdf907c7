"""The SLA clock without a database: which policy a conversation gets (every combination of
channel and division, the tie rule, a deleted policy), and a cycle's targets, warnings and
breaches in business time."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from omnistream.sla.business_time import BusinessHours, add_business_time
from omnistream.sla.clock import Clock, Policy, choose
from omnistream.sla.hours import BusinessHoursSpec

SALES, SUPPORT = uuid4(), uuid4()
ALWAYS = BusinessHours.always_open("Asia/Jakarta")


def policy(
    channel: str | None,
    division: UUID | None,
    *,
    first: int = 60,
    nxt: int | None = 30,
    resolution: int = 480,
    hours: BusinessHours = ALWAYS,
    warning: int = 80,
) -> Policy:
    priority = 4 if channel and division else 2 if channel or division else 1
    return Policy(
        uuid4(), f"{channel}/{division}", channel, division, priority, first, nxt, resolution,
        warning, hours,
    )  # fmt: skip


def test_the_most_specific_policy_applies_for_every_combination() -> None:
    """Policies present in every subset of the four kinds; for each conversation (channel,
    division or none) the expected one is the most specific that matches, a division's
    beating a channel's."""
    kinds = {
        "both": policy("whatsapp", SALES),
        "division": policy(None, SALES),
        "channel": policy("whatsapp", None),
        "default": policy(None, None),
    }
    others = [policy("instagram", SALES), policy(None, SUPPORT), policy("email", None)]
    order = ["both", "division", "channel", "default"]
    for size in range(len(kinds) + 1):
        for present in itertools.combinations(order, size):
            policies = [kinds[k] for k in present] + others
            for channel, division in itertools.product(("whatsapp", "messenger"), (SALES, None)):
                matching = [
                    k
                    for k in order
                    if k in present
                    and (k in ("division", "default") or channel == "whatsapp")
                    and (k in ("channel", "default") or division == SALES)
                ]
                expected = kinds[matching[0]] if matching else None
                got = choose(policies, channel, division)
                assert got == expected, (present, channel, division, got and got.name)


def test_a_tie_goes_to_the_division_policy_whatever_the_order() -> None:
    by_division, by_channel = policy(None, SALES), policy("whatsapp", None)
    for policies in ([by_division, by_channel], [by_channel, by_division]):
        assert choose(policies, "whatsapp", SALES) is by_division


def clock(**kw: object) -> Clock:
    values: dict[str, object] = {
        "id": uuid4(),
        "status": "open",
        "channel": "whatsapp",
        "division_id": SALES,
        "assigned_agent_id": None,
    }
    values.update(kw)
    return Clock(**values)  # type: ignore[arg-type]


T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # Monday 09:00 in Jakarta


def test_a_cycle_first_response_then_next_responses_then_resolve() -> None:
    p = policy(None, None, first=60, nxt=30, resolution=480)
    policies = {p.id: p}
    c = clock()

    def at(minutes: float) -> datetime:
        return T0 + timedelta(minutes=minutes)

    c.start_cycle(T0)
    assert c.evaluate(policies, T0) == []
    assert c.policy_id == p.id and c.cycle == 1
    assert c.dues == {"first_response": at(60), "resolution": at(480)}
    assert c.due_at == at(60)
    assert c.check_at == at(48)  # the 80 % warning comes first
    c.customer_wrote(at(5))  # before any answer: no next-response wait
    c.agent_answered(at(20))
    c.evaluate(policies, at(20))
    assert set(c.dues) == {"resolution"} and c.waiting_since is None
    # A wait answered in time: warned at 80 % (30 + 24), then met.
    c.customer_wrote(at(30))
    c.customer_wrote(at(35))  # the wait started at 30 and stays there
    c.evaluate(policies, at(35))
    assert c.dues["next_response"] == at(60) and c.due_at == at(60)
    [warning] = c.evaluate(policies, at(55))
    assert (warning.kind, warning.target) == ("warning", "next_response")
    assert c.evaluate(policies, at(56)) == []
    c.agent_answered(at(58))
    c.evaluate(policies, at(58))
    assert "next_response" not in c.dues
    # The next wait may warn again, and breaches once.
    c.customer_wrote(at(70))
    c.evaluate(policies, at(70))
    [warning] = c.evaluate(policies, at(95))
    assert (warning.kind, warning.target) == ("warning", "next_response")
    [breach] = c.evaluate(policies, at(101))
    assert (breach.kind, breach.target, breach.due_at) == ("breached", "next_response", at(100))
    assert c.evaluate(policies, at(102)) == []
    assert c.check_at == at(480 * 0.8)  # the resolution's warning
    # Answered, then a new wait in the same cycle: its due time shows, but the target was
    # breached this cycle: no second warning or breach (one log per cycle and type).
    c.agent_answered(at(110))
    c.customer_wrote(at(120))
    assert c.evaluate(policies, at(145)) == []
    assert c.dues["next_response"] == at(150)
    assert c.evaluate(policies, at(155)) == []
    # Resolved: no clock; reopened: a new cycle with its own targets.
    c.moved("resolved", SALES, None)
    c.evaluate(policies, at(160))
    assert (c.dues, c.due_at, c.check_at) == ({}, None, None)
    c.moved("open", SALES, None)
    c.start_cycle(at(180))
    c.evaluate(policies, at(180))
    assert c.cycle == 2 and c.breached == set() and c.warned == set()
    assert c.due_at == at(240)


def test_late_evaluation_breaches_without_warning_first() -> None:
    p = policy(None, None, first=10)
    c = clock()
    c.start_cycle(T0)
    alerts = c.evaluate({p.id: p}, T0 + timedelta(hours=1))
    assert [(a.kind, a.target) for a in alerts] == [("breached", "first_response")]


def test_due_times_are_in_business_time() -> None:
    spec = BusinessHoursSpec.model_validate(
        {
            "timezone": "Asia/Jakarta",
            "weekly": {d: [{"start": "08:00", "end": "17:00"}] for d in
                       ("mon", "tue", "wed", "thu", "fri", "sat")},
            "holidays": [date(2026, 12, 25)],
        }
    )  # fmt: skip
    p = policy(None, None, first=60, resolution=9 * 60 * 2, hours=spec.to_hours())
    c = clock()
    friday_late = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)  # Friday 16:30 in Jakarta
    c.start_cycle(friday_late)
    c.evaluate({p.id: p}, friday_late)
    assert c.dues["first_response"] == datetime(2026, 12, 5, 1, 30, tzinfo=UTC)  # Sat 08:30
    assert c.dues["resolution"] == add_business_time(p.hours, friday_late, 9 * 60 * 2)
    assert c.dues["resolution"] == datetime(2026, 12, 7, 9, 30, tzinfo=UTC)  # Mon 16:30


@pytest.mark.parametrize("event", ["deleted", "division"])
def test_the_policy_is_chosen_again_when_it_must_be(event: str) -> None:
    specific, fallback = policy("whatsapp", SALES, first=15), policy(None, None, first=90)
    support = policy(None, SUPPORT, first=45)
    policies = {p.id: p for p in (specific, fallback, support)}
    c = clock()
    c.start_cycle(T0)
    c.evaluate(policies, T0)
    assert c.policy_id == specific.id
    if event == "deleted":
        del policies[specific.id]
        c.policy_id = None  # what ON DELETE SET NULL leaves
        expected, minutes = fallback, 90
    else:
        c.moved("open", SUPPORT, None)
        expected, minutes = support, 45
    c.evaluate(policies, T0)
    assert c.policy_id == expected.id
    assert c.dues["first_response"] == T0 + timedelta(minutes=minutes)


def test_a_policy_created_mid_cycle_applies_from_the_next_cycle() -> None:
    fallback = policy(None, None, first=90)
    policies = {fallback.id: fallback}
    c = clock()
    c.start_cycle(T0)
    c.evaluate(policies, T0)
    specific = policy("whatsapp", SALES, first=15)
    policies[specific.id] = specific
    c.evaluate(policies, T0 + timedelta(minutes=1))
    assert c.policy_id == fallback.id
    c.start_cycle(T0 + timedelta(minutes=2))
    c.evaluate(policies, T0 + timedelta(minutes=2))
    assert c.policy_id == specific.id
    assert c.dues["first_response"] == T0 + timedelta(minutes=17)


def test_no_policy_no_clock() -> None:
    c = clock(channel="instagram")
    c.start_cycle(T0)
    assert c.evaluate({}, T0) == []
    assert (c.policy_id, c.dues, c.check_at) == (None, {}, None)
