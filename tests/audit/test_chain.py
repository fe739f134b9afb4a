"""The chain's one definition: the verifier's fast serialisation is byte for byte the canonical JSON, and
timestamps are UTC with microseconds."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from audit import chain
from tests.audit.test_export import INJECTIONS

BASE = {
    "action": "stop.requested",
    "actor_id": 12,
    "actor_username": "olga",
    "application_id": "pay1234",
    "deployment_number": 7,
    "details": '{"kind":"stop","n":1.5,"s":"é\\"x"}',
    "environment_id": "prod123",
    "ip": "2001:db8::1",
    "occurred_at": "2026-11-02T09:00:00.000000Z",
    "outcome": "success",
    "reason": "error rate up",
    "request_id": "abc",
    "sequence": 1,
    "source": "web",
    "stop_request_id": None,
    "target_label": "payments / prod / deployment 7",
    "user_agent": "Firefox",
}


def _slow(prev: str, fields: dict) -> str:
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev + text).encode()).hexdigest()


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"actor_id": None, "actor_username": "system"},
        {"stop_request_id": 2**40, "deployment_number": None},
        {"reason": "日本語 ünïcödé 🎉"},
        *({"reason": text.replace("\x00", "\ufffd"), "target_label": text} for text in INJECTIONS),
        {"actor_id": True},  # not an int: must not hash like 1
        {"actor_id": "12"},  # a string where a number belongs: must not hash like 12
        {"ip": None},
    ],
)
def test_its_fast_path_is_the_canonical_json(change):
    fields = {**BASE, **change}
    values = tuple(fields[name] for name in chain.HASHED_FIELDS)
    assert chain.hash_of_row(chain.GENESIS, values) == chain.event_hash(chain.GENESIS, fields)
    assert chain.event_hash(chain.GENESIS, fields) == _slow(chain.GENESIS, fields)


def test_a_string_number_does_not_hash_like_the_number():
    as_int = tuple(BASE[name] for name in chain.HASHED_FIELDS)
    as_text = tuple(
        str(v) if name == "actor_id" else v for name, v in zip(chain.HASHED_FIELDS, as_int, strict=True)
    )
    assert chain.hash_of_row(chain.GENESIS, as_int) != chain.hash_of_row(chain.GENESIS, as_text)


def test_its_timestamps_are_utc_with_microseconds():
    plus_two = timezone(timedelta(hours=2))
    assert chain.timestamp(datetime(2026, 11, 2, 11, 0, tzinfo=plus_two)) == "2026-11-02T09:00:00.000000Z"
    assert chain.timestamp(datetime(2026, 11, 2, 9, 0, 0, 42, tzinfo=UTC)) == "2026-11-02T09:00:00.000042Z"


def test_its_hashed_fields_are_every_column_but_id_and_the_hashes():
    from audit.models import AuditEvent

    columns = {field.name for field in AuditEvent._meta.concrete_fields}
    assert set(chain.HASHED_FIELDS) == columns - {"id", "prev_hash", "hash"}
