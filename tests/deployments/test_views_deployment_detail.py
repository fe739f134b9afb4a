"""The deployment detail page: every field, the chart, the timeline, the live region (204 / partial / 286),
the lazy event log fetch, 404 for what the user may not see, 400 for a malformed version, query counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from audit.records import record
from deployments import tasks
from deployments.models import Account, Deployment, DeploymentEvent, Role
from stops import services
from tests.factories import AccountFactory, ApplicationFactory, DeploymentFactory, EnvironmentFactory
from tests.helpers import HX, deployment_url, event

pytestmark = pytest.mark.django_db


def _old(estate, **fields):
    """A finished deployment known only from ListDeployments: no event log cached yet."""
    return DeploymentFactory(
        environment=estate.environment,
        deployment_number=3,
        state="COMPLETE",
        started_at=timezone.now() - timedelta(days=3),
        details_fetched_at=None,
        **fields,
    )


def test_it_shows_every_field_the_chart_and_the_timeline(client_for, viewer, estate):
    response = client_for(viewer).get(deployment_url(estate.running))

    assert response.status_code == 200
    html = response.content.decode()
    for text in ["payments", "pay1234", "prod", "prod123", "strat12", "prof123", "checkout-flags", "hosted",
                 "spring-sale", "enable the new basket", "LINEAR", "40.00%", "DEPLOYING"]:  # fmt: skip
        assert text in html, text
    assert '<svg class="chart"' in html and "<title" in html and "<desc" in html
    assert "Configuration available to 40.00% of clients" in html
    assert html.index("40.00% of clients") < html.index("20.00% of clients")  # newest first
    assert '<span class="trigger trigger-user">User</span>' in html
    assert '{% include "stops/_panel.html" %}' not in html
    assert 'id="deployment-progress"' in html and 'hx-trigger="every 2s' in html


def test_it_renders_a_terminal_deployment_without_a_poller(client_for, viewer, estate):
    html = client_for(viewer).get(deployment_url(estate.done)).content.decode()
    assert "hx-trigger" not in html.split('id="deployment-progress"')[1].split(">")[0]
    assert "Final state" in html


def test_it_answers_an_unchanged_poll_with_204_in_three_queries(
    client_for, viewer, estate, django_assert_max_num_queries
):
    client = client_for(viewer)
    url = f"{deployment_url(estate.running)}?v={estate.running.version}"
    with django_assert_max_num_queries(3):
        response = client.get(url, headers=HX)
    assert response.status_code == 204
    assert response.content == b""


def test_it_answers_a_changed_poll_with_the_live_regions(client_for, viewer, estate):
    held = estate.running.version
    Deployment.objects.filter(pk=estate.running.pk).update(version=held + 1, percentage_complete=60.0)

    response = client_for(viewer).get(f"{deployment_url(estate.running)}?v={held}", headers=HX)

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert html.lstrip().startswith('<section id="deployment-progress"')
    assert f"?v={held + 1}" in html and 'hx-trigger="every 2s' in html
    assert "60.00%" in html
    for region in ("deployment-fields", "deployment-chart", "deployment-timeline"):
        assert f'<section id="{region}" class="card" aria-labelledby' in html
    assert html.count('hx-swap-oob="true"') == 3
    assert "HX-Request" in response["Vary"]


def test_it_stops_polling_with_286_and_the_final_render_once_terminal(client_for, viewer, estate):
    held = estate.running.version
    Deployment.objects.filter(pk=estate.running.pk).update(
        version=held + 1, state="COMPLETE", percentage_complete=100.0, completed_at=timezone.now()
    )

    response = client_for(viewer).get(f"{deployment_url(estate.running)}?v={held}", headers=HX)

    assert response.status_code == 286
    html = response.content.decode()
    assert "COMPLETE" in html and "hx-trigger" not in html

    again = client_for(viewer).get(f"{deployment_url(estate.running)}?v={held + 1}", headers=HX)
    assert again.status_code == 286 and again.content == b""


def test_it_serves_the_whole_page_to_a_plain_get_with_a_version(client_for, viewer, estate):
    response = client_for(viewer).get(f"{deployment_url(estate.running)}?v={estate.running.version}")
    assert response.status_code == 200
    assert b"<html" in response.content


def test_it_asks_once_for_the_event_log_of_an_old_deployment_and_shows_it_loading(
    client_for, viewer, estate, django_capture_on_commit_callbacks, monkeypatch
):
    old = _old(estate)
    asked = []
    monkeypatch.setattr(
        tasks.deployment_fetch_details_task, "apply_async", lambda kwargs, **_: asked.append(kwargs)
    )
    client = client_for(viewer)

    with django_capture_on_commit_callbacks(execute=True):
        page = client.get(deployment_url(old))
        poll = client.get(f"{deployment_url(old)}?v={old.version}", headers=HX)

    assert asked == [{"deployment_id": old.pk}]  # the second ask falls in the throttle window
    html = page.content.decode()
    assert 'role="status" aria-busy="true"' in html and "Loading the event log from AppConfig" in html
    assert 'hx-trigger="every 2s' in html  # terminal, but still waiting for its details
    assert poll.status_code == 204


def test_it_fills_in_the_timeline_when_the_details_arrive(client_for, viewer, estate, monkeypatch):
    monkeypatch.setattr(tasks.deployment_fetch_details_task, "apply_async", lambda kwargs, **_: None)
    old = _old(estate)
    held = old.version
    event(old, 0, "DEPLOYMENT_STARTED", 0, by="USER", text="Deployment started")
    Deployment.objects.filter(pk=old.pk).update(details_fetched_at=timezone.now(), version=held + 1)

    response = client_for(viewer).get(f"{deployment_url(old)}?v={held}", headers=HX)

    assert response.status_code == 286
    assert b"Deployment started" in response.content
    assert b"Loading the event log" not in response.content


def test_it_says_clearly_when_appconfig_refused_the_event_log(client_for, viewer, estate, monkeypatch):
    asked = []
    monkeypatch.setattr(
        tasks.deployment_fetch_details_task, "apply_async", lambda kwargs, **_: asked.append(kwargs)
    )
    old = _old(estate, details_error="AccessDenied: not allowed")

    html = client_for(viewer).get(deployment_url(old)).content.decode()

    assert 'role="alert"' in html and "AccessDenied: not allowed" in html
    assert "Loading the event log" not in html
    assert asked == []


def test_it_shows_action_invocations_and_alarm_triggers(client_for, viewer, estate):
    estate.running.events.create(
        sequence=3,
        event_type="ROLLBACK_STARTED",
        triggered_by="CLOUDWATCH_ALARM",
        description="Rollback started by arn:aws:cloudwatch:us-east-1:1:alarm:errors",
        occurred_at=timezone.now(),
        action_invocations=[{"ActionName": "notify", "ExtensionIdentifier": "ext1", "Uri": "arn:aws:sns:x"}],
    )
    html = client_for(viewer).get(deployment_url(estate.running)).content.decode()
    assert "CloudWatch alarm" in html and "trigger-cloudwatch_alarm" in html
    assert "1 action invocation" in html and "notify" in html and "arn:aws:sns:x" in html
    assert "Alarm: rollback" in html  # marked on the chart


@pytest.mark.parametrize(
    "path",
    [
        "/applications/pay1234/environments/prod123/deployments/99/",
        "/applications/pay1234/environments/nosuch1/deployments/1/",
        "/applications/nosuch1/environments/prod123/deployments/1/",
        "/applications/pay1234/environments/prod123/deployments/abc/",
        "/applications/pay1234/environments/prod123/deployments/-1/",
        "/applications/pay1234/environments/prod123/deployments/99999999999999999999999/",
        "/applications/pay1234/environments/prod%00/deployments/1/",
        "/applications/pay1234/environments/prod123/deployments/1%00/",
    ],
)
def test_it_answers_unknown_or_malformed_ids_with_a_friendly_404(client_for, viewer, estate, path):
    response = client_for(viewer).get(path)
    assert response.status_code == 404
    assert b"There is nothing here that you can see" in response.content


@pytest.mark.parametrize("version", ["abc", "-1", "1.5", "99999999999999999999"])
def test_it_answers_a_malformed_version_with_a_friendly_400(client_for, viewer, estate, version):
    response = client_for(viewer).get(f"{deployment_url(estate.running)}?v={version}", headers=HX)
    assert response.status_code == 400
    assert b"could not understand" in response.content


def test_it_hides_deployments_of_applications_the_user_may_not_see(client_for, outsider, estate):
    client = client_for(outsider)
    assert client.get(deployment_url(estate.running)).status_code == 404
    assert client.get(f"{deployment_url(estate.running)}?v=1", headers=HX).status_code == 404


def test_it_sends_anonymous_users_to_log_in(client, estate):
    response = client.get(deployment_url(estate.running))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_it_refuses_other_methods(client_for, viewer, estate):
    assert client_for(viewer).post(deployment_url(estate.running)).status_code == 405


# Session, user, the viewer's access (one read for the lookup, the stop panel, the audit aside and the
# navigation), the deployment (which also says whether it ever had a stop request, and how many accounts
# exist), its events (only when the timeline is not cached for this version) and the deployment's audit
# events (one read for the merged timeline's console entries and the auditors' aside, whatever their number):
# 6, as before the timelines were merged. With a stop request, the panel reads it and its decisions: 8.
PAGE_QUERIES = 6
PAGE_QUERIES_WITH_STOP_REQUEST = 8


def _queries_for_events(client, deployment, count: int, django_assert_max_num_queries) -> int:
    DeploymentEvent.objects.filter(deployment=deployment).delete()
    DeploymentEvent.objects.bulk_create(
        DeploymentEvent(
            deployment=deployment,
            sequence=i,
            event_type="PERCENTAGE_UPDATED",
            triggered_by="APPCONFIG",
            description=f"Configuration available to {i % 100}.00% of clients",
            occurred_at=deployment.started_at + timedelta(seconds=i),
        )  # fmt: skip
        for i in range(count)
    )
    # As sync does with every change; the page caches its timeline per version.
    Deployment.objects.filter(pk=deployment.pk).update(version=F("version") + 1)
    with django_assert_max_num_queries(PAGE_QUERIES) as captured:
        response = client.get(deployment_url(deployment))
    assert len(captured) == PAGE_QUERIES
    assert response.status_code == 200
    assert response.content.count(b'class="event ') == count
    return len(captured)


def test_it_renders_200_events_in_a_fixed_number_of_queries(
    client_for, viewer, estate, django_assert_max_num_queries
):
    client = client_for(viewer)
    few = _queries_for_events(client, estate.running, 3, django_assert_max_num_queries)
    many = _queries_for_events(client, estate.running, 200, django_assert_max_num_queries)
    assert few == many


def test_it_reads_an_open_stop_request_in_two_more_queries(
    client_for, operator, estate, django_assert_num_queries
):
    services.stop_request_create(deployment=estate.running, user=operator, reason="error rate up")
    client = client_for(operator)
    with django_assert_num_queries(PAGE_QUERIES_WITH_STOP_REQUEST):
        response = client.get(deployment_url(estate.running))
    assert b"request #" in response.content and b"error rate up" in response.content


def test_it_shows_the_new_values_once_the_deployment_changes(client_for, viewer, estate):
    client = client_for(viewer)
    assert b"40.00%" in client.get(deployment_url(estate.running)).content
    # As sync does: every change bumps the version, which the cached regions are keyed on.
    Deployment.objects.filter(pk=estate.running.pk).update(
        percentage_complete=80.0, configuration_name="basket-v2", version=F("version") + 1
    )
    html = client.get(deployment_url(estate.running)).content.decode()
    assert "80.00%" in html and "basket-v2" in html and "40.00%</span>" not in html


def test_it_shares_the_deployment_regions_but_not_the_viewers_rights(client_for, viewer, operator, estate):
    seen_by_viewer = client_for(viewer).get(deployment_url(estate.running)).content.decode()
    seen_by_operator = client_for(operator).get(deployment_url(estate.running)).content.decode()

    assert (
        "You may not stop this deployment." in seen_by_viewer and "Stop deployment</a>" not in seen_by_viewer
    )
    assert "Stop deployment" in seen_by_operator and "You may not stop" not in seen_by_operator
    assert ">viewer</span>" in seen_by_viewer and ">operator</span>" in seen_by_operator
    for region in ("deployment-progress", "deployment-fields", "deployment-chart", "deployment-timeline"):
        assert _region(seen_by_viewer, region) == _region(seen_by_operator, region)


def _region(html: str, region_id: str) -> str:
    start = html.index(f'<section id="{region_id}"')
    return html[start : html.index("</section>", start)]


def test_it_finds_the_visible_one_of_two_accounts_applications_with_the_same_ids(
    client_for, make_user, estate
):
    # Application ids are unique per account: a second account may hold the same ids.
    twin_app = ApplicationFactory(account=AccountFactory(), application_id="pay1234", name="payments-eu")
    twin_env = EnvironmentFactory(application=twin_app, environment_id="prod123", name="prod-eu")
    DeploymentFactory(
        environment=twin_env, deployment_number=2, state="COMPLETE", configuration_name="eu-flags"
    )

    only_twin = make_user(Role.VIEWER, application=twin_app)
    only_first = make_user(Role.VIEWER, application=estate.application)
    both = make_user(Role.VIEWER)
    neither = make_user(Role.VIEWER, application=ApplicationFactory())

    assert b"eu-flags" in client_for(only_twin).get(deployment_url(estate.running)).content
    first = client_for(only_first).get(deployment_url(estate.running)).content
    assert b"checkout-flags" in first and b"eu-flags" not in first
    assert b"checkout-flags" in client_for(both).get(deployment_url(estate.running)).content  # the older one
    assert client_for(neither).get(deployment_url(estate.running)).status_code == 404


# ---------------------------------------------------------------------------------------------------------
# One timeline: AppConfig's events and the console's


def test_it_merges_the_consoles_events_into_the_timeline(client_for, operator, approver, auditor, estate):
    stop_request = services.stop_request_create(
        deployment=estate.running, user=operator, reason="error rate up"
    )
    services.stop_request_approve(stop_request=stop_request, user=approver, comment="agreed")

    seen_by_operator = _region(client_for(operator).get(deployment_url(estate.running)).content.decode(),
                               "deployment-timeline")  # fmt: skip
    seen_by_auditor = _region(client_for(auditor).get(deployment_url(estate.running)).content.decode(),
                              "deployment-timeline")  # fmt: skip

    for html in (seen_by_operator, seen_by_auditor):
        assert "Stop requested" in html and "error rate up" in html and "Stop approved" in html
        assert html.index("Stop approved") < html.index("Stop requested") < html.index("40.00% of clients")
        assert '<span class="source source-person">Person</span>' in html
        assert '<span class="source source-appconfig">AppConfig</span>' in html
    approved = AuditEvent.objects.get(action="stop.approved")
    link = reverse("audit_event_detail", args=[approved.pk])
    assert link in seen_by_auditor and link not in seen_by_operator


def test_it_keeps_the_audit_aside_for_auditors(client_for, operator, auditor, estate):
    services.stop_request_create(deployment=estate.running, user=operator, reason="error rate up")
    assert (
        'class="card audit-aside"' in client_for(auditor).get(deployment_url(estate.running)).content.decode()
    )
    assert (
        'class="card audit-aside"'
        not in client_for(operator).get(deployment_url(estate.running)).content.decode()
    )


def test_it_reads_the_consoles_events_without_a_query_per_event(
    client_for, auditor, estate, django_assert_max_num_queries
):
    client = client_for(auditor)

    def queries_with(n: int) -> int:
        for _ in range(n):
            record(action="sync.requested", target=estate.running, reason="look")
        with django_assert_max_num_queries(PAGE_QUERIES) as captured:
            response = client.get(deployment_url(estate.running))
        assert response.status_code == 200
        return len(captured)

    assert queries_with(2) == queries_with(30) == PAGE_QUERIES


def test_it_shows_the_new_console_event_on_the_next_view(client_for, operator, estate):
    client = client_for(operator)
    assert b"Stop requested" not in client.get(deployment_url(estate.running)).content
    services.stop_request_create(deployment=estate.running, user=operator, reason="error rate up")
    assert b"Stop requested" in client.get(deployment_url(estate.running)).content  # not the cached rows


def test_it_brings_the_consoles_events_with_a_changed_poll(client_for, operator, estate):
    held = estate.running.version
    services.stop_request_create(deployment=estate.running, user=operator, reason="error rate up")
    Deployment.objects.filter(pk=estate.running.pk).update(version=held + 1)
    response = client_for(operator).get(f"{deployment_url(estate.running)}?v={held}", headers=HX)
    assert response.status_code == 200 and b"Stop requested" in response.content


# ---------------------------------------------------------------------------------------------------------
# Every field AppConfig returns


def test_it_shows_applied_extensions_kms_keys_and_failed_extension_actions(client_for, viewer, estate):
    Deployment.objects.filter(pk=estate.running.pk).update(
        kms_key_identifier="alias/payments-appconfig",
        kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/abc",
        applied_extensions=[{"ExtensionId": "ext1234", "ExtensionAssociationId": "asc1234",
                             "VersionNumber": 2, "Parameters": {"channel": "#payments"}}],
        version=F("version") + 1,
    )  # fmt: skip
    estate.running.events.create(
        sequence=3, event_type="ROLLBACK_COMPLETED", triggered_by="APPCONFIG", description="Rolled back",
        occurred_at=timezone.now(),
        action_invocations=[{"ActionName": "page-on-call", "ErrorCode": "AuthorizationError",
                             "ErrorMessage": "not authorized to SNS:Publish"}],
    )  # fmt: skip

    html = client_for(viewer).get(deployment_url(estate.running)).content.decode()

    fields = _region(html, "deployment-fields")
    assert "alias/payments-appconfig" in fields and "arn:aws:kms:us-east-1:123456789012:key/abc" in fields
    assert "ext1234" in fields and "asc1234" in fields and "version 2" in fields
    assert "channel" in fields and "#payments" in fields
    timeline = _region(html, "deployment-timeline")
    assert 'class="error extension-errors" role="alert"' in timeline
    assert "1 extension action failed" in timeline and "page-on-call" in timeline
    assert "AuthorizationError: not authorized to SNS:Publish" in timeline


# ---------------------------------------------------------------------------------------------------------
# Accounts


def test_it_names_the_account_only_when_there_are_several(client_for, viewer, estate):
    assert "<dt>Account</dt>" not in client_for(viewer).get(deployment_url(estate.running)).content.decode()
    AccountFactory(name="second")
    Deployment.objects.filter(pk=estate.running.pk).update(version=F("version") + 1)
    html = client_for(viewer).get(deployment_url(estate.running)).content.decode()
    assert f"<dt>Account</dt><dd>{estate.application.account.name}" in html


def test_it_says_a_disabled_accounts_cache_is_no_longer_refreshed(client_for, viewer, estate, published):
    Account.objects.filter(pk=estate.application.account_id).update(enabled=False)
    html = client_for(viewer).get(deployment_url(estate.running)).content.decode()
    assert "is disabled: this deployment's cache is no longer refreshed" in html
    assert "hx-trigger" not in html.split('id="deployment-progress"')[1].split(">")[0]  # nothing will move it
    old = _old(estate)
    client_for(viewer).get(deployment_url(old))
    assert published == []  # and nothing is fetched for it
