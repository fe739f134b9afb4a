"""Chain verification: an intact chain passes; a change, a deletion and a reordering made behind the
application's back (raw SQL, triggers lifted) are each found at the exact event, with why."""

from __future__ import annotations

import hashlib
import threading

import pytest
from django.db import connection, connections

from audit import chain
from audit.models import AuditEvent, AuditVerification
from audit.records import record
from audit.verify import chain_verify, verify_chain
from tests.audit.helpers import behind_the_apps_back, only_postgresql, swap_ids

pytestmark = pytest.mark.django_db


@pytest.fixture
def ten(make_events) -> list[int]:
    return [event.pk for event in make_events(10, reason="routine")]


def test_it_passes_an_intact_chain(ten):
    result = verify_chain()
    assert result.ok
    assert (result.count, result.last_id, result.last_sequence) == (10, ten[-1], 10)
    assert str(result) == f"audit chain intact: 10 events, last id {ten[-1]}"


def test_it_passes_an_empty_chain(db):
    assert verify_chain().ok and verify_chain().count == 0


def test_it_verifies_in_chunks_across_chunk_boundaries(ten):
    assert verify_chain(chunk_size=3).ok


def test_it_finds_a_changed_event_at_its_id(ten):
    with behind_the_apps_back() as cursor:
        cursor.execute("UPDATE audit_auditevent SET reason = 'nothing to see' WHERE id = %s", [ten[4]])
    result = verify_chain()
    assert not result.ok
    assert result.first_bad_id == ten[4]
    assert result.problem.startswith("changed:")
    assert str(result).startswith(f"audit chain broken at event {ten[4]}: changed")


def test_it_finds_a_changed_time_at_its_id(ten):
    with behind_the_apps_back() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent "
            "SET occurred_at = (SELECT occurred_at FROM audit_auditevent WHERE id = %s) WHERE id = %s",
            [ten[0], ten[6]],
        )
    result = verify_chain()
    assert (result.first_bad_id, result.problem.split(":")[0]) == (ten[6], "changed")


def test_it_finds_a_deleted_event_at_the_next_id(ten):
    with behind_the_apps_back() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [ten[3]])
    result = verify_chain()
    assert result.first_bad_id == ten[4]
    assert result.problem.startswith("missing:") and "sequence 4" in result.problem


def test_it_finds_several_deleted_events(ten):
    with behind_the_apps_back() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id IN (%s, %s)", [ten[1], ten[2]])
    result = verify_chain()
    assert result.first_bad_id == ten[3]
    assert "sequences 2-3" in result.problem


def test_it_finds_a_deleted_first_event(ten):
    with behind_the_apps_back() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [ten[0]])
    result = verify_chain()
    assert (result.first_bad_id, result.problem.split(":")[0]) == (ten[1], "missing")


def test_it_finds_reordered_events_at_the_first_misplaced_id(ten):
    with behind_the_apps_back() as cursor:
        swap_ids(cursor, ten[5], ten[6])
    result = verify_chain()
    assert result.first_bad_id == ten[5]
    assert result.problem.startswith("reordered:")


def test_it_finds_an_event_moved_to_the_end(ten):
    with behind_the_apps_back() as cursor:
        cursor.execute("UPDATE audit_auditevent SET id = %s WHERE id = %s", [ten[-1] + 100, ten[2]])
    result = verify_chain()
    assert (result.first_bad_id, result.problem.split(":")[0]) == (ten[3], "reordered")


def test_it_finds_an_event_rewritten_with_a_recomputed_hash_by_its_broken_link(ten):
    event = AuditEvent.objects.get(pk=ten[4])
    fields = {name: getattr(event, name) for name in chain.HASHED_FIELDS}
    fields["occurred_at"] = chain.timestamp(event.occurred_at)
    fields["reason"] = "rewritten"
    forged = chain.event_hash(event.prev_hash, fields)
    with behind_the_apps_back() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET reason = 'rewritten', hash = %s WHERE id = %s", [forged, ten[4]]
        )
    result = verify_chain()
    assert result.first_bad_id == ten[5]
    assert result.problem.startswith("changed:") and str(ten[4]) in result.problem


def test_it_finds_a_truncated_tail_against_the_last_verification(ten):
    chain_verify()
    with behind_the_apps_back() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id >= %s", [ten[7]])

    result, stored = chain_verify()

    assert not result.ok and result.problem.startswith("missing:")
    assert result.first_bad_id == ten[-1]
    assert stored.ok is False and stored.first_bad_id == ten[-1]


def test_it_finds_a_chain_rewritten_wholesale_against_the_last_verification(ten):
    chain_verify()
    # Rebuild the whole chain with one event changed and every hash recomputed: self-consistent.
    rows = list(AuditEvent.objects.order_by("id"))
    prev = chain.GENESIS
    with behind_the_apps_back() as cursor:
        for event in rows:
            fields = {name: getattr(event, name) for name in chain.HASHED_FIELDS}
            fields["occurred_at"] = chain.timestamp(event.occurred_at)
            if event.pk == ten[2]:
                fields["reason"] = "forged"
            digest = chain.event_hash(prev, fields)
            cursor.execute(
                "UPDATE audit_auditevent SET reason = %s, prev_hash = %s, hash = %s WHERE id = %s",
                [fields["reason"], prev, digest, event.pk],
            )
            prev = digest
    assert verify_chain().ok  # without the anchor nothing can tell
    result, _ = chain_verify()
    assert not result.ok and result.first_bad_id == ten[-1]
    assert result.problem.startswith("changed:")


def test_it_stores_each_verification(ten):
    result, stored = chain_verify(source="beat")
    assert AuditVerification.objects.get() == stored
    assert (stored.ok, stored.event_count, stored.last_event_id, stored.last_sequence) == (
        True,
        10,
        ten[-1],
        10,
    )
    assert stored.last_hash == AuditEvent.objects.get(pk=ten[-1]).hash
    assert stored.source == "beat"


def test_it_leaves_the_chain_recomputable_by_anyone(ten):
    prev = chain.GENESIS
    for event in AuditEvent.objects.order_by("id"):
        fields = {name: getattr(event, name) for name in chain.HASHED_FIELDS}
        fields["occurred_at"] = chain.timestamp(event.occurred_at)
        text = chain.canonical_json(fields)
        assert hashlib.sha256((prev + text).encode()).hexdigest() == event.hash
        prev = event.hash


@only_postgresql("SQLite serialises writers with its single database lock; the advisory lock is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_it_keeps_one_linear_chain_under_concurrent_writers():
    threads, per_thread = 8, 25
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def write(number: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                record(action="sync.requested", details={"thread": number, "i": i}, source="worker")
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=write, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert errors == []
    result = verify_chain()
    assert result.ok, str(result)
    assert result.count == threads * per_thread
    sequences = list(AuditEvent.objects.order_by("id").values_list("sequence", flat=True))
    assert sequences == list(range(1, threads * per_thread + 1))
    assert connection.vendor == "postgresql"


def test_it_verifies_events_stamped_on_a_whole_second(monkeypatch, db):
    # SQLite stores such a time without its fraction; the verifier must still read it canonically.
    from datetime import UTC, datetime

    from audit import records

    monkeypatch.setattr(records.timezone, "now", lambda: datetime(2026, 11, 2, 9, 0, 0, tzinfo=UTC))
    record(action="sync.requested")
    record(action="sync.requested")
    assert verify_chain().ok


def test_it_fails_an_emptied_chain_after_a_verification_that_found_it_broken(make_events):
    # Issue 12 (A): no intact verification to anchor on, only a broken one; emptying the table after it used
    # to verify as "intact: 0 events".
    events = make_events(3)
    with behind_the_apps_back() as cursor:
        cursor.execute("UPDATE audit_auditevent SET reason = 'x' WHERE id = %s", [events[0].pk])
    assert chain_verify()[0].first_bad_id == events[0].pk
    with behind_the_apps_back() as cursor:
        cursor.execute("DELETE FROM audit_auditevent")

    result, stored = chain_verify()

    assert not result.ok and not stored.ok
    assert result.problem.startswith("missing: the chain is empty, but the verification at ")
    assert result.problem.endswith(" saw at least 1 event")
    assert str(result) == f"audit chain broken: {result.problem}"


def test_it_fails_an_emptied_chain_against_the_last_intact_verification(ten):
    chain_verify()
    with behind_the_apps_back() as cursor:
        cursor.execute("DELETE FROM audit_auditevent")
    result, _ = chain_verify()
    assert not result.ok and result.first_bad_id == ten[-1]
    assert result.problem.startswith("missing: the chain is empty, but sequence 10 was verified at ")


def test_it_passes_an_empty_chain_no_verification_ever_saw_events(db):
    chain_verify()
    result, _ = chain_verify()
    assert result.ok and result.count == 0
