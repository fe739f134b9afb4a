"""The audit trail's reads: who may review which part of it, and a deployment's events for its page."""

from __future__ import annotations

import pytest
from django.template.loader import render_to_string
from django.urls import reverse

from audit.records import record
from audit.selectors import REVIEW, audit_scope, events_for_deployment
from deployments.models import Role
from tests.factories import ApplicationFactory, DeploymentFactory

pytestmark = pytest.mark.django_db


def test_it_gives_global_auditors_and_superusers_the_whole_trail(auditor, admin_user, viewer):
    assert audit_scope(auditor, REVIEW).everything
    assert audit_scope(admin_user, REVIEW).everything
    assert not audit_scope(viewer, REVIEW)


def test_it_limits_an_application_auditor_to_that_application(client_for, make_user, deployment):
    other = DeploymentFactory(environment__application=ApplicationFactory(application_id="oth5678"))
    scoped = make_user(Role.AUDITOR, username="scoped", application=deployment.environment.application)
    mine = record(action="sync.requested", target=deployment)
    theirs = record(action="sync.requested", target=other)
    record(action="auth.login_failed", outcome="failed", target={"label": "x"})

    scope = audit_scope(scoped, REVIEW)
    assert not scope.everything and scope.application_ids == ("pay1234",)
    client = client_for(scoped)
    page = client.get(reverse("audit_event_list"))
    seen = page.context["page"].events
    assert mine.pk in [e.pk for e in seen] and theirs.pk not in [e.pk for e in seen]
    assert {e.application_id for e in seen} == {"pay1234"}  # no logins, no other application
    assert client.get(reverse("audit_event_detail", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("audit_event_detail", args=[mine.pk])).status_code == 200


def test_it_shows_a_deployments_events_newest_first(auditor, deployment, make_events):
    made = make_events(3, target=deployment)
    record(action="sync.requested", target=deployment.environment)  # not about this deployment
    events = events_for_deployment(deployment, auditor)
    assert [e.pk for e in events] == [e.pk for e in made[::-1]]
    assert events.reviewable


def test_it_shows_a_deployments_events_to_whoever_may_view_its_application(
    make_user, viewer, outsider, deployment, make_events
):
    make_events(2, target=deployment)
    scoped_viewer = make_user(
        Role.VIEWER, username="scoped-viewer", application=deployment.environment.application
    )
    assert len(events_for_deployment(deployment, viewer)) == 2
    assert len(events_for_deployment(deployment, scoped_viewer)) == 2
    assert not events_for_deployment(deployment, viewer).reviewable
    assert list(events_for_deployment(deployment, outsider)) == []


def test_it_limits_a_deployments_events(auditor, deployment, make_events):
    make_events(60, target=deployment)
    assert len(events_for_deployment(deployment, auditor)) == 50


def test_it_renders_a_deployments_events_for_its_page(rf, auditor, viewer, deployment, make_events):
    event = make_events(1, target=deployment, reason="error rate up")[0]
    request = rf.get("/")
    request.user = auditor
    for_auditor = render_to_string(
        "audit/_deployment_events.html", {"audit_events": events_for_deployment(deployment, auditor)}, request
    )
    for_viewer = render_to_string(
        "audit/_deployment_events.html", {"audit_events": events_for_deployment(deployment, viewer)}, request
    )
    link = reverse("audit_event_detail", args=[event.pk])
    assert "sync.requested" in for_auditor and "error rate up" in for_auditor and link in for_auditor
    assert "sync.requested" in for_viewer and link not in for_viewer
    empty = render_to_string("audit/_deployment_events.html", {"audit_events": []}, request)
    assert "No audit events" in empty


@pytest.mark.parametrize("who", ["auditor", "viewer", "admin_user"])
def test_it_reads_a_deployments_events_in_two_queries(
    request, who, deployment, make_events, django_assert_max_num_queries
):
    from deployments.models import Deployment

    user = request.getfixturevalue(who)
    make_events(5, target=deployment)
    loaded = Deployment.objects.select_related("environment__application").get(pk=deployment.pk)
    with django_assert_max_num_queries(2):
        assert len(events_for_deployment(loaded, user)) == 5
