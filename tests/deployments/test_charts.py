"""The progress chart: the step model of the plan, the actual points, the bake window, the marks, and an
accessible SVG. Pure functions: no database."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from deployments.charts import Point, actual_curve, growth_steps, markers, planned_curve, progress_chart

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"


def _event(sequence, event_type, minutes, by="APPCONFIG", text=""):
    return SimpleNamespace(sequence=sequence, event_type=event_type, triggered_by=by, description=text,
                           occurred_at=START + timedelta(minutes=minutes))  # fmt: skip


def _deployment(**fields):
    values = {
        "deployment_number": 4,
        "started_at": START,
        "completed_at": None,
        "deployment_duration_in_minutes": 15,
        "growth_type": "LINEAR",
        "growth_factor": 25.0,
        "final_bake_time_in_minutes": 5,
        "state": "DEPLOYING",
        "percentage_complete": 50.0,
    }
    values.update(fields)
    values["is_terminal"] = values["state"] not in ("DEPLOYING", "BAKING", "VALIDATING", "ROLLING_BACK")
    return SimpleNamespace(**values)


def test_it_plans_linear_steps_like_aws_own_example():
    # 15 minutes, LINEAR 25 %: steps at +3, +6, +9 and +12 minutes.
    assert planned_curve("LINEAR", 25.0, 15) == [
        Point(0, 0), Point(180, 25), Point(360, 50), Point(540, 75), Point(720, 100)
    ]  # fmt: skip


def test_it_plans_exponential_steps_capped_at_100():
    assert growth_steps("EXPONENTIAL", 10.0) == [10, 20, 40, 80, 100]
    assert growth_steps("LINEAR", 33.33) == [33.33, 66.66, 99.99, 100]
    assert growth_steps("LINEAR", 0) == [100.0]


def test_it_plans_an_all_at_once_deployment_as_one_jump():
    assert planned_curve("LINEAR", 100.0, 0) == [Point(0, 0), Point(0, 100)]


def test_it_reads_the_actual_percentages_oldest_first():
    events = [
        _event(2, "PERCENTAGE_UPDATED", 6, text="Configuration available to 50.00% of clients"),
        _event(0, "DEPLOYMENT_STARTED", 0, by="USER"),
        _event(1, "PERCENTAGE_UPDATED", 3, text="Configuration available to 25.00% of clients"),
    ]
    assert actual_curve(events, START) == [Point(0, 0), Point(180, 25), Point(360, 50)]


def test_it_marks_rollbacks_alarms_and_reverts():
    events = [
        _event(3, "ROLLBACK_STARTED", 7, by="CLOUDWATCH_ALARM", text="arn:aws:cloudwatch:...:alarm:x"),
        _event(4, "ROLLBACK_COMPLETED", 7.1),
        _event(5, "ROLLBACK_STARTED", 8, by="USER", text="stopped by alice"),
        _event(6, "REVERT_COMPLETED", 9, by="USER"),
    ]
    assert [(m.label, m.kind, m.seconds) for m in markers(events, START)] == [
        ("Alarm: rollback", "alarm", 420), ("Rollback", "rollback", 480), ("Reverted", "revert", 540)
    ]  # fmt: skip


def test_it_draws_an_accessible_svg_with_the_bake_window_and_marks():
    events = [
        _event(0, "DEPLOYMENT_STARTED", 0, by="USER"),
        _event(1, "PERCENTAGE_UPDATED", 3, text="Configuration available to 25.00% of clients"),
        _event(2, "BAKE_TIME_STARTED", 15),
        _event(3, "ROLLBACK_STARTED", 16, by="CLOUDWATCH_ALARM"),
    ]
    deployment = _deployment(state="ROLLED_BACK", completed_at=START + timedelta(minutes=16.5))
    chart = progress_chart(deployment, events, now=START + timedelta(hours=1))

    root = ET.fromstring(str(chart.svg()))
    assert root.get("role") == "img" and root.get("aria-labelledby") == "chart-title chart-desc"
    assert root.find(f"{SVG}title").text.startswith("Progress of deployment 4")
    desc = root.find(f"{SVG}desc").text
    assert "LINEAR 25% steps, 4 step(s) over 15 min" in desc and "Alarm: rollback at 16 min" in desc
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "Bake" in texts and "Alarm: rollback" in texts and "100%" in texts
    bake = root.find(f"{SVG}rect[@class='chart-bake']")
    assert bake is not None
    assert chart.bake == (900.0, 900.0 + 300.0)  # no DEPLOYMENT_COMPLETED: the planned bake length
    assert root.find(f"{SVG}path[@class='chart-planned']") is not None
    assert root.find(f"{SVG}path[@class='chart-actual']") is not None


def test_it_extends_the_actual_line_to_now_while_in_progress():
    events = [_event(1, "PERCENTAGE_UPDATED", 3, text="Configuration available to 25.00% of clients")]
    chart = progress_chart(_deployment(percentage_complete=50.0), events, now=START + timedelta(minutes=7))
    assert chart.now_point == Point(420, 50.0)
    assert chart.span == 20 * 60  # duration + bake


def test_it_escapes_text_and_needs_a_start_time():
    assert progress_chart(_deployment(started_at=None), [], now=START) is None
    chart = progress_chart(_deployment(deployment_number="<b>"), [], now=START)
    assert "<b>" not in str(chart.svg()) and "&lt;b&gt;" in str(chart.svg())
