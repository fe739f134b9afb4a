"""The configuration diff region and page: never an AppConfig call in a request (the fetch is a task),
the region polling while it waits, the diff once cached (collapsed beyond a limit, the full diff behind a
link), contents audited as config.viewed, hidden by SHOW_CONFIG_CONTENT=0, digests only for binary content
and nothing read outside AppConfig; 404 (audited) outside the user's scope; the deployment page and the
stop dialog link to it."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from deployments.appconfig import NotFoundError
from deployments.configuration import deployment_fetch_configuration
from deployments.models import Account
from tests.deployments.seeding import cached, deploy, profile
from tests.deployments.test_views_deployment_detail import PAGE_QUERIES
from tests.helpers import HX, deployment_url

pytestmark = pytest.mark.django_db

JSON = "application/json"


def url(deployment, **query) -> str:
    base = reverse(
        "deployment_configuration",
        args=[
            deployment.environment.application.application_id,
            deployment.environment.environment_id,
            deployment.deployment_number,
        ],
    )
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def two_versions(world, before: bytes, after: bytes, content_type: str = JSON, **options):
    profile_id = profile(world, "settings", [(before, content_type), (after, content_type)], **options)
    deploy(world, profile_id, "1")
    return cached(world, deploy(world, profile_id, "2", finish=False))


@pytest.fixture
def deploying(config_world):
    """Deployment 2 moving from {"limit": 10} to {"limit": 20}, content not fetched yet."""
    return two_versions(config_world, b'{"limit": 10}', b'{"limit": 20}')


def viewed():
    return list(AuditEvent.objects.filter(action="config.viewed"))


def test_it_asks_a_task_for_the_content_and_never_calls_appconfig(
    client_for, viewer, config_world, deploying, published, django_assert_max_num_queries,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    client = client_for(viewer)
    # Each: session, user, the deployment with the role check, its configuration row.
    with django_capture_on_commit_callbacks(execute=True), django_assert_max_num_queries(8):
        response = client.get(url(deploying), headers=HX)
        again = client.get(url(deploying), headers=HX)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Fetching the configuration" in html and 'hx-trigger="every 2s' in html
    assert "<html" not in html
    assert published == [
        ("deployments.tasks.fetch_deployment_configuration", {"deployment_id": deploying.pk})
    ]
    assert again.status_code == 200  # the second ask falls in the throttle window
    assert config_world.emulator.counters() == {}
    assert viewed() == []


def test_it_shows_the_diff_once_fetched_and_audits_the_view(
    client_for, viewer, config_world, deploying, published
):
    deployment_fetch_configuration(deployment=deploying)
    config_world.emulator.reset_counters()

    response = client_for(viewer).get(url(deploying), headers=HX)

    html = response.content.decode()
    assert response.status_code == 200
    assert '<span class="diff-remove">-  &quot;limit&quot;: 10</span>' in html
    assert '<span class="diff-add">+  &quot;limit&quot;: 20</span>' in html
    assert "hx-trigger" not in html  # nothing left to wait for
    assert published == [] and config_world.emulator.counters() == {}
    (event,) = viewed()
    assert event.actor_username == "viewer" and event.deployment_number == deploying.deployment_number
    assert json.loads(event.details)["sha256"] == deploying.configuration.sha256


def test_it_works_as_a_page_of_its_own_without_javascript(client_for, viewer, config_world, deploying):
    deployment_fetch_configuration(deployment=deploying)

    html = client_for(viewer).get(url(deploying)).content.decode()

    assert "<html" in html and "What deployment 2 changes" in html
    assert 'class="diff-add"' in html and deployment_url(deploying) in html


def test_it_collapses_a_long_diff_behind_a_link_to_the_full_diff(client_for, viewer, config_world, settings):
    settings.CONFIG_DIFF_PREVIEW_LINES = 10
    before = json.dumps({f"key{i}": i for i in range(40)}).encode()
    after = json.dumps({f"key{i}": i + 1 for i in range(40)}).encode()
    deployment = two_versions(config_world, before, after)
    deployment_fetch_configuration(deployment=deployment)
    client = client_for(viewer)

    region = client.get(url(deployment), headers=HX).content.decode()
    full = client.get(url(deployment, full=1)).content.decode()

    assert region.count('<span class="diff-') == 10
    assert f'href="{url(deployment)}?full=1"' in region and "Show the full diff" in region
    assert full.count('<span class="diff-') > 80 and "Show the full diff" not in full


def test_it_shows_only_digests_when_contents_are_hidden(client_for, viewer, config_world, settings):
    settings.SHOW_CONFIG_CONTENT = False
    deployment = two_versions(config_world, b'{"password": "hunter2"}', b'{"password": "swordfish"}')
    deployment_fetch_configuration(deployment=deployment)

    html = client_for(viewer).get(url(deployment), headers=HX).content.decode()

    assert "SHOW_CONFIG_CONTENT=0" in html and deployment.configuration.sha256 in html
    assert "hunter2" not in html and "swordfish" not in html and "diff-add" not in html
    assert viewed() == []


def test_it_shows_sizes_and_digests_of_binary_content(client_for, viewer, config_world):
    deployment = two_versions(config_world, b"\x00\x01", b"\x00\x02\x03", "application/octet-stream")
    deployment_fetch_configuration(deployment=deployment)

    html = client_for(viewer).get(url(deployment), headers=HX).content.decode()

    assert "sizes and digests only" in html and "3 B" in html and "2 B" in html
    assert deployment.configuration.sha256 in html
    assert viewed() == []


def test_it_shows_the_feature_flag_table(client_for, viewer, config_world):
    before = {"flags": {"basket": {"name": "basket"}}, "values": {"basket": {"enabled": False}}}
    after = {"flags": {"basket": {"name": "basket"}}, "values": {"basket": {"enabled": True}}}
    deployment = two_versions(
        config_world,
        json.dumps(before).encode(),
        json.dumps(after).encode(),
        kind="AWS.AppConfig.FeatureFlags",
    )
    deployment_fetch_configuration(deployment=deployment)

    html = client_for(viewer).get(url(deployment), headers=HX).content.decode()

    assert '<tr class="flag-enabled"><td><code>basket</code></td><td>enabled</td>' in html
    assert "Raw diff" in html


def test_it_says_where_content_outside_appconfig_lives(client_for, viewer, config_world):
    ssm = config_world.client.create_configuration_profile(
        ApplicationId=config_world.app, Name="db", LocationUri="ssm-parameter://db-url", Type="AWS.Freeform"
    )["Id"]
    deployment = cached(config_world, deploy(config_world, ssm, "3", finish=False))
    deployment_fetch_configuration(deployment=deployment)

    html = client_for(viewer).get(url(deployment), headers=HX).content.decode()

    assert "an AWS Systems Manager parameter" in html and "ssm-parameter://db-url" in html
    assert "secrets never leave AWS" in html
    assert viewed() == []


def test_it_answers_404_outside_the_users_scope_and_audits_it(client_for, outsider, deploying, published):
    response = client_for(outsider).get(url(deploying))

    assert response.status_code == 404
    assert published == []
    denied = AuditEvent.objects.get(action="access.denied")
    assert denied.actor_username == "outsider" and denied.deployment_number == deploying.deployment_number


def test_it_sends_anonymous_users_to_log_in(client, deploying):
    response = client.get(url(deploying))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_it_keeps_the_deployment_pages_query_count_with_a_cached_diff(
    client_for, viewer, config_world, deploying, django_assert_max_num_queries
):
    deployment_fetch_configuration(deployment=deploying)
    client = client_for(viewer)
    client.get(deployment_url(deploying))  # the cached fragments, as on any page view after the first
    with django_assert_max_num_queries(PAGE_QUERIES + 1):
        response = client.get(deployment_url(deploying))

    html = response.content.decode()
    assert f'hx-get="{url(deploying)}" hx-trigger="load"' in html
    assert f'<a href="{url(deploying)}">Show the configuration diff</a>' in html


def test_the_stop_dialog_links_to_the_diff(client_for, operator, deploying):
    html = client_for(operator).get(deploying.get_stop_url()).content.decode()
    assert f'href="{url(deploying)}"' in html and "the configuration diff" in html


def test_it_asks_again_after_a_refusal_without_polling(
    client_for, viewer, config_world, deploying, published, django_capture_on_commit_callbacks
):
    config_world.client.delete_hosted_configuration_version(
        ApplicationId=deploying.environment.application.application_id,
        ConfigurationProfileId=deploying.configuration_profile_id,
        VersionNumber=2,
    )
    with pytest.raises(NotFoundError):
        deployment_fetch_configuration(deployment=deploying)

    with django_capture_on_commit_callbacks(execute=True):
        html = client_for(viewer).get(url(deploying), headers=HX).content.decode()

    assert "AppConfig refused the configuration" in html and "ResourceNotFoundException" in html
    assert "hx-trigger" not in html
    assert [name for name, _ in published] == ["deployments.tasks.fetch_deployment_configuration"]


def test_it_reads_nothing_for_a_disabled_account(client_for, viewer, config_world, deploying, published):
    Account.objects.filter(pk=config_world.account.pk).update(enabled=False)

    html = client_for(viewer).get(url(deploying), headers=HX).content.decode()

    assert "is disabled" in html and "hx-trigger" not in html
    assert published == []
