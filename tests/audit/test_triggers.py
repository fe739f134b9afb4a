"""Append-only, enforced twice: the model and its queryset refuse updates and deletes, and the database's
triggers refuse UPDATE, DELETE and (PostgreSQL) TRUNCATE however they are sent."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from audit.models import AppendOnlyError, AuditEvent
from tests.audit.helpers import only_postgresql

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(make_events) -> AuditEvent:
    return make_events(2)[0]


def _refused(sql: str, params=None) -> str:
    with pytest.raises(DatabaseError) as refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return str(refused.value)


def test_the_database_refuses_update(event):
    assert "append-only" in _refused("UPDATE audit_auditevent SET reason = 'x' WHERE id = %s", [event.pk])
    event.refresh_from_db()
    assert event.reason == ""


def test_the_database_refuses_delete(event):
    assert "append-only" in _refused("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])
    assert AuditEvent.objects.count() == 2


@only_postgresql("SQLite has no TRUNCATE (its DELETE without WHERE is refused by the delete trigger)")
def test_the_database_refuses_truncate(event):
    assert "append-only" in _refused("TRUNCATE audit_auditevent")
    assert AuditEvent.objects.count() == 2


def test_the_database_refuses_an_unfiltered_delete(event):
    assert "append-only" in _refused("DELETE FROM audit_auditevent")
    assert AuditEvent.objects.count() == 2


def test_the_model_refuses_save_and_delete_of_an_event(event):
    event.reason = "rewritten"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()


def test_the_queryset_refuses_update_and_delete(event):
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(reason="x")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.bulk_update([event], ["reason"])


def test_flush_empties_the_trail_and_puts_the_triggers_back(event):
    # Django's test framework runs flush after every transactional test; so may an operator, to wipe it all.
    call_command("flush", interactive=False, verbosity=0)
    assert not AuditEvent.objects.exists()
    from audit.records import record

    record(action="sync.requested")
    assert "append-only" in _refused("DELETE FROM audit_auditevent")
