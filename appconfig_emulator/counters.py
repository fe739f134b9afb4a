"""Counters of AWS API requests, kept apart from the control interface that reports them so that the request
path (server.py), the in-process API (emulator.py) and the control interface (control.py) all import them from
below instead of from one another."""

from __future__ import annotations

import threading
from collections import Counter


class CallCounter:
    """How many AWS API requests went to each operation (or, as the throttle counter, were answered 429)."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def increment(self, operation: str) -> None:
        with self._lock:
            self._counts[operation] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
