"""Server-rendered SVG of a deployment's progress: the strategy's planned curve against the percentages
AppConfig reported (PERCENTAGE_UPDATED events), the bake window shaded, rollback / alarm moments marked.

Pure functions of a deployment's fields and its events: no queries, no I/O. The SVG carries a `<title>` and
a `<desc>` that say in words what the picture shows, and every mark has a text label, so nothing depends on
seeing the colours.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from deployments.clock import duration_text

# "Configuration available to 25.00% of clients"
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")

# Drawing area (viewBox units); the SVG scales to its container's width.
WIDTH, HEIGHT = 640, 210
LEFT, RIGHT, TOP, BOTTOM = 44, 16, 22, 30
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM


@dataclass(frozen=True)
class Point:
    seconds: float  # after the deployment started
    percentage: float


@dataclass(frozen=True)
class Marker:
    seconds: float
    label: str
    kind: str  # rollback | alarm | revert | error


def growth_steps(growth_type: str, growth_factor: float) -> list[float]:
    """The percentages AppConfig publishes one after the other, ending with 100.
    LINEAR: +GrowthFactor per step. EXPONENTIAL: GrowthFactor * 2^N (N = 0, 1, ...), capped at 100."""
    if growth_factor <= 0:
        return [100.0]
    steps: list[float] = []
    n = 1
    while True:
        factor = 2 ** (n - 1) if growth_type == "EXPONENTIAL" else n
        # Rounded so that float noise (3 * 33.33 = 99.99000000000001) cannot add or drop a step.
        share = round(growth_factor * factor, 6)
        if share >= 100 or n > 1000:
            break
        steps.append(share)
        n += 1
    steps.append(100.0)
    return steps


def planned_curve(growth_type: str, growth_factor: float, duration_minutes: int) -> list[Point]:
    """The strategy's plan as (time, percentage) steps, starting at (0, 0). With n steps over D minutes,
    step k (1..n) happens at k * D / (n + 1) (AWS's own 15-minute, 25 % example: +3, +6, +9, +12 min).
    A 0-minute deployment reaches 100 % at once."""
    duration = duration_minutes * 60.0
    if duration <= 0:
        return [Point(0.0, 0.0), Point(0.0, 100.0)]
    steps = growth_steps(growth_type, growth_factor)
    interval = duration / (len(steps) + 1)
    return [Point(0.0, 0.0)] + [Point(interval * k, share) for k, share in enumerate(steps, start=1)]


def _seconds(moment: datetime | None, start: datetime) -> float | None:
    return None if moment is None else max(0.0, (moment - start).total_seconds())


def actual_curve(events: Iterable, start: datetime) -> list[Point]:
    """(time, percentage) of every PERCENTAGE_UPDATED event, oldest first, starting at (0, 0)."""
    points = [Point(0.0, 0.0)]
    for event in sorted(events, key=lambda e: e.sequence):
        if event.event_type != "PERCENTAGE_UPDATED":
            continue
        seconds = _seconds(event.occurred_at, start)
        match = _PERCENT.search(event.description or "")
        if seconds is not None and match:
            points.append(Point(seconds, min(100.0, float(match.group(1)))))
    return points


def markers(events: Iterable, start: datetime) -> list[Marker]:
    found = []
    for event in sorted(events, key=lambda e: e.sequence):
        seconds = _seconds(event.occurred_at, start)
        if seconds is None:
            continue
        alarm = event.triggered_by == "CLOUDWATCH_ALARM"
        if event.event_type == "ROLLBACK_STARTED":
            found.append(
                Marker(seconds, "Alarm: rollback" if alarm else "Rollback", "alarm" if alarm else "rollback")
            )
        elif event.event_type == "REVERT_COMPLETED":
            found.append(Marker(seconds, "Reverted", "revert"))
        elif alarm:
            found.append(Marker(seconds, "Alarm", "alarm"))
        elif event.triggered_by == "INTERNAL_ERROR":
            found.append(Marker(seconds, "Internal error", "error"))
    return found


def _event_seconds(events: Sequence, event_type: str, start: datetime) -> float | None:
    for event in events:
        if event.event_type == event_type and event.occurred_at is not None:
            return _seconds(event.occurred_at, start)
    return None


@dataclass(frozen=True)
class ProgressChart:
    planned: list[Point]
    actual: list[Point]
    now_point: Point | None  # where the deployment stands (its current percentage), when known
    bake: tuple[float, float] | None
    markers: list[Marker]
    span: float  # seconds shown on the x axis
    title: str
    description: str

    def x(self, seconds: float) -> float:
        return round(LEFT + min(seconds, self.span) / self.span * PLOT_W, 1)

    @staticmethod
    def y(percentage: float) -> float:
        return round(TOP + (1 - percentage / 100.0) * PLOT_H, 1)

    def _step_path(self, points: Sequence[Point], until: float) -> str:
        parts = [f"M{self.x(points[0].seconds)},{self.y(points[0].percentage)}"]
        for point in points[1:]:
            parts.append(f"H{self.x(point.seconds)}V{self.y(point.percentage)}")
        parts.append(f"H{self.x(until)}")
        return "".join(parts)

    def svg(self) -> SafeString:
        out = [
            f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-title '
            f'chart-desc" xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">',
            f'<title id="chart-title">{escape(self.title)}</title>',
            f'<desc id="chart-desc">{escape(self.description)}</desc>',
        ]
        if self.bake:
            x0, x1 = self.x(self.bake[0]), self.x(self.bake[1])
            out.append(
                f'<rect class="chart-bake" x="{x0}" y="{TOP}" width="{max(1.0, round(x1 - x0, 1))}" '
                f'height="{PLOT_H}"/>'
                f'<text class="chart-label" x="{x0 + 4}" y="{TOP + PLOT_H - 6}">Bake</text>'
            )
        for pct in (0, 50, 100):
            y = self.y(pct)
            out.append(
                f'<line class="chart-grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}"/>'
                f'<text class="chart-axis" x="{LEFT - 6}" y="{y + 4}" text-anchor="end">{pct}%</text>'
            )
        for fraction in (0, 0.25, 0.5, 0.75, 1):
            seconds = self.span * fraction
            anchor = "start" if fraction == 0 else "end" if fraction == 1 else "middle"
            out.append(
                f'<text class="chart-axis" x="{self.x(seconds)}" y="{HEIGHT - 10}" '
                f'text-anchor="{anchor}">{escape(_duration(seconds))}</text>'
            )
        planned_end = max(self.span, self.planned[-1].seconds)
        out.append(f'<path class="chart-planned" d="{self._step_path(self.planned, planned_end)}"/>')
        if len(self.actual) > 1 or self.now_point:
            until = self.now_point.seconds if self.now_point else self.actual[-1].seconds
            points = list(self.actual)
            if self.now_point and self.now_point.percentage > points[-1].percentage:
                points.append(self.now_point)
            out.append(f'<path class="chart-actual" d="{self._step_path(points, until)}"/>')
            last = points[-1]
            out.append(
                f'<circle class="chart-now" cx="{self.x(until)}" cy="{self.y(last.percentage)}" r="4"/>'
            )
        for marker in self.markers:
            x = self.x(marker.seconds)
            out.append(
                f'<line class="chart-marker chart-marker-{marker.kind}" x1="{x}" x2="{x}" y1="{TOP}" '
                f'y2="{TOP + PLOT_H}"/>'
                f'<text class="chart-label chart-label-{marker.kind}" x="{x - 4}" y="{TOP - 6}" '
                f'text-anchor="end">{escape(marker.label)}</text>'
            )
        out.append("</svg>")
        return mark_safe("".join(out))  # noqa: S308 - every interpolated text is escaped above


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes >= 10 or minutes == int(minutes) else f"{minutes:.1f} min"


def progress_chart(deployment, events: Sequence, now: datetime) -> ProgressChart | None:
    """The chart of one deployment, or None before AppConfig has told us when it started. `events` in any
    order; `now` bounds the actual line of a deployment still in progress."""
    start = deployment.started_at
    if start is None:
        return None
    duration = deployment.deployment_duration_in_minutes * 60.0
    bake_length = deployment.final_bake_time_in_minutes * 60.0
    planned = planned_curve(
        deployment.growth_type, deployment.growth_factor, deployment.deployment_duration_in_minutes
    )
    actual = actual_curve(events, start)
    found = markers(events, start)

    last_known = max([p.seconds for p in actual] + [m.seconds for m in found] + [0.0])
    if deployment.is_terminal:
        end = _seconds(deployment.completed_at, start)
        if end is None:
            end = last_known
    else:
        # `now` is the console's one clock (deployments.clock). Never before the last event: AppConfig's
        # clock and ours may disagree by a little (or, against an emulator run faster than real time, by a
        # lot).
        end = max(_seconds(now, start) or 0.0, last_known)
    now_point = Point(end, deployment.percentage_complete) if not deployment.is_terminal else None

    bake_started = _event_seconds(events, "BAKE_TIME_STARTED", start)
    completed = _event_seconds(events, "DEPLOYMENT_COMPLETED", start)
    if bake_started is not None:
        bake = (bake_started, completed if completed is not None else bake_started + bake_length)
    else:
        bake = (duration, duration + bake_length) if bake_length else None

    span = max(60.0, duration + bake_length, end, *(m.seconds for m in found))
    title = f"Progress of deployment {deployment.deployment_number}: planned against actual"
    return ProgressChart(
        planned=planned,
        actual=actual,
        now_point=now_point,
        bake=bake,
        markers=found,
        span=span,
        title=title,
        description=_describe(deployment, planned, actual, found, end),
    )


def _describe(deployment, planned: list[Point], actual: list[Point], found: list[Marker], end: float) -> str:
    growth = deployment.growth_type or "unknown growth"
    plan = (
        f"Planned: {growth} {deployment.growth_factor:g}% steps, {len(planned) - 1} step(s) over "
        f"{deployment.deployment_duration_in_minutes} min, "
        f"then a {deployment.final_bake_time_in_minutes} min bake (shaded)."
    )
    reached = max(deployment.percentage_complete, actual[-1].percentage)
    status = "so far" if not deployment.is_terminal else "in the end"
    facts = [
        plan,
        f"Actual: {reached:.2f}% of clients after {duration_text(end)} {status}, state {deployment.state}.",
    ]
    facts += [f"{m.label} at {duration_text(m.seconds)}." for m in found]
    return " ".join(facts)
