"""The emulator's own control interface under /_emulator/ (outside the AWS API), plus what it controls:
per-operation call counters and injected faults.

JSON in, JSON out. Knobs of the emulator use lower-case keys; AppConfig things keep AppConfig's names
(ApplicationId, DeploymentNumber, ...). Documented in README.md.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from .errors import ApiError, bad_request
from .model import WireResponse, operation_exists

if TYPE_CHECKING:
    from .emulator import Emulator

CONTROL_PREFIX = "/_emulator/"

FAULT_KINDS = ("throttle", "error", "latency", "apply_then_timeout")


class CallCounter:
    """How many AWS API requests were routed to each operation, failed ones included."""

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


# --- HTTP ---------------------------------------------------------------------------------------------------

Action = Callable[["Emulator", dict[str, Any]], Any]


def _text(document: dict[str, Any], key: str) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} must be a non-empty string")
    return value


def _add_fault(emulator: Emulator, document: dict[str, Any]) -> dict[str, Any]:
    emulator.add_fault(
        operation=document.get("operation", "*"),
        kind=document.get("kind"),
        count=document.get("count", 1),
        seconds=document.get("seconds", 1.0),
    )
    return {"faults": emulator.faults()}


def _clear_faults(emulator: Emulator, document: dict[str, Any]) -> dict[str, Any]:
    emulator.clear_faults()
    return {"faults": []}


def _fire_alarm(emulator: Emulator, document: dict[str, Any]) -> dict[str, Any]:
    return emulator.fire_alarm(
        _text(document, "ApplicationId"),
        _text(document, "EnvironmentId"),
        alarm_arn=_text(document, "AlarmArn") if document.get("AlarmArn") is not None else None,
    )


def _advance(emulator: Emulator, document: dict[str, Any]) -> dict[str, Any]:
    seconds = document.get("seconds")
    if type(seconds) not in (int, float) or seconds < 0:
        raise ValueError("seconds must be a non-negative number")
    emulator.advance(seconds)
    return emulator.clock_status()


def _seed_estate(emulator: Emulator, document: dict[str, Any]) -> dict[str, Any]:
    # seed_estate checks the numbers itself.
    return emulator.seed_estate(
        applications=document.get("applications", 1),
        environments=document.get("environments", 1),
        deployments=document.get("deployments", 0),
        active=document.get("active", 0),
    )


def _reset(emulator: Emulator, document: dict[str, Any]) -> dict[str, Any]:
    emulator.reset()
    return {"reset": True}


def _reset_counters(emulator: Emulator, document: dict[str, Any]) -> dict[str, Any]:
    emulator.reset_counters()
    return {}


_ROUTES: dict[str, dict[str, Action]] = {
    "healthz": {"GET": lambda emulator, document: {"status": "ok"}},
    "counters": {"GET": lambda emulator, document: emulator.counters()},
    "counters/reset": {"POST": _reset_counters},
    "reset": {"POST": _reset},
    "alarm": {"POST": _fire_alarm},
    "faults": {
        "GET": lambda emulator, document: {"faults": emulator.faults()},
        "POST": _add_fault,
        "DELETE": _clear_faults,
    },
    "clock": {"GET": lambda emulator, document: emulator.clock_status()},
    "clock/advance": {"POST": _advance},
    "estate": {"POST": _seed_estate},
}


def handle(emulator: Emulator, method: str, path: str, body: bytes) -> WireResponse:
    actions = _ROUTES.get(path[len(CONTROL_PREFIX) :].rstrip("/"))
    if actions is None:
        raise ApiError("UnknownOperationException", f"No emulator control endpoint at {path}", status=404)
    action = actions.get(method)
    if action is None:
        raise ApiError(
            "MethodNotAllowedException",
            f"{method} is not allowed on {path}; allowed: {', '.join(actions)}",
            status=405,
        )
    try:
        document = json.loads(body) if body.strip() else {}
    except (ValueError, UnicodeDecodeError):
        raise bad_request("The request body is not valid JSON") from None
    if not isinstance(document, dict):
        raise bad_request("The request body must be a JSON object")
    try:
        result = action(emulator, document)
    except ValueError as error:  # the emulator's own argument checks
        raise bad_request(str(error)) from None
    return WireResponse(200, [("Content-Type", "application/json")], json.dumps(result).encode("utf-8"))
