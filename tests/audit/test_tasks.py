"""The beat task that verifies the chain, and its beat entry."""

from __future__ import annotations

import json

import pytest

from audit.models import AuditEvent, AuditVerification
from audit.tasks import verify_audit_chain
from tests.audit.helpers import behind_the_apps_back

pytestmark = pytest.mark.django_db


def test_it_stores_an_intact_verification(make_events):
    events = make_events(3)
    verify_audit_chain()
    assert AuditEvent.objects.count() == 3  # beat's runs are not events: they would bury the rest
    stored = AuditVerification.objects.get()
    assert (stored.ok, stored.event_count, stored.last_event_id, stored.source) == (
        True,
        3,
        events[-1].pk,
        "beat",
    )


def test_it_stores_a_broken_verification(make_events, caplog):
    events = make_events(3)
    with behind_the_apps_back() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])
    verify_audit_chain()
    stored = AuditVerification.objects.get()
    assert (stored.ok, stored.first_bad_id) == (False, events[2].pk)
    assert stored.problem.startswith("missing:")
    assert "audit chain broken" in caplog.text


def test_it_anchors_the_head_outside_the_database(make_events, tmp_path, settings):
    settings.AUDIT_ANCHOR_FILE = str(tmp_path / "anchors.jsonl")
    events = make_events(3)
    verify_audit_chain()
    verify_audit_chain()
    heads = [json.loads(line) for line in (tmp_path / "anchors.jsonl").read_text().splitlines()]
    assert [(h["sequence"], h["hash"], h["source"]) for h in heads] == [(3, events[-1].hash, "beat")] * 2


def test_it_is_scheduled_by_beat(settings):
    from portal.celery import _install_beat_schedule, app

    _install_beat_schedule(app)
    entry = app.conf.beat_schedule["verify-audit-chain"]
    assert entry["task"] == "audit.tasks.verify_audit_chain"
    assert entry["schedule"] == float(settings.AUDIT_VERIFY_INTERVAL_SECONDS)
