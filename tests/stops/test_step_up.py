"""Step-up before the riskiest stops (stops.rules.needs_step_up, enforced in stops.services): a break-glass
stop, and a stop request or approval on a critical environment, need an authentication at most
STEP_UP_MAX_AGE old; the dialog says why, keeps the form, and the action resumes after a password or a
single sign-on round trip (prompt=login, max_age, auth_time checked). Every step audited."""

from __future__ import annotations

import json
import re
import time

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from deployments.models import Role, StopRequest, StopStatus
from portal import authn
from portal.authn import Authentication
from stops import rules, services
from tests.factories import DeploymentFactory, EnvironmentFactory
from tests.helpers import HX, just_signed_in
from tests.sso_helpers import authorize, now, set_identity, sso_sign_in

pytestmark = pytest.mark.django_db
OLD = 3600


@pytest.fixture(autouse=True)
def _no_broker(published):
    """Nothing is published to a broker in these tests."""


@pytest.fixture
def critical():
    environment = EnvironmentFactory(name="prod", approvals_required=1, is_critical=True)
    return DeploymentFactory(environment=environment, state="DEPLOYING", percentage_complete=40.0)


def _ids(deployment) -> list:
    environment = deployment.environment
    return [environment.application.application_id, environment.environment_id, deployment.deployment_number]


def _stop(client, deployment, **headers):
    data = {"kind": "stop", "reason": "error rate doubled", "confirmation": deployment.environment.name}
    return client.post(reverse("stop_dialog", args=_ids(deployment)), data, **headers)


def _age_session(client, seconds: int = OLD) -> None:
    session = client.session
    session[authn.AUTH_TIME_KEY] = int(time.time()) - seconds
    session.save()


def _step_ups() -> list[tuple[str, dict]]:
    return [
        (e.outcome, json.loads(e.details))
        for e in AuditEvent.objects.filter(action="auth.step_up").order_by("sequence")
    ]


# ---------------------------------------------------------------------------------------------------------
# The rule


def test_it_needs_a_step_up_for_break_glass_and_critical_environments_only():
    assert rules.needs_step_up(break_glass=True, critical=False)
    assert rules.needs_step_up(break_glass=False, critical=True)
    assert not rules.needs_step_up(break_glass=False, critical=False)


def test_it_counts_an_authentication_as_fresh_up_to_the_max_age():
    at = 1_000_000
    assert rules.step_up_satisfied(Authentication(at, "sso"), now=at + 300, max_age=300)
    assert not rules.step_up_satisfied(Authentication(at, "sso"), now=at + 301, max_age=300)
    assert not rules.step_up_satisfied(Authentication(None, "sso"), now=at, max_age=300)
    assert not rules.step_up_satisfied(None, now=at, max_age=300)


# ---------------------------------------------------------------------------------------------------------
# The services


def test_it_refuses_a_critical_stop_with_a_stale_authentication_and_audits_it(critical, operator):
    with pytest.raises(services.StepUpRequired, match="critical environment prod"):
        services.stop_request_create(
            deployment=critical,
            user=operator,
            reason="bad",
            confirmation="prod",
            authentication=Authentication(int(time.time()) - OLD, "password"),
        )
    assert not StopRequest.objects.exists()
    [(outcome, details)] = _step_ups()
    assert (
        outcome == "denied"
        and details["auth_method"] == "password"
        and details["attempted"] == "stop request"
    )


def test_it_records_when_and_how_the_requester_authenticated(critical, operator):
    request = services.stop_request_create(
        deployment=critical,
        user=operator,
        reason="bad",
        confirmation="prod",
        authentication=just_signed_in("sso"),
    )
    details = json.loads(AuditEvent.objects.get(action="stop.requested", stop_request_id=request.pk).details)
    assert details["auth_method"] == "sso" and details["auth_time"]


def test_it_refuses_a_critical_approval_without_a_fresh_authentication(critical, operator, approver):
    stop_request = services.stop_request_create(
        deployment=critical, user=operator, reason="bad", confirmation="prod", authentication=just_signed_in()
    )
    with pytest.raises(services.StepUpRequired):
        services.stop_request_approve(stop_request=stop_request, user=approver)
    services.stop_request_approve(stop_request=stop_request, user=approver, authentication=just_signed_in())
    stop_request.refresh_from_db()
    assert stop_request.status == StopStatus.APPROVED


def test_it_needs_a_step_up_for_break_glass_even_where_nothing_is_critical(make_user):
    deployment = DeploymentFactory(state="DEPLOYING", environment=EnvironmentFactory(approvals_required=1))
    breaker = make_user(Role.BREAK_GLASS, username="breaker")
    with pytest.raises(services.StepUpRequired, match="break-glass"):
        services.stop_request_create(deployment=deployment, user=breaker, reason="outage", break_glass=True)
    assert not StopRequest.objects.exists()


def test_it_leaves_the_cli_to_its_own_rules(critical, operator):
    request = services.stop_request_create(
        deployment=critical, user=operator, reason="bad", confirmation="prod", source="command"
    )
    assert request.status == StopStatus.PENDING
    assert json.loads(AuditEvent.objects.get(action="stop.requested").details)["os_user"]


# ---------------------------------------------------------------------------------------------------------
# The web: a local account gives its password again


def test_it_explains_the_step_up_in_the_dialog_and_keeps_the_form(client, critical, operator):
    client.force_login(operator)
    _age_session(client)

    partial = _stop(client, critical, **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in HX.items()})

    assert partial.status_code == 200 and b"<html" not in partial.content
    page = partial.content.decode()
    assert "needs you to have signed in within the last 5 minutes" in page
    assert "Stop request for deployment" in page and 'name="password"' in page
    assert not StopRequest.objects.exists()
    assert _step_ups()[0][0] == "denied"


def test_it_resumes_the_stop_after_the_password_without_retyping(client, critical, operator):
    client.force_login(operator)
    _age_session(client)
    assert _stop(client, critical).status_code == 403
    key = client.session.session_key

    wrong = client.post(reverse("step_up"), {"password": "nope"})
    assert wrong.status_code == 400 and not StopRequest.objects.exists()

    done = client.post(reverse("step_up"), {"password": "correct horse battery staple"})

    assert done.status_code == 302 and done["Location"] == critical.get_absolute_url()
    stop_request = StopRequest.objects.get()
    assert stop_request.reason == "error rate doubled" and stop_request.status == StopStatus.PENDING
    assert client.session.session_key != key
    assert [outcome for outcome, _ in _step_ups()] == ["denied", "success"]
    details = json.loads(AuditEvent.objects.get(action="stop.requested").details)
    assert details["auth_method"] == "password"
    assert AuditEvent.objects.filter(action="auth.login_failed").count() == 1  # the wrong password


def test_it_resumes_an_approval_on_a_critical_environment(client, critical, operator, approver):
    stop_request = services.stop_request_create(
        deployment=critical, user=operator, reason="bad", confirmation="prod", authentication=just_signed_in()
    )
    client.force_login(approver)
    _age_session(client)
    url = reverse("stop_request_approve", args=[stop_request.pk])
    assert client.post(url, {"comment": "go", "next": "https://evil.example/"}).status_code == 403

    done = client.post(reverse("step_up"), {"password": "correct horse battery staple"})

    assert done["Location"] == reverse("stop_request_queue")  # the unsafe next was not kept
    stop_request.refresh_from_db()
    assert stop_request.status == StopStatus.APPROVED
    approved = AuditEvent.objects.filter(action="stop.approved").latest("sequence")
    assert approved.reason == "go" and json.loads(approved.details)["auth_method"] == "password"


def test_it_forgets_a_pending_action_after_its_time(client, critical, operator, settings):
    client.force_login(operator)
    _age_session(client)
    _stop(client, critical)
    settings.STEP_UP_PENDING_SECONDS = -1

    client.post(reverse("step_up"), {"password": "correct horse battery staple"})

    assert not StopRequest.objects.exists()


# ---------------------------------------------------------------------------------------------------------
# The web: single sign-on, a round trip to the provider


@pytest.fixture
def sso_operator(client, sso_settings, idp_url, critical):
    set_identity(
        idp_url, "u-ops", preferred_username="ops", groups=["appconfig-operators"], auth_time=now() - OLD
    )
    assert sso_sign_in(client, "u-ops").status_code == 302
    return client


def test_it_resumes_the_stop_after_a_fresh_sign_in_at_the_provider(sso_operator, idp_url, critical):
    client = sso_operator
    assert _stop(client, critical).status_code == 403
    set_identity(idp_url, "u-ops", preferred_username="ops", groups=["appconfig-operators"])  # auth_time: now

    callback, params = authorize(client, reverse("oidc_step_up"), "u-ops")
    assert params["prompt"] == "login" and params["max_age"] == "300"
    done = client.get(callback)

    assert done["Location"] == critical.get_absolute_url()
    stop_request = StopRequest.objects.get()
    assert stop_request.status == StopStatus.PENDING and stop_request.reason == "error rate doubled"
    assert [outcome for outcome, _ in _step_ups()] == ["denied", "success"]
    assert json.loads(AuditEvent.objects.get(action="stop.requested").details)["auth_method"] == "sso"


def test_it_refuses_a_step_up_the_provider_answers_with_an_old_auth_time(sso_operator, idp_url, critical):
    client = sso_operator
    _stop(client, critical)

    callback, _ = authorize(client, reverse("oidc_step_up"), "u-ops")  # auth_time still an hour ago
    done = client.get(callback)

    assert done["Location"] == critical.get_absolute_url()
    assert not StopRequest.objects.exists()
    outcome, details = _step_ups()[-1]
    assert outcome == "failed" and details["auth_method"] == "sso"
    # An hour ago, give or take the second the test itself took.
    reason = AuditEvent.objects.filter(action="auth.step_up").latest("sequence").reason
    assert re.search(r"authenticated 360[0-9] s ago", reason), reason


def test_it_refuses_a_step_up_by_someone_else(sso_operator, idp_url, critical):
    client = sso_operator
    _stop(client, critical)
    set_identity(idp_url, "u-other", preferred_username="other", groups=["appconfig-operators"])

    callback, _ = authorize(client, reverse("oidc_step_up"), "u-other")
    client.get(callback)

    assert not StopRequest.objects.exists()
    assert client.session["_auth_user_id"] == str(
        StopRequest._meta.get_field("requested_by").related_model.objects.get(username="ops").pk
    )
    assert _step_ups()[-1][0] == "denied"
