"""The admin changes who may do what only with a record in the audit trail, or not at all."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth.management.commands import changepassword
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db.models import ProtectedError
from django.urls import reverse

from audit.models import AuditEvent
from deployments.models import Environment, Role, RoleGrant
from tests.factories import EnvironmentFactory, UserFactory

pytestmark = pytest.mark.django_db


def _details(event) -> dict:
    return json.loads(event.details)


def test_it_records_a_stop_policy_change_with_before_and_after(client, admin_user):
    """Protects against `approvals_required` set to 0 in the admin leaving no audit event."""
    environment = EnvironmentFactory(name="prod", approvals_required=2)
    client.force_login(admin_user)
    url = reverse("admin:deployments_environment_change", args=[environment.pk])

    response = client.post(url, {"approvals_required": 0, "is_critical": "on"})

    assert response.status_code == 302
    environment.refresh_from_db()
    assert environment.approvals_required == 0 and environment.is_critical
    event = AuditEvent.objects.get(action="policy.changed")
    assert event.actor_username == "admin" and event.source == "admin"
    assert event.environment_id == environment.environment_id
    assert _details(event) == {
        "approvals_required": {"before": 2, "after": 0},
        "is_critical": {"before": False, "after": True},
    }
    client.post(url, {"approvals_required": 0, "is_critical": "on"})  # nothing changes: nothing recorded
    assert AuditEvent.objects.filter(action="policy.changed").count() == 1


def test_it_records_a_user_made_superuser(client, admin_user):
    """Protects against ticking is_superuser in the admin leaving no audit event."""
    user = UserFactory(username="mallory")
    client.force_login(admin_user)
    url = reverse("admin:auth_user_change", args=[user.pk])
    form = {
        "username": "mallory",
        "is_active": "on",
        "is_superuser": "on",
        "groups": [Group.objects.get(name=Role.APPROVER).pk],
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "initial-date_joined_0": "2026-01-01",
        "initial-date_joined_1": "00:00:00",
    }

    response = client.post(url, form)

    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.get(action="user.changed")
    details = _details(event)
    assert event.actor_username == "admin" and details["user"] == "mallory"
    assert details["is_superuser"] == {"before": False, "after": True}
    assert details["groups"] == {"before": [], "after": [Role.APPROVER]}


def test_it_shows_the_role_groups_read_only(client, admin_user):
    """Protects against `approve_stop` added to the viewer group in the admin, unrecorded."""
    viewer = Group.objects.get(name=Role.VIEWER)
    before = set(viewer.permissions.values_list("codename", flat=True))
    client.force_login(admin_user)

    change = client.post(reverse("admin:auth_group_change", args=[viewer.pk]), {"name": "viewer"})
    delete = client.post(reverse("admin:auth_group_delete", args=[viewer.pk]), {"post": "yes"})
    add = client.post(reverse("admin:auth_group_add"), {"name": "sneaky"})

    assert change.status_code == 403 and delete.status_code == 403 and add.status_code == 403
    assert set(viewer.permissions.values_list("codename", flat=True)) == before
    assert client.get(reverse("admin:auth_group_change", args=[viewer.pk])).status_code == 200  # viewable


def test_it_refuses_to_delete_a_group_that_grants_roles(make_user):
    """Protects against a deleted role group cascading to its grants without role.revoked events."""
    make_user(Role.OPERATOR, username="ops")
    with pytest.raises(ProtectedError):
        Group.objects.get(name=Role.OPERATOR).delete()
    assert RoleGrant.objects.filter(user__username="ops").exists()


def test_it_keeps_the_environment_unchanged_on_an_invalid_policy(client, admin_user):
    environment = EnvironmentFactory(approvals_required=1)
    client.force_login(admin_user)
    url = reverse("admin:deployments_environment_change", args=[environment.pk])
    response = client.post(url, {"approvals_required": 9})
    assert response.status_code == 200  # the form again, with its error
    assert Environment.objects.get(pk=environment.pk).approvals_required == 1
    assert not AuditEvent.objects.filter(action="policy.changed").exists()


def test_it_records_a_superuser_made_from_the_shell(monkeypatch):
    """Protects against `manage.py createsuperuser` making an all-powerful user with no audit event."""
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-shell-password-42")
    call_command("createsuperuser", username="root", email="root@example.com", interactive=False, verbosity=0)

    event = AuditEvent.objects.get(action="user.changed")
    details = _details(event)
    assert event.source == "command" and details["user"] == "root"
    assert details["created"] is True and details["is_superuser"] is True
    assert details["os_user"]  # who ran it, as the operating system knows


def test_it_records_a_password_set_from_the_shell(monkeypatch):
    """Protects against `manage.py changepassword` resetting someone's password unrecorded."""
    UserFactory(username="mallory")
    monkeypatch.setattr(
        changepassword.Command, "_get_pass", lambda self, prompt=None: "a-long-new-password-42"
    )
    call_command("changepassword", "mallory", stdout=StringIO())

    event = AuditEvent.objects.get(action="user.changed")
    assert event.source == "command" and _details(event)["password"] == "changed"
    with pytest.raises(CommandError, match="does not exist"):
        call_command("changepassword", "nobody", stdout=StringIO())
    assert AuditEvent.objects.filter(action="user.changed").count() == 1
