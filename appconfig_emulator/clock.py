"""Emulated time.

Deployment progress is derived from "now" on every read, so whoever owns the clock owns the speed of every
deployment: tests advance a ManualClock by hand; the demo runs a ScaledClock at real time (scale 1), and
tests that want deployments to move on their own run one faster. Times are epoch seconds (float)
throughout the emulator and only become ISO 8601 text on the wire.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Emulated time, epoch seconds."""
        ...


class ManualClock:
    """A clock that moves only when told to, for tests and for `--manual-clock`."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = (start or datetime.now(UTC)).timestamp()
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._now += seconds
            return self._now

    def catch_up(self, epoch: float) -> None:
        """Never report a time before `epoch` again (used after loading a saved state)."""
        with self._lock:
            self._now = max(self._now, epoch)


class ScaledClock:
    """Starts at real now (or `start`) and runs `scale` times faster than the wall clock.

    Elapsed time comes from the monotonic clock so that NTP adjustments of the host cannot make
    deployments jump or run backwards.
    """

    def __init__(self, scale: float = 1.0, start: datetime | None = None) -> None:
        if scale <= 0:
            raise ValueError("the time scale must be positive")
        self.scale = scale
        self._origin = (start or datetime.now(UTC)).timestamp()
        self._monotonic_origin = time.monotonic()

    def now(self) -> float:
        return self._origin + (time.monotonic() - self._monotonic_origin) * self.scale


@lru_cache(maxsize=8192)  # pollers ask for the same event times over and over
def iso8601(epoch: float) -> str:
    """The wire form of a timestamp: ISO 8601 in UTC with milliseconds, as AppConfig answers."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
