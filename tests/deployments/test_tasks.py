"""The sync tasks through a real Celery worker and the real Redis broker, against the real emulator."""

import pytest
import redis

from deployments import tasks
from deployments.models import Application, Deployment, DeploymentConfiguration, Environment, SyncRun
from tests.deployments.seeding import make_target, start
from tests.helpers import wait_until


@pytest.mark.django_db(transaction=True)
def test_it_syncs_an_account_fanned_out_per_application(account, emulator, celery_worker):
    emulator.seed_estate(applications=3, environments=2, deployments=4)

    tasks.sync_all_accounts.delay()

    wait_until(lambda: Deployment.objects.count() == 24)
    wait_until(lambda: SyncRun.objects.filter(scope="application", status="succeeded").count() == 3)
    assert Application.objects.count() == 3
    assert Environment.objects.count() == 6


@pytest.mark.django_db(transaction=True)
def test_it_refreshes_deployments_in_progress_and_fetches_details(
    account, emulator, boto_client, celery_worker
):
    target = make_target(boto_client, duration=10, growth=50.0)
    number = start(boto_client, target)
    tasks.sync_all_accounts.delay()
    wait_until(lambda: Deployment.objects.filter(deployment_number=number).exists())
    wait_until(lambda: SyncRun.objects.filter(scope="application").exclude(status="running").exists())

    emulator.advance(6 * 60)
    tasks.refresh_active_deployments_task.delay()
    wait_until(lambda: Deployment.objects.get(deployment_number=number).percentage_complete == 50.0)

    deployment = Deployment.objects.get(deployment_number=number)
    Deployment.objects.filter(pk=deployment.pk).update(details_fetched_at=None)
    deployment.events.all().delete()
    tasks.deployment_fetch_details_task.delay(deployment_id=deployment.pk)
    wait_until(lambda: deployment.events.count() >= 2)


@pytest.mark.django_db(transaction=True)
def test_it_retries_a_transient_failure_with_backoff(account, emulator, celery_worker, settings):
    emulator.seed_estate(applications=1, environments=1, deployments=2)
    # More failures than botocore's own attempts (3 in the tests): the task itself must retry. (Throttling
    # is waited out inside the call instead, see test_appconfig_budget.py.)
    emulator.add_fault(operation="ListApplications", kind="error", count=4)

    tasks.sync_account_task.delay(account_id=account.pk)

    wait_until(lambda: Deployment.objects.count() == 2, timeout=60)
    runs = SyncRun.objects.filter(scope="account").order_by("started_at")
    assert [r.status for r in runs] == ["failed", "succeeded"]
    assert "InternalServerException" in runs[0].error


@pytest.mark.django_db
def test_it_logs_a_transient_fault_in_one_line_once_the_retries_are_spent(
    environment_row, monkeypatch, caplog
):
    from deployments import sync
    from deployments.appconfig import TransientAppConfigError

    def throttled(**kwargs):
        raise TransientAppConfigError(
            "ListDeployments: ThrottlingException: Rate exceeded", code="Throttling"
        )

    monkeypatch.setattr(sync, "sync_environment", throttled)
    with caplog.at_level("INFO"):
        result = tasks.sync_environment_task.apply(kwargs={"environment_id": environment_row.pk})

    assert result.successful()  # expected and recorded on the run: not a task failure with a traceback
    retries = [r for r in caplog.records if "retry" in r.getMessage().lower()]
    gave_up = [r for r in caplog.records if "gave up" in r.getMessage()]
    assert len(retries) == tasks.sync_environment_task.max_retries
    assert len(gave_up) == 1 and "ThrottlingException" in gave_up[0].getMessage()
    assert all(r.exc_info is None and "Traceback" not in r.getMessage() for r in caplog.records)


@pytest.fixture
def environment_row(account):
    from tests.factories import EnvironmentFactory

    return EnvironmentFactory(application__account=account)


@pytest.mark.django_db(transaction=True)
def test_it_fetches_a_deployments_configuration_in_a_worker(account, emulator, boto_client, celery_worker):
    target = make_target(boto_client, duration=10, growth=50.0)
    number = start(boto_client, target)
    tasks.sync_all_accounts.delay()
    wait_until(lambda: Deployment.objects.filter(deployment_number=number).exists())
    deployment = Deployment.objects.get(deployment_number=number)

    tasks.deployment_fetch_configuration_task.delay(deployment_id=deployment.pk)

    wait_until(
        lambda: DeploymentConfiguration.objects.filter(
            deployment=deployment, fetched_at__isnull=False
        ).exists()
    )
    row = DeploymentConfiguration.objects.get(deployment=deployment)
    assert row.content_type == "application/json" and row.size == len(b'{"on": true}') and not row.error


@pytest.mark.django_db
def test_a_full_pass_is_not_queued_on_top_of_one_still_waiting(redis_url, settings, monkeypatch):
    """Protects the `sync` queue from growing without end when a pass outlasts SYNC_INTERVAL_SECONDS: beat's
    ticks queue up behind the pass, and each would publish another whole pass as soon as it ran."""
    settings.CELERY_BROKER_URL = redis_url
    passes = []
    monkeypatch.setattr("deployments.sync.sync_accounts_fan_out", lambda *, accounts: passes.append(1) or 0)
    broker = redis.Redis.from_url(redis_url)
    broker.delete("sync")
    broker.lpush("sync", "an application task of the previous pass")
    try:
        tasks.sync_all_accounts()
        assert passes == []
        broker.delete("sync")
        tasks.sync_all_accounts()
        assert passes == [1]
    finally:
        broker.delete("sync")
