"""Work the web asks of the background: an operator's "Sync now" on an environment, and the lazy fetch of
an old deployment's event log. Each is throttled with the cache (`cache.add` is atomic: the first caller in
a window wins), so repeated clicks or many viewers enqueue one task per window, not one per request."""

from __future__ import annotations

from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest

from audit.records import record
from deployments import tasks
from deployments.models import Deployment, Environment
from portal.queue import publish_on_commit

SYNC_NOW_EVERY_SECONDS = 5
DETAILS_ASK_EVERY_SECONDS = 10


def environment_sync_request(*, environment: Environment, request: HttpRequest) -> bool:
    """Ask for an immediate sync of one environment; False when one was asked for in the last
    SYNC_NOW_EVERY_SECONDS (nothing is queued or recorded then).

    1. Take the environment's throttle slot in the cache.
    2. In one transaction: record `sync.requested` in the audit trail, and publish `sync_environment_task`
       for after the commit (a rolled-back request queues nothing).
    """
    if not cache.add(f"sync-now:environment:{environment.pk}", 1, SYNC_NOW_EVERY_SECONDS):
        return False
    with transaction.atomic():
        record(action="sync.requested", request=request, target=environment)
        publish_on_commit(tasks.sync_environment_task, environment_id=environment.pk)
    return True


def deployment_details_request(*, deployment: Deployment) -> bool:
    """Publish the lazy GetDeployment of a deployment whose event log is not cached yet, at most once per
    DETAILS_ASK_EVERY_SECONDS (the page keeps polling, so a lost task is asked for again)."""
    if not cache.add(f"details:deployment:{deployment.pk}", 1, DETAILS_ASK_EVERY_SECONDS):
        return False
    publish_on_commit(tasks.deployment_fetch_details_task, deployment_id=deployment.pk)
    return True
