"""A stop never waits behind a full pass: real worker processes, one per worker of the Procfile, on the queues
the Procfile gives each."""

from __future__ import annotations

import os
import re
import signal

import pytest
import redis

from deployments import sync, tasks
from deployments.models import SyncRun
from stops import services
from tests.helpers import BASE_DIR, wait_until, worker_process


def _procfile_workers() -> dict[str, str]:
    """The Procfile's worker entries and their queues (`-Q`)."""
    return {
        line.split(":")[0]: re.search(r"-Q (\S+)", line).group(1)
        for line in (BASE_DIR / "Procfile").read_text().splitlines()
        if line.startswith("worker") and " worker " in line
    }


def _finished_application_runs(after: int) -> int:
    runs = SyncRun.objects.filter(scope=SyncRun.Scope.APPLICATION, pk__gt=after)
    return runs.exclude(status=SyncRun.Status.RUNNING).count()


@pytest.mark.django_db(transaction=True)
def test_it_stops_a_deployment_while_a_full_pass_holds_every_sync_worker(
    live, operator, emulator, celery_app, redis_url
):
    emulator.seed_estate(applications=6, environments=1, deployments=2)
    sync.sync_account(account=live.environment.application.account)
    environment = live.environment
    environment.approvals_required = 0
    environment.save()
    before = SyncRun.objects.order_by("pk").last().pk
    # Every application of the full pass takes seconds: its ListEnvironments answers slowly.
    emulator.add_fault(operation="ListEnvironments", kind="latency", count=None, seconds=4)
    # Each worker of the Procfile, with one process (or thread) each: the sync worker has no slot to spare.
    workers = [worker_process(redis_url, queues=queues) for queues in _procfile_workers().values()]
    try:
        tasks.sync_account_task.delay(account_id=environment.application.account_id)
        # The pass has fanned out and the sync worker is inside an application, with others queued behind.
        wait_until(
            lambda: SyncRun.objects.filter(scope="application", status="running", pk__gt=before).exists()
        )
        assert redis.Redis.from_url(redis_url).llen("sync") > 0

        services.stop_request_create(deployment=live, user=operator, reason="bad rollout")

        wait_until(lambda: emulator.counters().get("StopDeployment", 0) == 1)
        # The stop went through before the application the sync worker holds had finished.
        assert _finished_application_runs(after=before) == 0
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
