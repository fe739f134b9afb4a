"""The console's one clock, and how its durations read.

Every "now" on a page is this server's clock (`now()`): AppConfig's timestamps (StartedAt, OccurredAt,
CompletedAt) and the console's own (audit events, stop requests) are compared with it and with nothing
else, and the browser's script keeps relative times current from the same clock (the page carries the
server's time; see static/portal/console.js). The demo emulator runs at real time, so AppConfig's clock and
this one agree; against any clock skew left, a past event never reads "from now" (it is "just now"), and a
remaining duration is clamped to what the strategy allows.

Durations read as people say them: "45 s", "4 min 12 s", "2 h 5 min", "3 d 4 h", never "3:27:57.069869".
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

JUST_NOW = timedelta(seconds=10)


def now() -> datetime:
    return timezone.now()


def duration_text(value: timedelta | float | int) -> str:
    """A non-negative duration in its two largest units, whole seconds: "4 min 12 s", "2 h", "0 s"."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    units = [(days, "d"), (hours, "h"), (minutes, "min"), (secs, "s")]
    first = next((i for i, (amount, _) in enumerate(units) if amount), len(units) - 1)
    shown = [f"{amount} {unit}" for amount, unit in units[first : first + 2] if amount]
    return " ".join(shown) or "0 s"


def since_text(moment: datetime, at: datetime | None = None) -> str:
    """How long ago a past moment was: "4 min 12 s ago"; "just now" for the last few seconds, and for a
    moment the clock has not reached yet (clock skew: an event that happened cannot be in the future)."""
    elapsed = (at or now()) - moment
    if elapsed < JUST_NOW:
        return "just now"
    return f"{duration_text(elapsed)} ago"


def until_text(moment: datetime, at: datetime | None = None) -> str:
    """How long until a future moment: "in 1 min 30 s"; "now" once it has passed."""
    left = moment - (at or now())
    if left.total_seconds() < 1:
        return "now"
    return f"in {duration_text(left)}"
