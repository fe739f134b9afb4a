"""The stop views: dialog, live panel, approval queue and the approve / reject / cancel actions. A
permission matrix over every role (scoped and unscoped) and anonymous, per the action-view checklist."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from deployments.models import Deployment, Role, StopRequest, StopStatus
from stops import services
from tests.factories import (
    AccountFactory,
    ApplicationFactory,
    DeploymentFactory,
    EnvironmentFactory,
    RoleGrantFactory,
    StopRequestFactory,
)
from tests.helpers import HX, deployment_url

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_broker(published):
    """Nothing is published to a broker in these tests."""


@pytest.fixture
def deployment():
    environment = EnvironmentFactory(name="prod", approvals_required=1)
    return DeploymentFactory(environment=environment, state="DEPLOYING", percentage_complete=40.0)


def _ids(deployment) -> list:
    environment = deployment.environment
    return [environment.application.application_id, environment.environment_id, deployment.deployment_number]


def _stop_url(deployment) -> str:
    return reverse("stop_dialog", args=_ids(deployment))


def _request(deployment, user, **fields) -> StopRequest:
    return services.stop_request_create(deployment=deployment, user=user, reason="error rate", **fields)


# Who may do what: role -> (may request, may approve)
MATRIX = {
    Role.VIEWER: (False, False),
    Role.OPERATOR: (True, False),
    Role.APPROVER: (False, True),
    Role.AUDITOR: (False, False),
    Role.BREAK_GLASS: (True, False),
}


@pytest.mark.parametrize("role", list(MATRIX))
@pytest.mark.parametrize("scoped", [False, True], ids=["all-applications", "this-application"])
def test_it_lets_only_requesters_post_a_stop(client, make_user, deployment, role, scoped):
    application = deployment.environment.application if scoped else None
    user = make_user(role, username=f"{role}-{scoped}", application=application)
    client.force_login(user)

    response = client.post(_stop_url(deployment), {"kind": "stop", "reason": "error rate up"})

    may_request, _ = MATRIX[role]
    if may_request:
        assert response.status_code == 302
        assert StopRequest.objects.filter(deployment=deployment, requested_by=user).exists()
        assert AuditEvent.objects.filter(action="stop.requested", actor_username=user.username).count() == 1
    else:
        assert response.status_code == 403
        assert not StopRequest.objects.exists()
        denied = AuditEvent.objects.get(action="access.denied")
        assert denied.actor_username == user.username
        assert denied.outcome == "denied"


@pytest.mark.parametrize("role", list(MATRIX))
@pytest.mark.parametrize("scoped", [False, True], ids=["all-applications", "this-application"])
def test_it_lets_only_break_glass_stop_without_approval(client, make_user, deployment, role, scoped):
    application = deployment.environment.application if scoped else None
    user = make_user(role, username=f"{role}-{scoped}", application=application)
    client.force_login(user)

    response = client.post(_stop_url(deployment), {"kind": "stop", "reason": "outage", "break_glass": "on"})

    if role == Role.BREAK_GLASS:
        assert response.status_code == 302
        stop_request = StopRequest.objects.get(deployment=deployment)
        assert stop_request.break_glass and stop_request.status == StopStatus.APPROVED
    else:
        assert response.status_code == 403
        assert not StopRequest.objects.exists()
        assert AuditEvent.objects.filter(action="access.denied", actor_username=user.username).count() == 1


@pytest.mark.parametrize("action", ["approve", "reject"])
@pytest.mark.parametrize("role", list(MATRIX))
def test_it_lets_only_approvers_decide(client, make_user, operator, deployment, role, action):
    stop_request = _request(deployment, operator)
    user = make_user(role, username=f"decider-{role}")
    client.force_login(user)

    url = reverse(f"stop_request_{action}", args=[stop_request.pk])
    response = client.post(url, {"comment": "ok"})

    stop_request.refresh_from_db()
    _, may_approve = MATRIX[role]
    if may_approve:
        assert response.status_code == 302
        assert stop_request.status == {"approve": StopStatus.APPROVED, "reject": StopStatus.REJECTED}[action]
    else:
        assert response.status_code == 403
        assert stop_request.status == StopStatus.PENDING
        assert AuditEvent.objects.filter(action="access.denied", actor_username=user.username).count() == 1


def test_it_hides_deployments_and_requests_of_other_applications(client, make_user, operator, deployment):
    stop_request = _request(deployment, operator)
    other = ApplicationFactory()
    scoped_elsewhere = make_user(Role.APPROVER, username="elsewhere", application=other)
    client.force_login(scoped_elsewhere)

    assert client.get(_stop_url(deployment)).status_code == 404
    assert client.post(reverse("stop_request_approve", args=[stop_request.pk]), {}).status_code == 404
    stop_request.refresh_from_db()
    assert stop_request.status == StopStatus.PENDING


def test_it_sends_anonymous_users_to_login(client, operator, deployment):
    stop_request = _request(deployment, operator)
    for url in (
        _stop_url(deployment),
        reverse("stop_request_approve", args=[stop_request.pk]),
        "/stop-requests/",
    ):
        response = client.post(url, {"reason": "x", "kind": "stop"})
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    assert StopRequest.objects.count() == 1


@pytest.mark.parametrize("name", ["stop_request_approve", "stop_request_reject", "stop_request_cancel"])
def test_it_refuses_get_on_actions(client, approver, operator, deployment, name):
    stop_request = _request(deployment, operator)
    client.force_login(approver)
    assert client.get(reverse(name, args=[stop_request.pk])).status_code == 405


def test_it_refuses_posts_without_a_csrf_token(operator, approver, deployment):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(operator)
    assert strict.post(_stop_url(deployment), {"kind": "stop", "reason": "x"}).status_code == 403
    assert not StopRequest.objects.exists()


def test_it_shows_the_dialog_with_a_preview(client, operator, deployment):
    client.force_login(operator)

    page = client.get(_stop_url(deployment))
    partial = client.get(_stop_url(deployment), HTTP_HX_REQUEST="true")

    assert page.status_code == 200
    assert b"<html" in page.content
    assert b"ROLLED_BACK" in page.content
    assert b"1 approver" in page.content
    assert partial.status_code == 200
    assert b"<html" not in partial.content
    assert b'role="dialog"' in partial.content


def test_it_requires_a_reason_and_the_critical_confirmation(client, operator, deployment):
    environment = deployment.environment
    environment.is_critical = True
    environment.save()
    client.force_login(operator)

    missing = client.post(_stop_url(deployment), {"kind": "stop", "reason": ""})
    unconfirmed = client.post(_stop_url(deployment), {"kind": "stop", "reason": "bad"})
    confirmed = client.post(_stop_url(deployment), {"kind": "stop", "reason": "bad", "confirmation": "prod"})

    assert missing.status_code == 400
    assert unconfirmed.status_code == 400
    assert b"type its name to confirm" in unconfirmed.content
    assert confirmed.status_code == 302
    assert StopRequest.objects.count() == 1


def test_it_answers_an_htmx_post_with_a_client_redirect(client, operator, deployment):
    client.force_login(operator)
    response = client.post(_stop_url(deployment), {"kind": "stop", "reason": "bad"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response["HX-Redirect"].endswith(f"/deployments/{deployment.deployment_number}/")


def test_it_changes_nothing_on_a_repeated_post(client, operator, approver, deployment):
    client.force_login(operator)
    client.post(_stop_url(deployment), {"kind": "stop", "reason": "bad"})
    again = client.post(_stop_url(deployment), {"kind": "stop", "reason": "bad"})
    assert again.status_code == 409
    assert StopRequest.objects.count() == 1

    stop_request = StopRequest.objects.get()
    client.force_login(approver)
    url = reverse("stop_request_approve", args=[stop_request.pk])
    assert client.post(url, {}).status_code == 302
    assert client.post(url, {}).status_code == 409
    assert AuditEvent.objects.filter(action="stop.approved").count() == 1


def test_it_refuses_self_approval_in_the_browser(client, make_user, deployment):
    both = make_user(Role.OPERATOR, username="both")
    from deployments.roles import role_grant

    role_grant(user=both, role=Role.APPROVER)
    stop_request = _request(deployment, both)
    client.force_login(both)
    response = client.post(reverse("stop_request_approve", args=[stop_request.pk]), {})
    assert response.status_code == 403
    assert b"two-person rule" in response.content


def test_it_lets_the_requester_cancel_and_no_one_else(client, operator, make_user, deployment):
    stop_request = _request(deployment, operator)
    other = make_user(Role.OPERATOR, username="other")
    client.force_login(other)
    assert client.post(reverse("stop_request_cancel", args=[stop_request.pk])).status_code == 403
    client.force_login(operator)
    assert client.post(reverse("stop_request_cancel", args=[stop_request.pk])).status_code == 302
    stop_request.refresh_from_db()
    assert stop_request.status == StopStatus.CANCELLED


def test_it_lists_what_waits_for_an_approver(client, operator, approver, deployment):
    stop_request = _request(deployment, operator)
    client.force_login(approver)
    page = client.get("/stop-requests/")
    assert page.status_code == 200
    assert f"#{stop_request.pk}".encode() in page.content
    assert b"Waiting for your approval (1)" in page.content
    partial = client.get("/stop-requests/", HTTP_HX_REQUEST="true")
    assert b"<html" not in partial.content

    client.force_login(operator)
    assert b"Waiting for your approval (0)" in client.get("/stop-requests/").content


def test_it_polls_the_panel_with_204_when_unchanged(client, operator, approver, deployment):
    stop_request = _request(deployment, operator)
    client.force_login(operator)
    url = reverse("stop_panel", args=_ids(deployment))

    first = client.get(url)
    assert first.status_code == 200
    version = f"{stop_request.pk}.{stop_request.version}.{deployment.version}"
    assert f"?v={version}".encode() in first.content
    assert client.get(url, {"v": version}).status_code == 204

    services.stop_request_approve(stop_request=stop_request, user=approver)
    changed = client.get(url, {"v": version})
    assert changed.status_code == 200
    assert b"Approved" in changed.content


def test_it_stops_polling_the_panel_once_all_is_over(client, operator, deployment):
    stop_request = _request(deployment, operator)
    services.stop_request_cancel(stop_request=stop_request, user=operator)
    deployment.state = "ROLLED_BACK"
    deployment.save()
    client.force_login(operator)
    response = client.get(reverse("stop_panel", args=_ids(deployment)))
    assert response.status_code == 286
    assert b"hx-trigger" not in response.content


def test_it_rejects_a_malformed_panel_version(client, operator, deployment):
    client.force_login(operator)
    assert client.get(reverse("stop_panel", args=_ids(deployment)), {"v": "<script>"}).status_code == 400


def test_it_tells_an_approver_on_the_dashboard_how_many_requests_wait(client, operator, approver, deployment):
    client.force_login(approver)
    assert b"wait for your approval" not in client.get("/").content
    _request(deployment, operator)
    page = client.get("/")
    assert b"1 stop request waits for your approval" in page.content
    client.force_login(operator)
    assert b"wait for your approval" not in client.get("/").content


def test_it_polls_the_queue_with_204_until_something_changes(client, operator, approver, deployment):
    waiting = StopRequestFactory(deployment=deployment, requested_by=operator)
    client.force_login(approver)
    page = client.get(reverse("stop_request_queue"))
    version = page.context["version"]
    assert f"?v={version}" in page.content.decode()
    poll = f"{reverse('stop_request_queue')}?v={version}"

    assert client.get(poll, headers=HX).status_code == 204  # nothing changed
    assert client.get(poll).status_code == 200  # a plain GET (a refresh) always gets the page

    services.stop_request_approve(stop_request=waiting, user=approver)
    changed = client.get(poll, headers=HX)
    assert changed.status_code == 200 and changed.context["version"] != version
    assert "Nothing waits for you." in changed.content.decode()


def test_it_counts_a_request_in_the_viewers_queue_only_where_they_may_decide(client, make_user, operator):
    mine = StopRequestFactory(requested_by=operator)
    elsewhere = StopRequestFactory()  # on another application
    scoped = make_user(Role.APPROVER, username="scoped", application=mine.deployment.environment.application)
    RoleGrantFactory(user=scoped)  # a viewer role everywhere changes nothing
    client.force_login(scoped)
    waiting = list(client.get(reverse("stop_request_queue")).context["waiting"])
    assert waiting == [mine] and elsewhere not in waiting


@pytest.mark.parametrize(
    "evil",
    ["/\\evil.example/", "/\t/evil.example/", "//evil.example/", "https://evil.example/", "javascript:x"],
)
def test_it_never_follows_a_next_off_the_site(client, operator, approver, deployment, evil):
    """Protects against an open redirect through the stop forms' `next` (`/\\evil.example/` and a raw tab
    were followed)."""
    stop_request = _request(deployment, operator)
    client.force_login(approver)
    response = client.post(
        reverse("stop_request_approve", args=[stop_request.pk]), {"comment": "ok", "next": evil}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("stop_request_queue")


def test_it_follows_a_next_on_the_site(client, operator, approver, deployment):
    stop_request = _request(deployment, operator)
    client.force_login(approver)
    target = deployment.get_absolute_url()
    response = client.post(
        reverse("stop_request_approve", args=[stop_request.pk]), {"comment": "ok", "next": target}
    )
    assert response["Location"] == target


def test_it_offers_break_glass_the_stop_over_a_pending_request(client, make_user, operator, deployment):
    """The panel offers what the service allows: break-glass may supersede a request still waiting."""
    _request(deployment, operator)
    breaker = make_user(Role.BREAK_GLASS, username="breaker")
    client.force_login(breaker)
    html = client.get(deployment.get_absolute_url()).content.decode()
    assert f'href="{deployment.get_stop_url()}"' in html
    client.force_login(operator)  # the requester may not start another; the panel does not offer it
    html = client.get(deployment.get_absolute_url()).content.decode()
    assert f'href="{deployment.get_stop_url()}"' not in html


def test_it_tells_a_break_glass_user_both_ways_in_the_dialog(client, make_user, deployment):
    client.force_login(make_user(Role.BREAK_GLASS))
    html = client.get(_stop_url(deployment)).content.decode()
    assert "1 approver other than you, unless you tick break glass" in html
    assert "<dt>With break glass</dt>" in html and "it runs at once, flagged" in html


def test_it_says_the_bake_time_left_for_people_and_never_more_than_the_bake(client, operator, deployment):
    Deployment.objects.filter(pk=deployment.pk).update(
        state="BAKING",
        deployment_duration_in_minutes=10,
        final_bake_time_in_minutes=10,
        started_at=timezone.now() - timedelta(minutes=15, seconds=48),
    )
    client.force_login(operator)
    html = client.get(_stop_url(deployment)).content.decode()
    left = html.split("<dt>Bake time left</dt><dd>")[1].split(" <span")[0]
    assert left in ("4 min 12 s", "4 min 11 s", "4 min 10 s")  # seconds pass while the test runs

    # AppConfig's clock far ahead of ours (the "3:27:57.069869" for a 10-minute bake): clamped.
    Deployment.objects.filter(pk=deployment.pk).update(started_at=timezone.now() + timedelta(hours=3))
    html = client.get(_stop_url(deployment)).content.decode()
    assert "<dt>Bake time left</dt><dd>10 min <span" in html


def test_it_says_when_a_pending_request_expires_even_below_two_minutes(client, operator, deployment):
    stop_request = _request(deployment, operator)
    StopRequest.objects.filter(pk=stop_request.pk).update(expires_at=timezone.now() + timedelta(seconds=95))
    client.force_login(operator)
    html = client.get(deployment_url(deployment)).content.decode()
    assert "Expires <time" in html and "in 1 min 3" in html and "from now" not in html


def test_it_says_what_expired_a_request_not_who_asked(client, operator, deployment):
    StopRequestFactory(
        deployment=deployment, requested_by=operator, status=StopStatus.EXPIRED,
        outcome="No quorum of approvals before the request expired.",
    )  # fmt: skip
    client.force_login(operator)
    html = client.get(deployment_url(deployment)).content.decode()
    assert "Expired: No quorum of approvals before the request expired." in html
    assert "asked by operator" in html and "Expired</span>\n      \n      by operator" not in html


def test_it_names_the_account_in_the_queue_when_there_are_several(client, operator, approver, deployment):
    _request(deployment, operator)
    client.force_login(approver)
    account = deployment.environment.application.account.name
    assert f"{account}: " not in client.get(reverse("stop_request_queue")).content.decode()
    AccountFactory(name="second")
    html = client.get(reverse("stop_request_queue")).content.decode()
    assert html.count(f"{account}: {deployment.environment.application.name} / prod") == 2  # waiting, history
