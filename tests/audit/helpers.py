"""Helpers of the audit trail's tests (fixtures are in conftest.py): tampering with the table behind the
application's back, as someone with direct database access could."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.db import connection

from audit import chain
from audit.models import AuditEvent
from audit.triggers import create_triggers, drop_triggers


@contextmanager
def behind_the_apps_back():
    """Lift the append-only triggers (inside the test's transaction, which rolls the change back anyway) and
    give a raw cursor: what someone with direct database access could do."""
    drop_triggers(connection)
    try:
        with connection.cursor() as cursor:
            yield cursor
    finally:
        create_triggers(connection)


def swap_ids(cursor, first: int, second: int) -> None:
    """Exchange two events' positions in id order, leaving their contents alone."""
    cursor.execute("UPDATE audit_auditevent SET id = %s WHERE id = %s", [-first, first])
    cursor.execute("UPDATE audit_auditevent SET id = %s WHERE id = %s", [first, second])
    cursor.execute("UPDATE audit_auditevent SET id = %s WHERE id = %s", [second, -first])


def only_postgresql(reason: str):
    return pytest.mark.skipif(connection.vendor != "postgresql", reason=reason)


def rewrite_chain(cursor, reasons: dict[int, str]) -> None:
    """Rebuild the whole chain with the given events' reason changed and every hash recomputed: a forgery
    that verifies on its own, which only an earlier head (an anchor) can expose."""
    prev = chain.GENESIS
    for event in AuditEvent.objects.order_by("id"):
        fields = {name: getattr(event, name) for name in chain.HASHED_FIELDS}
        fields["occurred_at"] = chain.timestamp(event.occurred_at)
        fields["reason"] = reasons.get(event.pk, fields["reason"])
        digest = chain.event_hash(prev, fields)
        cursor.execute(
            "UPDATE audit_auditevent SET reason = %s, prev_hash = %s, hash = %s WHERE id = %s",
            [fields["reason"], prev, digest, event.pk],
        )
        prev = digest
