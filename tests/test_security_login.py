"""Login throttling (security review, issue 12, finding 1: 50 wrong passwords in 28 s were all answered 200,
the right one then worked, and each failure added a permanent audit row).

Wrong passwords lock out the username and, separately, the client address (as the audit trail resolves it,
TRUSTED_PROXIES included) for a cool-off; the lockout is a clear 429 page; the audit trail gets a small,
fixed number of rows per attacker and window instead of one per attempt; lockouts and unlocks are audited.
"""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import F
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
LIMIT = 5  # AXES_FAILURE_LIMIT's default (LOGIN_FAILURE_LIMIT)


def _attempt(client, username: str, password: str = "wrong-password", **extra):
    return client.post(reverse("login"), {"username": username, "password": password}, **extra)


def _auth_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action__startswith="auth.").order_by("id"))


def _lock_out(client, username: str = "viewer", **extra) -> None:
    for _ in range(LIMIT):
        _attempt(client, username, **extra)


def _age_attempts(minutes: int) -> None:
    from axes.models import AccessAttempt

    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=minutes))


def test_it_locks_a_username_out_after_five_wrong_passwords(client, viewer):
    statuses = [_attempt(client, "viewer").status_code for _ in range(LIMIT)]
    assert statuses == [200] * (LIMIT - 1) + [429]

    assert _attempt(client, "viewer", PASSWORD).status_code == 429
    assert client.get("/").status_code == 302  # the right password did not sign in


def test_it_locks_a_username_out_whatever_addresses_the_attempts_come_from(client, viewer):
    for n in range(LIMIT):
        _attempt(client, "viewer", REMOTE_ADDR=f"198.51.100.{n + 1}")

    assert _attempt(client, "viewer", PASSWORD, REMOTE_ADDR="203.0.113.50").status_code == 429


def test_it_locks_out_a_client_address_that_tries_many_usernames(client, viewer):
    for n in range(LIMIT):
        _attempt(client, f"guess{n}", REMOTE_ADDR="198.51.100.9")

    assert _attempt(client, "viewer", PASSWORD, REMOTE_ADDR="198.51.100.9").status_code == 429
    assert _attempt(client, "viewer", PASSWORD, REMOTE_ADDR="198.51.100.10").status_code == 302


def test_it_answers_a_locked_out_client_with_a_clear_page_not_an_error(client, viewer):
    _lock_out(client)

    response = _attempt(client, "viewer")
    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    assert response["Content-Type"].startswith("text/html")
    text = response.content.decode()
    assert "Too many failed sign-in attempts" in text
    assert "15 minutes" in text
    assert 'name="password"' not in text  # nothing to type into while locked out


def test_it_throttles_the_admin_login_page_too(client, admin_user):
    for _ in range(LIMIT):
        client.post(reverse("admin:login"), {"username": "admin", "password": "nope"})

    response = client.post(
        reverse("admin:login"), {"username": "admin", "password": PASSWORD, "next": "/admin/"}
    )
    assert response.status_code == 429
    assert b"Too many failed sign-in attempts" in response.content


def test_it_lets_the_user_in_again_after_the_cool_off(client, viewer):
    _lock_out(client)
    _age_attempts(minutes=16)

    assert _attempt(client, "viewer", PASSWORD).status_code == 302


def test_it_forgets_a_users_own_failures_once_they_sign_in(client, viewer):
    for _round in range(2):
        for _ in range(LIMIT - 1):
            assert _attempt(client, "viewer").status_code == 200
        assert _attempt(client, "viewer", PASSWORD).status_code == 302
        client.post(reverse("logout"))


def test_it_keeps_an_addresses_failures_on_other_accounts_when_it_signs_in_itself(client, viewer, make_user):
    # An insider must not reset the throttle on someone else's account by signing in to their own.
    make_user(None, username="target")
    for _ in range(LIMIT - 1):
        _attempt(client, "target", REMOTE_ADDR="198.51.100.7")
    assert _attempt(client, "viewer", PASSWORD, REMOTE_ADDR="198.51.100.7").status_code == 302
    client.post(reverse("logout"), REMOTE_ADDR="198.51.100.7")

    assert _attempt(client, "target", REMOTE_ADDR="198.51.100.7").status_code == 429


def test_it_counts_an_overlong_username_without_failing(client, db):
    statuses = [_attempt(client, "u" * 5000).status_code for _ in range(LIMIT)]
    assert statuses[-1] == 429


# ---------------------------------------------------------------------------------------------------------
# The client address: the audit trail's (TRUSTED_PROXIES), so a forged X-Forwarded-For changes nothing


def test_it_throttles_the_client_behind_a_trusted_proxy_not_the_proxy(client, viewer, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    for n in range(LIMIT):
        _attempt(client, f"guess{n}", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.7")

    def from_client(address: str):
        return _attempt(client, "viewer", PASSWORD, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=address)

    assert from_client("198.51.100.7").status_code == 429
    assert from_client("198.51.100.8").status_code == 302


def test_it_ignores_a_forwarded_for_header_from_an_untrusted_client(client, viewer, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    for n in range(LIMIT):
        _attempt(client, f"guess{n}", REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")

    forged = {"REMOTE_ADDR": "203.0.113.5", "HTTP_X_FORWARDED_FOR": "192.0.2.1"}
    assert _attempt(client, "viewer", PASSWORD, **forged).status_code == 429


# ---------------------------------------------------------------------------------------------------------
# The audit trail: bounded rows per attacker and window; lockouts and unlocks recorded


def test_it_writes_two_audit_rows_for_fifty_wrong_passwords_not_fifty(client, viewer):
    for _ in range(50):
        _attempt(client, "viewer", REMOTE_ADDR="198.51.100.7")

    assert [(e.action, e.outcome) for e in _auth_events()] == [
        ("auth.login_failed", "failed"),
        ("auth.locked_out", "denied"),
    ]


def test_it_bounds_the_audit_rows_of_an_address_trying_many_usernames(client, db):
    for n in range(50):
        _attempt(client, f"user{n}", REMOTE_ADDR="198.51.100.7")

    assert len(_auth_events()) == 2


def test_it_records_the_lockout_with_its_count_username_and_address(client, viewer):
    _lock_out(client, REMOTE_ADDR="198.51.100.7", headers={"User-Agent": "Hammer/1"})

    [failed, locked] = _auth_events()
    assert json.loads(failed.details) == {"username": "viewer"}
    assert (locked.action, locked.outcome, locked.source) == ("auth.locked_out", "denied", "web")
    assert (locked.actor_id, locked.actor_username, locked.target_label) == (None, "anonymous", "viewer")
    assert (locked.ip, locked.user_agent) == ("198.51.100.7", "Hammer/1")
    assert json.loads(locked.details) == {
        "username": "viewer",
        "failures": LIMIT,
        "failure_limit": LIMIT,
        "cool_off_seconds": 900,
    }


def test_it_records_a_new_window_after_the_cool_off(client, viewer):
    _attempt(client, "viewer")
    _age_attempts(minutes=16)
    _attempt(client, "viewer")

    assert [e.action for e in _auth_events()] == ["auth.login_failed", "auth.login_failed"]


def test_it_records_an_unlock_by_the_axes_reset_command(client, viewer):
    _lock_out(client, REMOTE_ADDR="198.51.100.7")

    call_command("axes_reset_username", "viewer", stdout=StringIO())

    unlocked = _auth_events()[-1]
    assert (unlocked.action, unlocked.outcome, unlocked.source) == ("auth.unlocked", "success", "command")
    assert (unlocked.actor_id, unlocked.target_label) == (None, "viewer")
    details = json.loads(unlocked.details)
    assert details["username"] == "viewer"
    assert details["ip_address"] == "198.51.100.7"
    assert details["failures"] == LIMIT and details["was_locked_out"] is True
    assert _attempt(client, "viewer", PASSWORD, REMOTE_ADDR="198.51.100.7").status_code == 302


def test_it_records_an_unlock_in_the_admin(client, viewer, admin_user):
    from axes.models import AccessAttempt

    _lock_out(client, REMOTE_ADDR="198.51.100.7")
    attempt = AccessAttempt.objects.get()
    admin = Client()
    admin.force_login(admin_user)

    response = admin.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    unlocked = _auth_events()[-1]
    assert (unlocked.action, unlocked.source) == ("auth.unlocked", "admin")
    assert (unlocked.actor_id, unlocked.actor_username) == (admin_user.pk, "admin")


def test_it_records_no_unlock_when_a_window_expires_or_the_user_signs_in(client, viewer):
    _attempt(client, "viewer")
    _attempt(client, "viewer", PASSWORD)  # resets this user's failures
    client.post(reverse("logout"))
    _attempt(client, "nobody")
    _age_attempts(minutes=16)
    _attempt(client, "nobody")  # the expired attempt is cleaned up

    assert "auth.unlocked" not in [e.action for e in _auth_events()]
