"""scheduling: IANA time zones, half-open hours, allowed days (0 = Monday), blackout dates."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from waxell_observe.governance import PolicyEngine, PolicyRequest, load_policies


def at(*args: int) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


def check(rules: str, when: float):
    e = PolicyEngine(
        load_policies(f"policies: [{{name: hours, category: scheduling, rules: {rules}}}]"),
        clock=lambda: when,
    )
    r = e.evaluate(PolicyRequest("a"), "pre_execution")
    return r.action, r.reason


PARIS_OFFICE = "{allowed_hours: {start: 9, end: 17}, timezone: Europe/Paris}"


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        # June: Paris is UTC+2
        (
            at(2025, 6, 4, 6, 59),
            ("block", "Outside allowed hours 09:00-17:00 Europe/Paris (local time 08:59)"),
        ),
        (at(2025, 6, 4, 7, 0), ("allow", "")),
        (at(2025, 6, 4, 14, 59), ("allow", "")),
        (
            at(2025, 6, 4, 15, 0),
            ("block", "Outside allowed hours 09:00-17:00 Europe/Paris (local time 17:00)"),
        ),
        # January: UTC+1
        (
            at(2025, 1, 15, 7, 30),
            ("block", "Outside allowed hours 09:00-17:00 Europe/Paris (local time 08:30)"),
        ),
        (at(2025, 1, 15, 8, 0), ("allow", "")),
    ],
)
def test_hours_half_open_in_timezone(when, expected):
    assert check(PARIS_OFFICE, when) == expected


def test_end_24_and_wraparound():
    assert check("{allowed_hours: {start: 20, end: 24}}", at(2025, 6, 4, 23, 59)) == ("allow", "")
    night = "{allowed_hours: {start: 22, end: 6}}"
    assert check(night, at(2025, 6, 4, 23, 0)) == ("allow", "")
    assert check(night, at(2025, 6, 4, 5, 59)) == ("allow", "")
    assert check(night, at(2025, 6, 4, 6, 0)) == (
        "block",
        "Outside allowed hours 22:00-06:00 UTC (local time 06:00)",
    )


def test_allowed_days_monday_is_zero():
    weekdays = "{allowed_days: [0, 1, 2, 3, 4]}"
    assert check(weekdays, at(2025, 6, 2, 12)) == ("allow", "")  # Monday
    assert check(weekdays, at(2025, 6, 7, 12)) == (
        "block",
        "Saturday is not an allowed day (allowed: Monday, Tuesday, Wednesday, Thursday, Friday; UTC)",
    )
    assert check("{allowed_days: [6]}", at(2025, 6, 8, 12)) == ("allow", "")  # Sunday


def test_day_is_local_to_the_timezone():
    # Friday 23:30 UTC is Saturday 01:30 in Paris
    friday_night = at(2025, 6, 6, 23, 30)
    assert check("{allowed_days: [0, 1, 2, 3, 4]}", friday_night) == ("allow", "")
    assert check("{allowed_days: [0, 1, 2, 3, 4], timezone: Europe/Paris}", friday_night)[0] == "block"
    # and in New York it is still Friday evening
    assert check("{allowed_days: [4], timezone: America/New_York}", friday_night) == ("allow", "")


def test_blackout_dates():
    rules = "{blackout_dates: [2025-12-25], timezone: Asia/Tokyo}"
    assert check(rules, at(2025, 12, 24, 14, 59)) == ("allow", "")  # 23:59 on the 24th in Tokyo
    assert check(rules, at(2025, 12, 24, 15, 0)) == ("block", "Blackout date 2025-12-25 (Asia/Tokyo)")


def test_metadata_names_the_rule():
    e = PolicyEngine(
        load_policies(f"policies: [{{name: hours, category: scheduling, rules: {PARIS_OFFICE}}}]"),
        clock=lambda: at(2025, 6, 4, 20, 0),
    )
    ev = e.evaluate(PolicyRequest("a"), "pre").evaluations[0]
    assert ev.metadata == {
        "rule": "allowed_hours",
        "local_time": "2025-06-04 22:00",
        "timezone": "Europe/Paris",
    }
