"""Logins, failed logins and logouts, through Django's auth signals: one event each (a failed login: the first
of its throttle window, see tests/test_security_login.py), the admin's login page included; a failed login
keeps the username tried and never the password."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def _auth_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action__startswith="auth.").order_by("id"))


def test_it_records_a_login(client, viewer):
    response = client.post(
        reverse("login"),
        {"username": "viewer", "password": PASSWORD},
        headers={"User-Agent": "Browser/1"},
        REMOTE_ADDR="198.51.100.20",
    )
    assert response.status_code == 302
    [event] = _auth_events()
    assert (event.action, event.outcome, event.source) == ("auth.login", "success", "web")
    assert (event.actor_id, event.actor_username) == (viewer.pk, "viewer")
    assert (event.ip, event.user_agent) == ("198.51.100.20", "Browser/1")
    assert event.request_id == response["X-Request-ID"]


def test_it_records_a_failed_login_without_the_password(client, viewer):
    response = client.post(reverse("login"), {"username": "viewer", "password": "wrong-Secret-9"})
    assert response.status_code == 200
    [event] = _auth_events()
    assert (event.action, event.outcome) == ("auth.login_failed", "failed")
    assert (event.actor_id, event.actor_username) == (None, "anonymous")
    assert json.loads(event.details) == {"username": "viewer"}
    assert event.target_label == "viewer"
    stored = " ".join(str(value) for value in AuditEvent.objects.filter(pk=event.pk).values().get().values())
    assert "wrong-Secret-9" not in stored


def test_it_bounds_the_username_of_a_failed_login(client, db):
    client.post(reverse("login"), {"username": "u" * 5000, "password": "x"})
    [event] = _auth_events()
    assert len(json.loads(event.details)["username"]) <= 150


def test_it_records_a_logout(client, viewer):
    client.post(reverse("login"), {"username": "viewer", "password": PASSWORD})
    client.post(reverse("logout"))
    assert [(e.action, e.actor_username) for e in _auth_events()] == [
        ("auth.login", "viewer"),
        ("auth.logout", "viewer"),
    ]


def test_it_records_nothing_for_a_logout_without_a_login(client, db):
    client.post(reverse("logout"))
    assert _auth_events() == []


def test_it_records_admin_logins_as_admin(client, admin_user):
    response = client.post(
        reverse("admin:login"), {"username": "admin", "password": PASSWORD, "next": "/admin/"}
    )
    assert response.status_code == 302
    client.post(reverse("admin:login"), {"username": "admin", "password": "nope"})
    assert [(e.action, e.source) for e in _auth_events()] == [
        ("auth.login", "admin"),
        ("auth.login_failed", "admin"),
    ]
