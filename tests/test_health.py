"""The probes, /healthz and /readyz: served without login; /readyz tells an anonymous caller only whether
each component is ok or failing (security review, issue 12, finding 2: it showed account names and raw AWS
errors to anyone), and a signed-in user the details. Readiness is the console's own (database, broker,
migrations): a failing AppConfig account leaves it ready (issue 15)."""

from __future__ import annotations

import pytest
from django.db import connection

from deployments import sync
from deployments.models import Account
from portal import health
from portal.embedded import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def failing_account(db, account, emulator):
    """An account named like a real one whose sync failed with AppConfig's own error text."""
    Account.objects.filter(pk=account.pk).update(name="prod-123456789012")
    account.refresh_from_db()
    emulator.add_fault(operation="ListApplications", kind="error", count=None)
    with pytest.raises(sync.AppConfigError):
        sync.sync_account(account=account)
    return account


def test_it_answers_healthz_without_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_it_is_ready_before_any_sync_and_while_appconfig_fails(client, failing_account, settings, redis_url):
    settings.CELERY_BROKER_URL = redis_url

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "ok", "migrations": "ok"},
    }


def test_it_is_not_ready_while_a_migration_is_not_applied(client, viewer, settings, redis_url, monkeypatch):
    settings.CELERY_BROKER_URL = redis_url
    monkeypatch.setattr(health, "_migrated", False)
    from django.db.migrations.loader import MigrationLoader

    [(_, newest)] = [node for node in MigrationLoader(connection).graph.leaf_nodes() if node[0] == "audit"]
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE app = 'audit' AND name = %s", [newest])

    anonymous = client.get("/readyz")
    client.force_login(viewer)
    signed_in = client.get("/readyz").json()

    assert anonymous.status_code == 503
    assert anonymous.json()["checks"] == {"database": "ok", "broker": "ok", "migrations": "failing"}
    assert "audit" not in anonymous.content.decode()
    assert signed_in["details"]["migrations"].startswith(f"1 migration(s) not applied: audit.{newest}")


def test_it_tells_anonymous_callers_only_ok_or_failing(client, failing_account, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "broker": "failing", "migrations": "ok"},
    }
    text = response.content.decode()
    for secret in ("prod-123456789012", "123456789012", "127.0.0.1", "Error", "connect"):
        assert secret not in text


def test_it_shows_the_details_to_a_signed_in_user(client_for, viewer, failing_account, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"

    body = client_for(viewer).get("/readyz").json()

    assert body["checks"] == {"database": "ok", "broker": "failing", "migrations": "ok"}
    assert set(body["details"]) == {"broker"}
    assert "127.0.0.1" in body["details"]["broker"]


def test_it_never_caches_a_probe_answer(client):
    for path in ("/healthz", "/readyz"):
        assert "no-store" in client.get(path)["Cache-Control"]
