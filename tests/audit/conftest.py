"""Fixtures for the audit trail's tests: events made through the real record(), deployments to point them
at, and a way to tamper with the table behind the application's back."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.db import connection
from django.test import RequestFactory

from audit import chain
from audit.models import AuditEvent
from audit.records import record
from audit.triggers import create_triggers, drop_triggers
from tests.factories import DeploymentFactory, EnvironmentFactory

HX = {"HX-Request": "true"}


@pytest.fixture
def deployment(db):
    environment = EnvironmentFactory(
        application__application_id="pay1234",
        application__name="payments",
        environment_id="prod123",
        name="prod",
    )
    return DeploymentFactory(environment=environment, deployment_number=7, state="DEPLOYING")


@pytest.fixture
def make_events(db):
    """`make_events(n, **record_kwargs)`: n events through record(), oldest first."""

    def make(count: int, **kwargs) -> list[AuditEvent]:
        kwargs.setdefault("action", "sync.requested")
        return [record(**kwargs) for _ in range(count)]

    return make


@pytest.fixture
def web_request(rf: RequestFactory):
    """`web_request(user=None, **meta)`: a GET request as the middleware would leave it."""

    def make(user=None, path: str = "/somewhere/", **meta):
        request = rf.get(path, **meta)
        if user is not None:
            request.user = user
        else:
            from django.contrib.auth.models import AnonymousUser

            request.user = AnonymousUser()
        return request

    return make


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
