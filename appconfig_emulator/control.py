"""The emulator's own control interface under /_emulator/ (outside the AWS API).

JSON in, JSON out. Knobs of the emulator use lower-case keys; AppConfig things keep AppConfig's names
(ApplicationId, DeploymentNumber, ...). Documented in README.md. What the interface controls (counters,
faults, ...) lives in modules below this one; the emulator it drives is described by `Controls`, so this
module never imports emulator.py (which imports it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from .errors import ApiError, bad_request
from .model import WireResponse

CONTROL_PREFIX = "/_emulator/"


class Controls(Protocol):
    """What the control interface needs from the emulator (emulator.Emulator provides it)."""

    def counters(self) -> dict[str, int]: ...

    def throttled(self) -> dict[str, int]: ...

    def reset_counters(self) -> None: ...

    def set_latency(self, ms: float, jitter_ms: float = 0.0) -> dict[str, float]: ...

    def latency(self) -> dict[str, float]: ...

    def set_rate_limit(self, tps: float | None, burst: int | None = None) -> dict[str, Any]: ...

    def rate_limit(self) -> dict[str, Any]: ...

    def reset(self) -> None: ...

    def clock_status(self) -> dict[str, Any]: ...

    def advance(self, seconds: float) -> float: ...

    def fire_alarm(
        self, application_id: str, environment_id: str, alarm_arn: str | None = None
    ) -> dict[str, Any]: ...

    def add_fault(
        self, operation: str = "*", *, kind: str, count: int | None = 1, seconds: float = 1.0
    ) -> None: ...

    def faults(self) -> list[dict[str, Any]]: ...

    def fail_action(self, uri: str, *, error_code: str, error_message: str) -> list[dict[str, str]]: ...

    def action_failures(self) -> list[dict[str, str]]: ...

    def clear_action_failures(self) -> None: ...

    def clear_faults(self) -> None: ...

    def seed_estate(
        self, applications: int = 1, environments: int = 1, deployments: int = 0, active: int = 0
    ) -> dict[str, Any]: ...


# --- HTTP ---------------------------------------------------------------------------------------------------

Action = Callable[[Controls, dict[str, Any]], Any]


def _text(document: dict[str, Any], key: str) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} must be a non-empty string")
    return value


def _add_fault(emulator: Controls, document: dict[str, Any]) -> dict[str, Any]:
    emulator.add_fault(
        operation=document.get("operation", "*"),
        kind=document.get("kind"),
        count=document.get("count", 1),
        seconds=document.get("seconds", 1.0),
    )
    return {"faults": emulator.faults()}


def _clear_faults(emulator: Controls, document: dict[str, Any]) -> dict[str, Any]:
    emulator.clear_faults()
    return {"faults": []}


def _fire_alarm(emulator: Controls, document: dict[str, Any]) -> dict[str, Any]:
    return emulator.fire_alarm(
        _text(document, "ApplicationId"),
        _text(document, "EnvironmentId"),
        alarm_arn=_text(document, "AlarmArn") if document.get("AlarmArn") is not None else None,
    )


def _advance(emulator: Controls, document: dict[str, Any]) -> dict[str, Any]:
    seconds = document.get("seconds")
    if type(seconds) not in (int, float) or seconds < 0:
        raise ValueError("seconds must be a non-negative number")
    emulator.advance(seconds)
    return emulator.clock_status()


def _seed_estate(emulator: Controls, document: dict[str, Any]) -> dict[str, Any]:
    # seed_estate checks the numbers itself.
    return emulator.seed_estate(
        applications=document.get("applications", 1),
        environments=document.get("environments", 1),
        deployments=document.get("deployments", 0),
        active=document.get("active", 0),
    )


def _set_latency(emulator: Controls, document: dict[str, Any]) -> dict[str, Any]:
    return emulator.set_latency(document.get("ms", 0), document.get("jitter_ms", 0))


def _set_rate_limit(emulator: Controls, document: dict[str, Any]) -> dict[str, Any]:
    if "tps" not in document:
        raise ValueError("tps is required: requests per second, or null to turn the rate limit off")
    # Latency and RateLimit check the numbers themselves.
    return emulator.set_rate_limit(document["tps"], document.get("burst"))


def _fail_action(emulator: Controls, document: dict[str, Any]) -> dict[str, Any]:
    failures = emulator.fail_action(
        document.get("Uri"),
        error_code=document.get("ErrorCode"),
        error_message=document.get("ErrorMessage"),
    )
    return {"action_failures": failures}


def _clear_action_failures(emulator: Controls, document: dict[str, Any]) -> dict[str, Any]:
    emulator.clear_action_failures()
    return {"action_failures": []}


def _reset(emulator: Controls, document: dict[str, Any]) -> dict[str, Any]:
    emulator.reset()
    return {"reset": True}


def _reset_counters(emulator: Controls, document: dict[str, Any]) -> dict[str, Any]:
    emulator.reset_counters()
    return {}


_ROUTES: dict[str, dict[str, Action]] = {
    "healthz": {"GET": lambda emulator, document: {"status": "ok"}},
    "counters": {"GET": lambda emulator, document: emulator.counters()},
    "counters/throttled": {"GET": lambda emulator, document: emulator.throttled()},
    "counters/reset": {"POST": _reset_counters},
    "latency": {
        "GET": lambda emulator, document: emulator.latency(),
        "POST": _set_latency,
        "DELETE": lambda emulator, document: emulator.set_latency(0),
    },
    "rate-limit": {
        "GET": lambda emulator, document: emulator.rate_limit(),
        "POST": _set_rate_limit,
        "DELETE": lambda emulator, document: emulator.set_rate_limit(None),
    },
    "reset": {"POST": _reset},
    "alarm": {"POST": _fire_alarm},
    "faults": {
        "GET": lambda emulator, document: {"faults": emulator.faults()},
        "POST": _add_fault,
        "DELETE": _clear_faults,
    },
    "action-failures": {
        "GET": lambda emulator, document: {"action_failures": emulator.action_failures()},
        "POST": _fail_action,
        "DELETE": _clear_action_failures,
    },
    "clock": {"GET": lambda emulator, document: emulator.clock_status()},
    "clock/advance": {"POST": _advance},
    "estate": {"POST": _seed_estate},
}


def handle(emulator: Controls, method: str, path: str, body: bytes) -> WireResponse:
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
