"""The dashboard: deployments in progress with live progress, the latest finished ones, sync health per
account; its live region (204 while unchanged); scoped to the applications the user may see."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from deployments.models import ACTIVE_STATES, Account, Deployment, Role, StopRequest, SyncRun
from deployments.selectors import dashboard_version
from tests.factories import AccountFactory, DeploymentFactory, EnvironmentFactory, StopRequestFactory
from tests.helpers import HX, deployment_url

pytestmark = pytest.mark.django_db


def test_it_lists_deployments_in_progress_and_recently_finished(client_for, viewer, estate):
    response = client_for(viewer).get("/")

    assert response.status_code == 200
    html = response.content.decode()
    active, recent = html.split('id="recent-h"')
    assert deployment_url(estate.running) in active and 'role="progressbar"' in active
    assert 'aria-valuenow="40"' in active and "40.00%" in active
    assert deployment_url(estate.done) in recent
    assert 'id="dashboard-live"' in html and 'hx-trigger="every 2s' in html


@pytest.mark.parametrize("state", ACTIVE_STATES)
def test_it_counts_every_active_state_as_in_progress(client_for, viewer, estate, state):
    Deployment.objects.filter(pk=estate.running.pk).update(state=state)
    active = client_for(viewer).get("/").content.decode().split('id="recent-h"')[0]
    assert deployment_url(estate.running) in active and state in active


def test_it_polls_slowly_when_nothing_is_deploying(client_for, viewer, estate):
    Deployment.objects.filter(pk=estate.running.pk).update(state="COMPLETE", completed_at=timezone.now())
    html = client_for(viewer).get("/").content.decode()
    assert "Nothing is deploying right now." in html
    assert 'hx-trigger="every 10s' in html


def test_it_shows_only_what_the_user_may_see(client_for, outsider, estate):
    html = client_for(outsider).get("/").content.decode()
    assert deployment_url(estate.running) not in html
    assert deployment_url(estate.done) not in html
    assert client_for(outsider).get("/?v=0-0-0", headers=HX).status_code in (200, 204)


def test_it_answers_an_unchanged_poll_with_204_in_three_queries(
    client_for, viewer, estate, django_assert_max_num_queries
):
    client = client_for(viewer)
    version = dashboard_version().token
    with django_assert_max_num_queries(3):
        response = client.get(f"/?v={version}", headers=HX)
    # A half-minute boundary between the two reads would change the token; that is a 200, not a failure.
    assert response.status_code in (204, 200)
    if response.status_code == 204:
        assert response.content == b""


def test_it_answers_a_changed_poll_with_the_live_region_only(client_for, viewer, estate):
    client = client_for(viewer)
    version = dashboard_version().token
    Deployment.objects.filter(pk=estate.running.pk).update(
        percentage_complete=80.0, updated_at=timezone.now()
    )

    response = client.get(f"/?v={version}", headers=HX)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="dashboard-live"')
    assert "<html" not in html and "80.00%" in html


def test_it_changes_its_version_when_a_deployment_starts_or_ends(viewer, estate):
    before = dashboard_version().token
    Deployment.objects.filter(pk=estate.running.pk).update(state="COMPLETE")
    ended = dashboard_version().token
    DeploymentFactory(environment=estate.environment, deployment_number=9, state="DEPLOYING")
    started = dashboard_version().token
    assert len({before, ended, started}) == 3


@pytest.mark.parametrize("token", ["abc", "1" * 65, "<script>"])
def test_it_answers_a_malformed_token_with_400(client_for, viewer, token):
    response = client_for(viewer).get("/", {"v": token}, headers=HX)
    assert response.status_code == 400


def test_it_warns_when_sync_is_failing_or_stale(client_for, viewer, estate, settings):
    now = timezone.now()
    healthy, failing, stale = (
        AccountFactory(name="healthy"),
        AccountFactory(name="failing"),
        AccountFactory(name="stale"),
    )
    SyncRun.objects.create(
        scope="account", account=healthy, status="succeeded", started_at=now, finished_at=now
    )
    earlier = now - timedelta(minutes=1)
    SyncRun.objects.create(
        scope="account", account=failing, status="succeeded", started_at=earlier, finished_at=earlier
    )
    SyncRun.objects.create(
        scope="account", account=failing, status="failed", started_at=now, error="AccessDenied"
    )
    old = now - timedelta(seconds=settings.SYNC_STALE_AFTER_SECONDS + 60)
    SyncRun.objects.create(
        scope="account", account=stale, status="succeeded", started_at=old, finished_at=old
    )

    html = client_for(viewer).get("/").content.decode()

    health = html.split('id="health-h"')[1].split("</section>")[0]
    assert "healthy" in health and "Healthy" in health
    assert "Warning: last sync failed: AccessDenied" in health
    assert "Warning: sync is stale" in health
    assert 'role="status"' in health


def _dashboard_queries(client, estate, rows: int, django_assert_max_num_queries) -> int:
    environments = [EnvironmentFactory(application=estate.application) for _ in range(3)]
    Deployment.objects.bulk_create(
        Deployment(
            environment=environments[i % 3],
            deployment_number=1000 + i,
            state="DEPLOYING" if i % 2 else "COMPLETE",
            started_at=timezone.now(),
            completed_at=None if i % 2 else timezone.now(),
        )  # fmt: skip
        for i in range(rows)
    )
    for account in {estate.application.account}:
        SyncRun.objects.create(
            scope="account", account=account, status="succeeded", started_at=timezone.now()
        )
    with django_assert_max_num_queries(10) as captured:
        assert client.get("/").status_code == 200
    return len(captured)


def test_it_runs_a_fixed_number_of_queries(client_for, viewer, estate, django_assert_max_num_queries):
    client = client_for(viewer)
    few = _dashboard_queries(client, estate, 4, django_assert_max_num_queries)
    many = _dashboard_queries(client, estate, 400, django_assert_max_num_queries)
    assert few == many


def test_it_leaves_a_disabled_accounts_deployments_out_of_in_progress(client_for, viewer, estate):
    assert deployment_url(estate.running) in client_for(viewer).get("/").content.decode()
    version = dashboard_version().token
    Account.objects.filter(pk=estate.application.account_id).update(enabled=False)
    html = client_for(viewer).get("/").content.decode()
    active = html.split('id="active-h"')[1].split("</section>")[0]
    assert deployment_url(estate.running) not in active and "Nothing is deploying right now." in active
    assert dashboard_version().token != version  # a poll learns it


def test_it_names_the_account_beside_each_application_when_there_are_several(client_for, viewer, estate):
    name = estate.application.account.name
    assert f'<span class="muted account">{name}</span>' not in client_for(viewer).get("/").content.decode()
    AccountFactory(name="second")
    assert f'<span class="muted account">{name}</span>' in client_for(viewer).get("/").content.decode()


def test_it_renders_a_changed_region_once_for_every_viewer_of_the_same_applications(
    make_user, client, estate, django_assert_num_queries
):
    """Load: one deployment moving must not make every viewer's poll read and render the lists again."""
    first, second = make_user(Role.VIEWER), make_user(Role.VIEWER)
    held = dashboard_version().token
    Deployment.objects.filter(pk=estate.running.pk).update(
        percentage_complete=80.0, updated_at=timezone.now()
    )
    client.force_login(first)
    assert "80.00%" in client.get(f"/?v={held}", headers=HX).content.decode()

    client.force_login(second)
    # Session, user, token, the viewer's access: the lists, health and rows come from the cached region.
    with django_assert_num_queries(4):
        response = client.get(f"/?v={held}", headers=HX)
    assert response.status_code == 200 and "80.00%" in response.content.decode()


def test_it_never_serves_one_scopes_region_to_another(client, viewer, outsider, estate):
    """Scope: the region cached for a viewer of every application is not what a scoped user gets."""
    client.force_login(viewer)
    assert deployment_url(estate.running) in client.get("/").content.decode()
    client.force_login(outsider)
    html = client.get("/").content.decode()
    assert deployment_url(estate.running) not in html and "Nothing is deploying right now." in html


def test_it_changes_its_version_when_a_stop_request_is_made_or_moves(estate):
    before = dashboard_version().token
    stop_request = StopRequestFactory(deployment=estate.running)
    made = dashboard_version().token
    StopRequest.objects.filter(pk=stop_request.pk).update(status="approved", version=F("version") + 1)
    moved = dashboard_version().token
    assert len({before, made, moved}) == 3


def test_it_shows_an_approver_the_requests_waiting_for_them_at_the_next_poll(client_for, approver, estate):
    client = client_for(approver)
    held = dashboard_version().token
    assert "wait for your approval" not in client.get("/").content.decode()
    StopRequestFactory(deployment=estate.running)
    response = client.get(f"/?v={held}", headers=HX)
    assert response.status_code == 200
    assert "1 stop request waits for your approval." in response.content.decode()


def test_it_asks_no_waiting_count_of_a_viewer_who_approves_nowhere(
    client_for, viewer, estate, django_assert_num_queries
):
    client = client_for(viewer)
    client.get("/")  # the region is cached now
    with django_assert_num_queries(4):  # session, user, token, access: no stop-request count
        client.get("/?v=0-0", headers=HX)
