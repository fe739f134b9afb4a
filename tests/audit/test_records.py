"""record(): one event per call with the right fields, in the caller's transaction, chained; the
refusal helpers; client address and request id."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC

import pytest
from django.db import transaction

from audit import chain
from audit.models import Action, AuditEvent
from audit.records import client_ip, forbidden, record
from deployments.models import Role

pytestmark = pytest.mark.django_db


class StopTarget:
    """Stands in for the stop request model of the next issue: anything with audit_target()."""

    def __init__(self, deployment, pk: int) -> None:
        self.deployment, self.pk = deployment, pk

    def audit_target(self) -> dict:
        environment = self.deployment.environment
        return {
            "application_id": environment.application.application_id,
            "environment_id": environment.environment_id,
            "deployment_number": self.deployment.deployment_number,
            "stop_request_id": self.pk,
            "label": f"stop request #{self.pk}",
        }


def test_it_records_one_event_with_the_actor_target_and_request(make_user, deployment, web_request):
    alice = make_user(Role.OPERATOR, username="alice")
    request = web_request(
        alice, REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="Firefox/140", HTTP_X_REQUEST_ID="req-42"
    )
    before = AuditEvent.objects.count()

    event = record(
        action="sync.requested", request=request, target=deployment, reason="why not", details={"n": 1}
    )

    assert AuditEvent.objects.count() == before + 1
    event.refresh_from_db()
    assert (event.actor_id, event.actor_username) == (alice.pk, "alice")
    assert (event.action, event.outcome, event.source) == ("sync.requested", "success", "web")
    assert (event.application_id, event.environment_id, event.deployment_number) == ("pay1234", "prod123", 7)
    assert event.stop_request_id is None
    assert event.target_label == "payments / prod / deployment 7"
    assert (event.ip, event.user_agent, event.request_id) == ("203.0.113.9", "Firefox/140", "req-42")
    assert event.reason == "why not"
    assert json.loads(event.details) == {"n": 1}
    assert event.occurred_at.tzinfo is not None


def test_it_takes_ids_and_label_from_an_audit_target_method(deployment):
    event = record(action="stop.requested", actor=None, target=StopTarget(deployment, pk=31))
    assert (event.application_id, event.environment_id, event.deployment_number) == ("pay1234", "prod123", 7)
    assert event.stop_request_id == 31
    assert event.target_label == "stop request #31"


def test_it_labels_environments_and_applications(deployment):
    environment = deployment.environment
    on_environment = record(action="sync.requested", target=environment)
    on_application = record(action="sync.requested", target=environment.application)
    assert (on_environment.environment_id, on_environment.target_label) == ("prod123", "payments / prod")
    assert (on_application.application_id, on_application.environment_id) == ("pay1234", "")
    assert on_application.target_label == "payments"


def test_it_uses_the_system_actor_without_user_or_request():
    event = record(action="stop.expired", source="beat")
    assert (event.actor_id, event.actor_username, event.source) == (None, "system", "beat")
    assert (event.ip, event.user_agent, event.request_id) == ("", "", "")


def test_it_records_an_anonymous_request_as_anonymous(web_request):
    event = record(action="auth.login_failed", outcome="failed", request=web_request())
    assert (event.actor_id, event.actor_username, event.outcome) == (None, "anonymous", "failed")
    assert len(event.request_id) == 32  # generated: the request came without X-Request-ID


@pytest.mark.parametrize(
    "kwargs",
    [
        {"action": "stop.teleported"},
        {"action": "auth.login", "outcome": "maybe"},
        {"action": "auth.login", "source": "x"},
    ],
)
def test_it_refuses_an_unknown_action_outcome_or_source(kwargs):
    with pytest.raises(ValueError):
        record(**kwargs)
    assert not AuditEvent.objects.exists()


def test_it_knows_every_action_the_stop_workflow_needs():
    needed = {
        "auth.login",
        "auth.login_failed",
        "auth.logout",
        "role.granted",
        "role.revoked",
        "sync.requested",
        "audit.exported",
        "access.denied",
        *(
            f"stop.{verb}"
            for verb in [
                "requested",
                "approved",
                "rejected",
                "cancelled",
                "expired",
                "executing",
                "succeeded",
                "failed",
                "superseded",
                "break_glass",
            ]
        ),
    }
    assert needed <= set(Action.values)


def test_it_chains_each_event_to_the_previous_one(make_events):
    first, second, third = make_events(3)
    assert [e.sequence for e in (first, second, third)] == [1, 2, 3]
    assert first.prev_hash == chain.GENESIS
    assert second.prev_hash == first.hash and third.prev_hash == second.hash


def test_its_hash_is_sha256_of_the_previous_hash_and_the_canonical_fields(make_events):
    event = AuditEvent.objects.get(pk=make_events(1)[0].pk)
    fields = {name: getattr(event, name) for name in chain.HASHED_FIELDS}
    fields["occurred_at"] = event.occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert event.hash == hashlib.sha256((event.prev_hash + canonical).encode()).hexdigest()


def test_it_rolls_back_with_the_callers_transaction(make_events):
    make_events(1)
    with pytest.raises(RuntimeError), transaction.atomic():
        record(action="role.granted")
        raise RuntimeError("the change failed")
    assert AuditEvent.objects.count() == 1
    # The chain goes on from the last committed event: no gap, no fork.
    assert record(action="role.granted").sequence == 2


def test_it_bounds_text_and_details(web_request):
    request = web_request(HTTP_USER_AGENT="U" * 5000)
    event = record(
        action="sync.requested",
        request=request,
        reason="r" * 10_000 + "\x00",
        details={"blob": "x" * 100_000, "nul": "a\x00b"},
    )
    event.refresh_from_db()
    assert len(event.user_agent) == 512
    assert len(event.reason) == 4000
    assert len(event.details.encode()) <= 4096
    assert json.loads(event.details)["truncated"] is True


def test_it_keeps_nul_characters_out_of_the_database():
    event = record(action="auth.login_failed", outcome="failed", target={"label": "ad\x00min"})
    event.refresh_from_db()
    assert event.target_label == "ad\ufffdmin"


def test_it_refuses_a_target_it_cannot_describe():
    with pytest.raises(TypeError):
        record(action="sync.requested", target=object())


# ---------------------------------------------------------------------------------------------------------
# access.denied and the 403 helper


def test_it_records_a_refused_attempt_with_what_was_attempted(make_user, deployment, rf):
    bob = make_user(Role.VIEWER, username="bob")
    request = rf.post("/applications/pay1234/environments/prod123/sync/?x=1")
    request.user = bob

    response = forbidden(
        request, permission="deployments.sync_now", target=deployment.environment, attempted="sync now"
    )

    assert response.status_code == 403
    assert b"Not allowed" in response.content or b"not allowed" in response.content.lower()
    event = AuditEvent.objects.get(action="access.denied")
    assert (event.outcome, event.actor_username, event.environment_id) == ("denied", "bob", "prod123")
    assert json.loads(event.details) == {
        "attempted": "sync now",
        "method": "POST",
        "path": "/applications/pay1234/environments/prod123/sync/?x=1",
        "permission": "deployments.sync_now",
    }


def test_it_describes_the_attempt_by_method_and_path_by_default(make_user, rf):
    request = rf.delete("/stop-requests/3/")
    request.user = make_user(username="carol")
    forbidden(request, permission="deployments.approve_stop")
    assert json.loads(AuditEvent.objects.get().details)["attempted"] == "DELETE /stop-requests/3/"


# ---------------------------------------------------------------------------------------------------------
# Client address and request id


@pytest.mark.parametrize(
    ("trusted", "remote", "forwarded", "expected"),
    [
        ([], "198.51.100.7", "1.2.3.4", "198.51.100.7"),  # no proxy trusted: the header is ignored
        (["10.0.0.0/8"], "198.51.100.7", "1.2.3.4", "198.51.100.7"),  # not from the proxy
        (["10.0.0.0/8"], "10.0.0.5", "203.0.113.9", "203.0.113.9"),
        (["10.0.0.0/8"], "10.0.0.5", "6.6.6.6, 203.0.113.9", "203.0.113.9"),  # left part is client-written
        (["10.0.0.0/8"], "10.0.0.5", "203.0.113.9, 10.1.1.1", "203.0.113.9"),  # skip trusted hops
        (["10.0.0.0/8"], "10.0.0.5", "nonsense, 10.1.1.1", "10.1.1.1"),  # garbage stops the walk
        (["10.0.0.5"], "10.0.0.5", "", "10.0.0.5"),
        (["::1"], "::1", "2001:db8::1", "2001:db8::1"),
    ],
)
def test_it_believes_forwarded_addresses_only_from_trusted_proxies(
    settings, rf, trusted, remote, forwarded, expected
):
    settings.TRUSTED_PROXIES = trusted
    request = rf.get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_it_echoes_a_sane_request_id_and_replaces_an_insane_one(client_for, viewer):
    client = client_for(viewer)
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"})["X-Request-ID"] == "abc-123"
    replaced = client.get("/healthz", headers={"X-Request-ID": "<script>" + "x" * 100})["X-Request-ID"]
    assert len(replaced) == 32 and replaced.isalnum()


def test_it_takes_where_from_the_request_being_served_when_a_service_is_not_given_it(
    admin_user, client, make_user
):
    # The admin's role grants go through role_grant(), which is not handed the request.
    bob = make_user(username="bob")
    from django.contrib.auth.models import Group

    client.force_login(admin_user)
    response = client.post(
        "/admin/deployments/rolegrant/add/",
        {"user": bob.pk, "group": Group.objects.get(name="viewer").pk, "application": ""},
        headers={"User-Agent": "AdminBrowser/1", "X-Request-ID": "admin-req-1"},
        REMOTE_ADDR="192.0.2.44",
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="role.granted", target_label__contains="bob")
    assert (event.actor_username, event.source) == ("admin", "admin")
    assert (event.ip, event.user_agent, event.request_id) == ("192.0.2.44", "AdminBrowser/1", "admin-req-1")


def test_it_records_a_manual_sync_request_once(
    make_user, deployment, web_request, django_capture_on_commit_callbacks
):
    from django.core.cache import cache

    from deployments.enqueue import QUEUED, THROTTLED, environment_sync_request

    cache.clear()
    olga = make_user(Role.OPERATOR, username="olga")
    request = web_request(olga, REMOTE_ADDR="198.51.100.1")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert environment_sync_request(environment=deployment.environment, request=request) == QUEUED
        assert environment_sync_request(environment=deployment.environment, request=request) == THROTTLED

    assert len(callbacks) == 1
    [event] = AuditEvent.objects.filter(action="sync.requested")
    assert (event.actor_username, event.ip, event.environment_id, event.deployment_number) == (
        "olga",
        "198.51.100.1",
        "prod123",
        None,
    )
    cache.clear()


def test_it_never_lets_time_go_backwards_along_the_chain(monkeypatch):
    # A second server whose clock is behind records the previous event's time, not an earlier one.
    from datetime import datetime

    from audit import records

    clock = iter([datetime(2026, 11, 2, 9, 0, 5, tzinfo=UTC), datetime(2026, 11, 2, 9, 0, 1, tzinfo=UTC)])
    monkeypatch.setattr(records.timezone, "now", lambda: next(clock))
    first = record(action="sync.requested")
    second = record(action="sync.requested")
    assert second.occurred_at == first.occurred_at == datetime(2026, 11, 2, 9, 0, 5, tzinfo=UTC)
