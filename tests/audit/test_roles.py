"""Role grants and revocations through the admin: one event each, the admin as actor, scoped ones carrying
the application."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group

from audit.models import AuditEvent
from deployments.models import RoleGrant
from deployments.roles import role_grant, role_revoke
from tests.factories import ApplicationFactory

pytestmark = pytest.mark.django_db


def test_it_records_a_grant_and_a_revocation_in_the_admin(client_for, admin_user, make_user):
    erin = make_user(username="erin")
    application = ApplicationFactory(application_id="app9999", name="billing")
    client = client_for(admin_user)

    client.post(
        "/admin/deployments/rolegrant/add/",
        {"user": erin.pk, "group": Group.objects.get(name="approver").pk, "application": application.pk},
    )
    grant = RoleGrant.objects.get(user=erin)
    client.post(f"/admin/deployments/rolegrant/{grant.pk}/delete/", {"post": "yes"})

    events = list(AuditEvent.objects.filter(action__startswith="role.").order_by("id"))
    assert [(e.action, e.source, e.actor_username, e.application_id) for e in events] == [
        ("role.granted", "admin", "admin", "app9999"),
        ("role.revoked", "admin", "admin", "app9999"),
    ]
    assert events[0].target_label == "approver for erin on billing"
    assert json.loads(events[1].details)["all_applications"] is False


def test_it_records_nothing_when_nothing_changes(make_user):
    frank = make_user(username="frank")
    assert role_revoke(user=frank, role="viewer") == 0
    role_grant(user=frank, role="viewer")
    role_grant(user=frank, role="viewer")
    assert AuditEvent.objects.filter(action__startswith="role.").count() == 1


def test_it_rolls_back_the_event_with_a_failed_grant(make_user):
    from deployments.roles import RoleError

    with pytest.raises(RoleError):
        role_grant(user=make_user(username="gina"), role="emperor")
    assert not AuditEvent.objects.exists()
