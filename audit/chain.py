"""The hash chain's one definition, shared by recording, verification and the offline export verifier.

    hash = sha256(prev_hash || canonical)

`canonical` is the JSON object of every hashed column of the event (all but `id`, `prev_hash` and `hash`),
keys sorted, no whitespace, UTF-8, non-ASCII kept as is; the timestamp is UTC ISO 8601 with microseconds and
a `Z`; absent numbers are `null`, absent text is `""`; `details` is the stored canonical JSON text, as a
string. The first event's `prev_hash` is GENESIS. Anyone can recompute this from an export with a few lines
of any language.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64

# Hashed columns, in canonical (sorted) order: dumping a dict built in this order without sort_keys yields the
# same text as sort_keys=True, only faster (the verifier's hot loop).
HASHED_FIELDS = (
    "action",
    "actor_id",
    "actor_username",
    "application_id",
    "deployment_number",
    "details",
    "environment_id",
    "ip",
    "occurred_at",
    "outcome",
    "reason",
    "request_id",
    "sequence",
    "source",
    "stop_request_id",
    "target_label",
    "user_agent",
)
assert list(HASHED_FIELDS) == sorted(HASHED_FIELDS)
INTEGER_FIELDS = frozenset({"actor_id", "deployment_number", "sequence", "stop_request_id"})
# Columns of an exported row: its id, the hashed fields, the links.
EXPORT_FIELDS = ("id", *HASHED_FIELDS, "prev_hash", "hash")

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def timestamp(value: datetime) -> str:
    """UTC, ISO 8601, always with microseconds: `2026-11-02T09:00:00.000000Z`."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 text; used for `details` and for the hashed object."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical(fields: dict[str, Any]) -> str:
    """The canonical text of an event given its hashed fields (occurred_at already a `timestamp()` string)."""
    return _encode({name: fields[name] for name in HASHED_FIELDS})


def event_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(fields)).encode()).hexdigest()


# The verifier's fast path: the same text as canonical(), written field by field with the C string escaper
# (json's own, as ensure_ascii=False uses it) into a fixed template; about three times faster than building
# and dumping a dict. tests/audit/test_chain.py checks the two agree.
_TEMPLATE = "{" + ",".join(f'"{name}":%s' for name in HASHED_FIELDS) + "}"
_escape = json.encoder.encode_basestring


def _number(value: Any) -> str:
    if value is None:
        return "null"
    return str(value) if type(value) is int else json.dumps(value)


def _string(value: Any) -> str:
    return _escape(value) if type(value) is str else json.dumps(value, ensure_ascii=False)


def hash_of_row(prev_hash: str, values: tuple | list) -> str:
    """event_hash() for values in HASHED_FIELDS order (occurred_at as its canonical string)."""
    (
        action,
        actor_id,
        actor_username,
        application_id,
        deployment_number,
        details,
        environment_id,
        ip,
        occurred_at,
        outcome,
        reason,
        request_id,
        sequence,
        source,
        stop_request_id,
        target_label,
        user_agent,
    ) = values
    text = _TEMPLATE % (
        _string(action),
        _number(actor_id),
        _string(actor_username),
        _string(application_id),
        _number(deployment_number),
        _string(details),
        _string(environment_id),
        _string(ip),
        _string(occurred_at),
        _string(outcome),
        _string(reason),
        _string(request_id),
        _number(sequence),
        _string(source),
        _number(stop_request_id),
        _string(target_label),
        _string(user_agent),
    )
    return hashlib.sha256((prev_hash + text).encode()).hexdigest()
