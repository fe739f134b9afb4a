"""Injected faults: what the next matching AWS API requests suffer (see README.md, `/_emulator/faults`).

Below the control interface, the request path and the in-process API, which all use it.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

from .model import operation_exists

FAULT_KINDS = ("throttle", "error", "latency", "apply_then_timeout")


@dataclass(slots=True)
class Fault:
    operation: str  # an operation name, or "*" for every operation
    kind: str
    count: int | None  # requests still to affect; None until cleared
    seconds: float  # the delay of "latency"; how long "apply_then_timeout" holds the connection

    def __post_init__(self) -> None:
        if self.operation != "*" and not operation_exists(self.operation):
            raise ValueError(f"Unknown operation {self.operation!r}; use an AppConfig operation name or '*'")
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"Unknown fault kind {self.kind!r}; use one of {', '.join(FAULT_KINDS)}")
        if self.count is not None and (type(self.count) is not int or self.count < 1):
            raise ValueError("count must be a positive integer, or null to last until the faults are cleared")
        if type(self.seconds) not in (int, float) or not 0 <= self.seconds <= 3600:
            raise ValueError("seconds must be a number between 0 and 3600")


class FaultInjector:
    """Faults waiting for requests; the first fault that matches a request is applied to it."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take(self, operation: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.operation in ("*", operation):
                    if fault.count is not None:
                        fault.count -= 1
                        if fault.count == 0:
                            self._faults.remove(fault)
                    return fault
            return None

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(fault) for fault in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
