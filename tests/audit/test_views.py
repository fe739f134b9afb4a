"""/audit/ and /audit/events/<id>/: auditors only (403 recorded for everyone else), filters in the URL,
HTMX partial, keyset pages, the verification banner, links to deployments."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent, AuditVerification
from audit.records import record
from deployments.models import Role
from tests.helpers import HX

pytestmark = pytest.mark.django_db

URL = reverse("audit_event_list")


def _ids(response) -> list[int]:
    return [event.pk for event in response.context["page"].events]


def test_it_shows_the_trail_to_an_auditor(client_for, auditor, deployment, make_user):
    record(action="sync.requested", actor=make_user(username="olga"), target=deployment, reason="hot fix")

    response = client_for(auditor).get(URL)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html and "Audit trail" in html
    assert "olga" in html and "sync.requested" in html and "hot fix" in html
    link = reverse("deployment_detail", args=["pay1234", "prod123", 7])
    assert f'href="{link}"' in html
    assert response["Vary"] and "HX-Request" in response["Vary"]


def test_it_answers_htmx_with_the_results_partial(client_for, auditor, make_events):
    make_events(3)
    response = client_for(auditor).get(URL, {"action": "sync.requested"}, headers=HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="audit-results"') and "<html" not in html
    assert len(_ids(response)) == 3


def test_it_pushes_a_clean_shareable_url_after_an_htmx_filter(client_for, auditor, make_events):
    make_events(1)
    query = {"actor": "", "action": "sync.requested", "outcome": "", "q": " x ", "deployment": ""}
    response = client_for(auditor).get(URL, query, headers=HX)
    assert response["HX-Push-Url"] == "/audit/?action=sync.requested&q=x"
    assert client_for(auditor).get(URL, headers=HX)["HX-Push-Url"] == "/audit/"


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR, Role.APPROVER])
def test_it_refuses_other_roles_and_records_the_attempt(client, make_user, role):
    user = make_user(role, username=f"just-{role}")
    client.force_login(user)

    response = client.get(URL + "?action=auth.login")

    assert response.status_code == 403
    event = AuditEvent.objects.get(action="access.denied")
    assert (event.outcome, event.actor_username) == ("denied", f"just-{role}")
    details = json.loads(event.details)
    assert details["permission"] == "audit.review_audit"
    assert (details["method"], details["path"]) == ("GET", "/audit/?action=auth.login")


def test_it_sends_anonymous_users_to_the_login_page(client):
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert not AuditEvent.objects.exists()


def test_it_lets_a_superuser_in(client_for, admin_user):
    assert client_for(admin_user).get(URL).status_code == 200


def test_it_answers_post_with_405(client_for, auditor):
    assert client_for(auditor).post(URL).status_code == 405


@pytest.mark.parametrize(
    "query",
    [
        {"deployment": "seven"},
        {"action": "stop.teleported"},
        {"outcome": "meh"},
        {"since": "yesterday"},
        {"since": "2026-11-02T10:00", "until": "2026-11-02T09:00"},
        {"before": "-3"},
        {"before": "10", "after": "2"},
        {"application": "a b"},
        {"q": "x" * 101},
    ],
)
def test_it_answers_a_bad_filter_with_400(client_for, auditor, query):
    response = client_for(auditor).get(URL, query)
    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()


def test_it_filters_by_every_field(client_for, auditor, deployment, make_user):
    olga = make_user(username="olga")
    other = make_user(username="other")
    wanted = record(action="sync.requested", actor=olga, target=deployment, reason="needle in the haystack")
    record(action="sync.requested", actor=other, target=deployment.environment)
    record(action="access.denied", outcome="denied", actor=olga)
    client = client_for(auditor)

    def ids(**query):
        return _ids(client.get(URL, query))

    assert wanted.pk in ids(actor="olga") and len(ids(actor="olga")) == 2
    assert ids(actor="olga", action="sync.requested") == [wanted.pk]
    assert ids(outcome="denied", actor="olga") != [wanted.pk]
    assert ids(application="pay1234", environment="prod123", deployment=7) == [wanted.pk]
    assert len(ids(application="pay1234", environment="prod123")) == 2
    assert ids(q="HAYSTACK") == [wanted.pk]
    assert ids(q="olga", action="sync.requested") == [wanted.pk]
    now = timezone.now()
    assert wanted.pk in ids(since=(now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S"))
    assert ids(until=(now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")) == []


def test_it_pages_by_keyset_newest_first(client_for, auditor, make_events, settings):
    settings.AUDIT_PAGE_SIZE = 10
    made = [event.pk for event in make_events(25, action="sync.requested")]
    client = client_for(auditor)

    first = client.get(URL, {"action": "sync.requested"})
    assert _ids(first) == made[::-1][:10]
    page = first.context["page"]
    assert page.newer is None and page.older == made[15]
    assert f"before={made[15]}" in first.content.decode()

    second = client.get(URL, {"action": "sync.requested", "before": page.older})
    assert _ids(second) == made[::-1][10:20]
    third = client.get(URL, {"action": "sync.requested", "before": second.context["page"].older})
    assert _ids(third) == made[::-1][20:]
    assert third.context["page"].older is None

    back = client.get(URL, {"action": "sync.requested", "after": third.context["page"].newer})
    assert _ids(back) == made[::-1][10:20]
    assert back.context["page"].newer == made[14]
    top = client.get(URL, {"action": "sync.requested", "after": back.context["page"].newer})
    assert _ids(top) == made[::-1][:10] and top.context["page"].newer is None


def test_it_keeps_filters_in_the_pager_links(client_for, auditor, make_events, settings):
    settings.AUDIT_PAGE_SIZE = 10
    make_events(11, action="role.granted")
    html = client_for(auditor).get(URL, {"action": "role.granted", "q": "a b"}).content.decode()
    assert "action=role.granted" in html
    html = client_for(auditor).get(URL, {"action": "role.granted"}).content.decode()
    assert "?action=role.granted&amp;before=" in html


def test_it_puts_the_filter_form_on_htmx_with_a_pushed_url(client_for, auditor):
    html = client_for(auditor).get(URL).content.decode()
    assert (
        'hx-get="/audit/"' in html and 'hx-push-url="true"' in html and 'hx-target="#audit-results"' in html
    )


def test_it_says_the_chain_has_not_been_verified_yet(client_for, auditor):
    assert "has not been verified yet" in client_for(auditor).get(URL).content.decode()


def test_it_shows_how_far_the_chain_was_verified(client_for, auditor):
    AuditVerification.objects.create(
        checked_at=timezone.now(), ok=True, event_count=42, last_event_id=42, last_sequence=42, source="beat"
    )
    html = client_for(auditor).get(URL).content.decode()
    assert "Verified up to event 42" in html


def test_it_alerts_loudly_when_the_chain_is_broken(client_for, auditor):
    AuditVerification.objects.create(
        checked_at=timezone.now(),
        ok=False,
        first_bad_id=17,
        problem="changed: its content ...",
        source="beat",
    )
    html = client_for(auditor).get(URL).content.decode()
    assert 'role="alert"' in html and "Audit chain broken at event 17" in html


def test_it_alerts_when_verification_is_overdue(client_for, auditor, settings):
    AuditVerification.objects.create(
        checked_at=timezone.now() - timedelta(seconds=10 * settings.AUDIT_VERIFY_INTERVAL_SECONDS),
        ok=True,
        event_count=1,
        last_event_id=1,
        last_sequence=1,
        source="beat",
    )
    html = client_for(auditor).get(URL).content.decode()
    assert 'role="alert"' in html and "overdue" in html


# ---------------------------------------------------------------------------------------------------------
# One event


def test_it_shows_one_events_detail(client_for, auditor, deployment, make_user):
    event = record(
        action="sync.requested", actor=make_user(username="olga"), target=deployment, details={"k": "v"}
    )
    response = client_for(auditor).get(reverse("audit_event_detail", args=[event.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert event.hash in html and event.prev_hash in html
    assert "&quot;k&quot;: &quot;v&quot;" in html
    assert reverse("deployment_detail", args=["pay1234", "prod123", 7]) in html


def test_it_answers_404_for_an_unknown_event(client_for, auditor):
    assert client_for(auditor).get(reverse("audit_event_detail", args=[999999])).status_code == 404


def test_it_refuses_an_events_detail_to_a_viewer(client_for, viewer, make_events):
    event = make_events(1)[0]
    assert client_for(viewer).get(reverse("audit_event_detail", args=[event.pk])).status_code == 403
    assert AuditEvent.objects.filter(action="access.denied", actor_username="viewer").count() == 1


def test_it_escapes_what_users_typed(client_for, auditor):
    record(action="auth.login_failed", outcome="failed", target={"label": "<script>alert(1)</script>"})
    html = client_for(auditor).get(URL).content.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


# ---------------------------------------------------------------------------------------------------------
# Admin


def test_it_keeps_the_admin_read_only(client_for, admin_user, make_events):
    event = make_events(1)[0]
    client = client_for(admin_user)
    assert client.get("/admin/audit/auditevent/").status_code == 200
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    assert client.get(f"/admin/audit/auditevent/{event.pk}/delete/").status_code == 403
    change = client.get(f"/admin/audit/auditevent/{event.pk}/change/")
    assert change.status_code == 200 and 'name="_save"' not in change.content.decode()


def test_it_filters_a_time_range_exactly(client_for, auditor, monkeypatch):
    from audit import records

    client = client_for(auditor)
    # After every event the fixtures wrote: time never goes backwards along the chain.
    base = (timezone.now() + timedelta(days=1)).replace(second=30, microsecond=0)
    made = []
    for minute in range(6):
        stamp = base + timedelta(minutes=minute)
        monkeypatch.setattr(records.timezone, "now", lambda stamp=stamp: stamp)
        made.append(record(action="sync.requested").pk)
    monkeypatch.undo()

    def ids(**query):
        return sorted(_ids(client.get(URL, {"action": "sync.requested", **query})))

    def at(minute: int, second: int = 0) -> str:
        return (base.replace(second=0) + timedelta(minutes=minute, seconds=second)).strftime(
            "%Y-%m-%dT%H:%M:%S"
        )

    assert ids(since=at(2), until=at(4, 30)) == made[2:5]
    assert ids(since=at(5, 30)) == made[5:]
    assert ids(since=at(0), until=at(0, 29)) == []
    assert ids(since=at(60)) == []
