"""The step model as a pure function (appconfig_emulator.progress)."""

from __future__ import annotations

import pytest

from appconfig_emulator.progress import growth_steps, progress, timeline


def _steps(duration: int, growth_type: str, factor: float, bake: int) -> list[tuple[float, str, float]]:
    return [
        (event.offset / 60, event.event_type, event.percentage)
        for event in timeline(duration, growth_type, factor, bake)
    ]


def test_it_reproduces_aws_example_of_fifteen_minutes_linear_25_percent_without_bake():
    assert _steps(15, "LINEAR", 25.0, 0) == [
        (3.0, "PERCENTAGE_UPDATED", 25.0),
        (6.0, "PERCENTAGE_UPDATED", 50.0),
        (9.0, "PERCENTAGE_UPDATED", 75.0),
        (12.0, "PERCENTAGE_UPDATED", 100.0),
        (15.0, "BAKE_TIME_STARTED", 100.0),
        (15.0, "DEPLOYMENT_COMPLETED", 100.0),
    ]


@pytest.mark.parametrize(
    ("growth_type", "factor", "expected"),
    [
        ("LINEAR", 25.0, (25.0, 50.0, 75.0, 100.0)),
        ("LINEAR", 20.0, (20.0, 40.0, 60.0, 80.0, 100.0)),
        ("LINEAR", 30.0, (30.0, 60.0, 90.0, 100.0)),
        ("LINEAR", 33.33, (33.33, 66.66, 99.99, 100.0)),
        ("LINEAR", 100.0, (100.0,)),
        ("EXPONENTIAL", 10.0, (10.0, 20.0, 40.0, 80.0, 100.0)),
        ("EXPONENTIAL", 2.0, (2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 100.0)),
        ("EXPONENTIAL", 50.0, (50.0, 100.0)),
    ],
)
def test_it_grows_linearly_or_exponentially_up_to_100(growth_type, factor, expected):
    assert growth_steps(growth_type, factor) == expected


def test_it_spaces_exponential_steps_by_duration_over_steps_plus_one():
    # Five steps in 30 minutes: one every 5 minutes, then 100 % holds until the duration is over.
    assert _steps(30, "EXPONENTIAL", 10.0, 10) == [
        (5.0, "PERCENTAGE_UPDATED", 10.0),
        (10.0, "PERCENTAGE_UPDATED", 20.0),
        (15.0, "PERCENTAGE_UPDATED", 40.0),
        (20.0, "PERCENTAGE_UPDATED", 80.0),
        (25.0, "PERCENTAGE_UPDATED", 100.0),
        (30.0, "BAKE_TIME_STARTED", 100.0),
        (40.0, "DEPLOYMENT_COMPLETED", 100.0),
    ]


def test_it_stays_deploying_until_the_whole_duration_has_passed():
    at_twelve = progress(15, "LINEAR", 25.0, 5, 12 * 60)
    assert (at_twelve.state, at_twelve.percentage) == ("DEPLOYING", 100.0)
    just_before = progress(15, "LINEAR", 25.0, 5, 15 * 60 - 0.001)
    assert just_before.state == "DEPLOYING"


def test_it_bakes_after_the_duration_then_completes():
    assert progress(15, "LINEAR", 25.0, 5, 15 * 60).state == "BAKING"
    assert progress(15, "LINEAR", 25.0, 5, 20 * 60 - 1).state == "BAKING"
    complete = progress(15, "LINEAR", 25.0, 5, 20 * 60)
    assert complete.state == "COMPLETE"
    assert [event.event_type for event in complete.events][-2:] == [
        "BAKE_TIME_STARTED",
        "DEPLOYMENT_COMPLETED",
    ]


def test_it_counts_an_event_as_happened_once_its_offset_is_reached():
    assert progress(15, "LINEAR", 25.0, 0, 179.9).events == ()
    reached = progress(15, "LINEAR", 25.0, 0, 180)
    assert [(e.event_type, e.percentage) for e in reached.events] == [("PERCENTAGE_UPDATED", 25.0)]
    assert reached.percentage == 25.0


def test_it_reaches_100_percent_at_once_with_a_zero_minute_duration():
    started = progress(0, "LINEAR", 100.0, 10, 0)
    assert (started.state, started.percentage) == ("BAKING", 100.0)
    assert [e.event_type for e in started.events] == ["PERCENTAGE_UPDATED", "BAKE_TIME_STARTED"]
    assert progress(0, "LINEAR", 100.0, 0, 0).state == "COMPLETE"
    # Even a small growth factor publishes a single 100 % step when there is no time to spread steps over.
    assert [e.percentage for e in progress(0, "LINEAR", 25.0, 0, 0).events] == [100.0, 100.0, 100.0]


def test_it_refuses_a_growth_factor_that_would_never_reach_100():
    with pytest.raises(ValueError):
        growth_steps("LINEAR", 0)
