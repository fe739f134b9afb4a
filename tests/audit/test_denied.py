"""Every refusal leaves a trace: an attempt on an object outside the user's scope answers the same 404 as a
missing object but is recorded (`access.denied`), and a failed CSRF check is recorded too."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from deployments.models import Role
from tests.factories import DeploymentFactory, EnvironmentFactory, StopRequestFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def elsewhere():
    """A deployment and its pending stop request on an application the test's users have no role on."""
    environment = EnvironmentFactory(name="prod")
    deployment = DeploymentFactory(environment=environment, state="DEPLOYING")
    return StopRequestFactory(deployment=deployment)


def _keys(deployment) -> list:
    environment = deployment.environment
    return [environment.application.application_id, environment.environment_id, deployment.deployment_number]


def _attempts(stop_request):
    deployment = stop_request.deployment
    environment = deployment.environment
    return {
        "stop": reverse("stop_dialog", args=_keys(deployment)),
        "sync": reverse("environment_sync", args=_keys(deployment)[:2]),
        "approve": reverse("stop_request_approve", args=[stop_request.pk]),
        "reject": reverse("stop_request_reject", args=[stop_request.pk]),
        "cancel": reverse("stop_request_cancel", args=[stop_request.pk]),
        "page": environment.get_absolute_url(),
    }


@pytest.mark.parametrize("attempt", ["stop", "sync", "approve", "reject", "cancel", "page"])
def test_it_records_an_attempt_on_another_applications_object_and_answers_404(
    client, make_user, elsewhere, attempt
):
    """Protects the audit trail's promise that every refusal is recorded: these answered 404 and wrote
    nothing."""
    user = make_user(Role.OPERATOR, username="scoped", application=EnvironmentFactory().application)
    client.force_login(user)
    url = _attempts(elsewhere)[attempt]
    before = AuditEvent.objects.filter(action="access.denied").count()

    response = client.get(url) if attempt == "page" else client.post(url, {"reason": "x", "comment": "x"})

    assert response.status_code == 404
    event = AuditEvent.objects.filter(action="access.denied").latest("id")
    assert AuditEvent.objects.filter(action="access.denied").count() == before + 1
    assert event.actor_username == "scoped" and event.outcome == "denied"
    assert event.application_id == elsewhere.deployment.environment.application.application_id
    assert url in event.details


def test_it_answers_a_missing_object_with_the_same_404_and_records_nothing(client, make_user, elsewhere):
    client.force_login(make_user(Role.APPROVER, username="approver"))
    for url in (
        reverse("stop_request_approve", args=[elsewhere.pk + 1000]),
        reverse("stop_dialog", args=["nosuch1", "nosuch2", 1]),
    ):
        assert client.post(url, {"comment": "x"}).status_code == 404
    assert not AuditEvent.objects.filter(action="access.denied").exists()


def test_it_records_a_failed_csrf_check(make_user, elsewhere):
    """Protects against forged cross-site posts leaving no trace: a failed CSRF check answered 403 and wrote
    nothing."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user(Role.APPROVER, username="approver"))

    response = client.post(reverse("stop_request_approve", args=[elsewhere.pk]), {"comment": "x"})

    assert response.status_code == 403
    assert "reload the page" in response.content.decode()
    event = AuditEvent.objects.get(action="access.denied")
    assert event.actor_username == "approver" and "CSRF" in event.reason
    assert not elsewhere.decisions.exists()
