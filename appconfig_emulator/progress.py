"""The step model: where a deployment stands, as a pure function of its strategy and the time elapsed.

AppConfig makes a configuration available to a growing share of clients in evenly spaced steps:

* LINEAR: the percentage rises by GrowthFactor per step (25, 50, 75, 100 for a factor of 25).
* EXPONENTIAL: GrowthFactor * 2^N for N = 0, 1, 2, ... capped at 100 (10, 20, 40, 80, 100 for 10).

With n steps and a duration of D minutes, step k (1..n) happens at k * D / (n + 1). The deployment stays
DEPLOYING for the whole duration, even though 100 % was reached one interval earlier, then BAKING for
FinalBakeTimeInMinutes, then it is COMPLETE. This reproduces AWS's own GetDeployment example (15 minutes,
LINEAR 25 %, no bake time: steps at +3, +6, +9 and +12 minutes, BAKE_TIME_STARTED at +15). Note that it makes
the predefined strategies' names approximate: AppConfig.Linear20PercentEvery6Minutes (30 minutes, 5 steps)
steps every 5 minutes under this model. A 0-minute deployment reaches 100 % at once in a single step.

Nothing here is stored: the emulator re-derives progress from the clock on every read, so no thread has to
advance deployments in the background.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

DEPLOYING = "DEPLOYING"
BAKING = "BAKING"
COMPLETE = "COMPLETE"

PERCENTAGE_UPDATED = "PERCENTAGE_UPDATED"
BAKE_TIME_STARTED = "BAKE_TIME_STARTED"
DEPLOYMENT_COMPLETED = "DEPLOYMENT_COMPLETED"


class StepEvent(NamedTuple):
    offset: float  # seconds after the deployment started
    event_type: str
    percentage: float  # the share of clients that have the configuration once this event has happened


@dataclass(frozen=True, slots=True)
class Progress:
    state: str
    percentage: float
    events: tuple[StepEvent, ...]  # the events that have happened, oldest first


def growth_steps(growth_type: str, growth_factor: float) -> tuple[float, ...]:
    """The percentages published one after the other, ending with 100."""
    if growth_factor <= 0:
        raise ValueError("a growth factor must be positive")
    steps: list[float] = []
    step = 1
    while True:
        # Rounded so that float noise (3 * 33.33 = 99.99000000000001) cannot add or drop a step.
        share = float(round(growth_factor * (2 ** (step - 1) if growth_type == "EXPONENTIAL" else step), 6))
        if share >= 100:
            break
        steps.append(share)
        step += 1
    steps.append(100.0)
    return tuple(steps)


@lru_cache(maxsize=4096)
def timeline(
    duration_minutes: int, growth_type: str, growth_factor: float, bake_minutes: int
) -> tuple[StepEvent, ...]:
    """Every event the emulator itself (TriggeredBy APPCONFIG) produces for a deployment left alone."""
    duration = duration_minutes * 60.0
    steps = growth_steps(growth_type, growth_factor) if duration_minutes else (100.0,)
    interval = duration / (len(steps) + 1)
    events = [StepEvent(interval * k, PERCENTAGE_UPDATED, share) for k, share in enumerate(steps, start=1)]
    events.append(StepEvent(duration, BAKE_TIME_STARTED, 100.0))
    events.append(StepEvent(duration + bake_minutes * 60.0, DEPLOYMENT_COMPLETED, 100.0))
    return tuple(events)


def progress(
    duration_minutes: int,
    growth_type: str,
    growth_factor: float,
    bake_minutes: int,
    elapsed_seconds: float,
) -> Progress:
    """Where a deployment that nobody stopped stands `elapsed_seconds` after it started.

    An event has happened once the elapsed time reaches its offset.
    """
    events = tuple(
        event
        for event in timeline(duration_minutes, growth_type, growth_factor, bake_minutes)
        if event.offset <= elapsed_seconds
    )
    percentage = events[-1].percentage if events else 0.0
    if elapsed_seconds < duration_minutes * 60:
        state = DEPLOYING
    elif elapsed_seconds < (duration_minutes + bake_minutes) * 60:
        state = BAKING
    else:
        state = COMPLETE
    return Progress(state, percentage, events)
