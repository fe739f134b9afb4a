"""Session lifetime (security review, issue 12, finding 3: sessions lasted two weeks with no idle timeout).

A session inactive for longer than SESSION_IDLE_TIMEOUT (30 minutes), or older than
SESSION_ABSOLUTE_LIFETIME (12 hours), is ended: the user is signed out and sent to the sign-in page with a
message, and the audit trail records a logout with the reason. Only what the person does counts as
activity: page loads, form posts, and htmx requests that console.js marks as theirs. Background polls do
not, so a page left open, polling, still times out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
from django.urls import reverse

from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
POLL = {"HX-Request": "true"}
PERSONS_HTMX = {"HX-Request": "true", "X-Console-Activity": "user"}


@pytest.fixture
def clock(monkeypatch):
    """`clock.advance(minutes=...)` moves time.time() forward for the code under test."""
    real = time.time
    state = SimpleNamespace(offset=0.0)
    monkeypatch.setattr(time, "time", lambda: real() + state.offset)

    def advance(*, minutes: float = 0, hours: float = 0) -> None:
        state.offset += minutes * 60 + hours * 3600

    state.advance = advance
    return state


@pytest.fixture
def signed_in(client, viewer, clock):
    response = client.post(reverse("login"), {"username": "viewer", "password": PASSWORD})
    assert response.status_code == 302
    return client


def _is_signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_it_signs_out_a_session_idle_longer_than_the_timeout(signed_in, clock):
    clock.advance(minutes=31)

    response = signed_in.get("/applications/")

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/applications/"
    assert not _is_signed_in(signed_in)
    page = signed_in.get(response["Location"]).content.decode()
    assert "You were signed out after 30 minutes without activity" in page


def test_it_keeps_a_session_alive_while_the_person_uses_it(signed_in, clock):
    for _ in range(4):
        clock.advance(minutes=25)
        assert signed_in.get("/").status_code == 200
    assert _is_signed_in(signed_in)


def test_it_does_not_count_background_polls_as_activity(signed_in, clock):
    for _ in range(5):
        clock.advance(minutes=5)
        assert signed_in.get("/", headers=POLL).status_code == 200
    clock.advance(minutes=6)  # 31 minutes since the person last did something

    response = signed_in.get("/", headers=POLL | {"HX-Current-URL": "http://testserver/"})

    # The whole page goes to the sign-in page, instead of the sign-in page being swapped into the region.
    assert response["HX-Redirect"] == f"{reverse('login')}?next=/"
    assert not _is_signed_in(signed_in)


def test_it_counts_htmx_requests_the_person_made(signed_in, clock):
    for _ in range(3):
        clock.advance(minutes=20)
        assert signed_in.get("/applications/", headers=PERSONS_HTMX).status_code == 200
    assert _is_signed_in(signed_in)


def test_it_ends_a_session_at_its_absolute_lifetime_however_active(signed_in, clock):
    for _ in range(35):  # every 20 minutes for 11 h 40
        clock.advance(minutes=20)
        assert signed_in.get("/").status_code == 200
    clock.advance(minutes=21)

    response = signed_in.get("/")

    assert response.status_code == 302
    page = signed_in.get(response["Location"]).content.decode()
    assert "a session lasts at most 12 hours" in page


def test_it_records_the_end_of_a_session_as_a_logout_with_the_reason(signed_in, clock, viewer):
    clock.advance(minutes=31)
    signed_in.get("/", headers={"User-Agent": "Browser/2"})

    event = AuditEvent.objects.filter(action__startswith="auth.").order_by("-id").first()
    assert (event.action, event.outcome, event.actor_username) == ("auth.logout", "success", "viewer")
    assert event.reason == "no activity for 31 minutes (SESSION_IDLE_TIMEOUT: 30 minutes)"
    assert json.loads(event.details) == {"cause": "idle_timeout"}
    assert event.user_agent == "Browser/2"


def test_it_records_a_sign_out_by_the_person_without_a_cause(signed_in):
    signed_in.post(reverse("logout"))

    event = AuditEvent.objects.order_by("-id").first()
    assert (event.action, event.reason, json.loads(event.details)) == ("auth.logout", "", {})


def test_it_leaves_the_probes_and_the_sign_in_page_to_anonymous_visitors(client, clock):
    clock.advance(hours=13)
    assert client.get("/healthz").status_code == 200
    assert client.get(reverse("login")).status_code == 200


def test_it_sends_an_htmx_request_without_a_session_to_the_sign_in_page_as_a_whole_page(client, db):
    response = client.get("/?v=3", headers=POLL | {"HX-Current-URL": "http://testserver/applications/"})

    assert response.status_code == 200
    assert response["HX-Redirect"] == f"{reverse('login')}?next=/applications/"


def _check(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PORTAL_", "SESSION_"))}
    code = "from django.conf import settings as s; print(s.SESSION_IDLE_TIMEOUT, s.SESSION_COOKIE_AGE)"
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        env={**clean, "DJANGO_SECRET_KEY": "x" * 50, **env},
        capture_output=True,
        text=True,
    )


def test_it_reads_the_session_limits_from_the_environment():
    assert _check({}).stdout.split() == ["1800", "43200"]
    configured = _check({"SESSION_IDLE_TIMEOUT": "600", "SESSION_ABSOLUTE_LIFETIME": "3600"})
    assert configured.stdout.split() == ["600", "3600"]

    malformed = _check({"SESSION_IDLE_TIMEOUT": "half an hour"})
    assert malformed.returncode == 1 and malformed.stderr.startswith("error: SESSION_IDLE_TIMEOUT")
    inverted = _check({"SESSION_IDLE_TIMEOUT": "3600", "SESSION_ABSOLUTE_LIFETIME": "600"})
    assert inverted.returncode == 1
    assert inverted.stderr.startswith("error: SESSION_ABSOLUTE_LIFETIME must be at least")
