"""The first minute: a worker syncs as soon as it is ready (Celery's worker_ready, portal/celery.py), and the
dashboard says "first sync in progress" while the first pass runs, not "never synced"."""

from __future__ import annotations

import pytest
from celery.signals import worker_ready
from django.utils import timezone

from deployments.models import Deployment, SyncRun
from tests.deployments.seeding import make_target, start
from tests.helpers import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


class _Consumer:
    """The sender `celery worker` gives the signal: its consumer, which knows the app."""

    def __init__(self, app) -> None:
        self.app = app


def test_it_syncs_every_account_as_soon_as_a_worker_is_ready(account, boto_client, celery_app, celery_worker):
    number = start(boto_client, make_target(boto_client, duration=10, growth=20.0, bake=5))

    # What `celery worker` sends once it consumes (the in-process test worker does not send it itself).
    # No beat here: only this signal asks for the pass.
    worker_ready.send(sender=_Consumer(celery_app))

    assert wait_until(lambda: Deployment.objects.filter(deployment_number=number).exists(), timeout=30)
    assert SyncRun.objects.filter(account=account, scope="account", status="succeeded").exists()


def test_it_says_first_sync_in_progress_until_one_finishes(client_for, viewer, account):
    dashboard = client_for(viewer)
    assert b"never synced yet" in dashboard.get("/").content

    SyncRun.objects.create(scope="account", account=account, started_at=timezone.now())
    page = dashboard.get("/").content
    assert b"First sync in progress" in page and b"never synced" not in page
