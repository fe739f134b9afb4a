"""The audit trail's migrations never run backwards: reversing them would drop the append-only table (every
event with it) or its triggers, and the next verification would then find an empty chain and call it intact
(security review, issue 12, finding A)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.db.migrations.exceptions import IrreversibleError
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

from audit.models import AuditEvent
from audit.records import record
from audit.verify import verify_chain


def _applied() -> set[str]:
    return {name for app, name in MigrationRecorder(connection).applied_migrations() if app == "audit"}


def _delete_refused() -> bool:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_auditevent")
    except DatabaseError:
        return True
    return False


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("target", ["zero", "0001"])
def test_it_refuses_to_reverse_the_audit_migrations_keeping_the_trail_and_triggers(target):
    for _ in range(3):
        record(action="sync.requested")
    applied = _applied()
    try:
        with pytest.raises(IrreversibleError, match="append-only"):
            call_command("migrate", "audit", target, interactive=False, verbosity=0)

        assert _applied() == applied
        assert AuditEvent.objects.count() == 3
        assert _delete_refused()
        assert verify_chain().count == 3
    finally:
        # Should the refusal ever fail, put the schema back for the tests that follow.
        call_command("migrate", interactive=False, verbosity=0)


def test_it_makes_every_operation_of_every_audit_migration_irreversible():
    # A new migration of the audit app must refuse to be reversed too (audit/irreversible.py).
    loader = MigrationLoader(None, ignore_no_migrations=True)
    migrations = [migration for (app, _), migration in loader.disk_migrations.items() if app == "audit"]
    assert migrations
    reversible = [
        f"{migration.name}: {operation.describe()}"
        for migration in migrations
        for operation in migration.operations
        if operation.reversible
    ]
    assert reversible == []
