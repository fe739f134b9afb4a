"""Work the web asks of the background: an operator's "Sync now" on an environment, and the lazy fetches of
an old deployment's event log and of a deployment's configuration content. Each is throttled with the cache
(`cache.add` is atomic: the first caller in a window wins), so repeated clicks or many viewers enqueue one
task per window, not one per request."""

from __future__ import annotations

from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest

from audit.records import record
from deployments import tasks
from deployments.models import Deployment, Environment
from portal.queue import publish, publish_on_commit

SYNC_NOW_EVERY_SECONDS = 5
DETAILS_ASK_EVERY_SECONDS = 10

# What became of a request for background work.
QUEUED = "queued"
THROTTLED = "throttled"  # asked for moments ago: nothing more queued or recorded
DELAYED = "delayed"  # the broker could not take it now: the next beat pass (or the page's next ask) will


def _publish_after_commit(task, **kwargs) -> str:
    """Publish now when no transaction is open (a view), so the caller can say whether it went; on commit
    otherwise (the caller's transaction decides)."""
    if transaction.get_connection().in_atomic_block:
        publish_on_commit(task, **kwargs)
        return QUEUED
    return QUEUED if publish(task, **kwargs) else DELAYED


def environment_sync_request(*, environment: Environment, request: HttpRequest) -> str:
    """Ask for an immediate sync of one environment: QUEUED, THROTTLED (one was asked for in the last
    SYNC_NOW_EVERY_SECONDS: nothing is queued or recorded) or DELAYED (recorded, but the broker could not take
    it: the next full pass syncs the environment anyway).

    1. Take the environment's throttle slot in the cache.
    2. Record `sync.requested` in the audit trail (committed), then publish `sync_environment_task`.
    """
    if not cache.add(f"sync-now:environment:{environment.pk}", 1, SYNC_NOW_EVERY_SECONDS):
        return THROTTLED
    with transaction.atomic():
        record(action="sync.requested", request=request, target=environment)
    return _publish_after_commit(tasks.sync_environment_task, environment_id=environment.pk)


def deployment_details_request(*, deployment: Deployment) -> str:
    """Publish the lazy GetDeployment of a deployment whose event log is not cached yet, at most once per
    DETAILS_ASK_EVERY_SECONDS (the page keeps polling, so a lost task is asked for again): QUEUED, THROTTLED
    or DELAYED (the broker could not take it; the page says so and asks again)."""
    if not cache.add(f"details:deployment:{deployment.pk}", 1, DETAILS_ASK_EVERY_SECONDS):
        return THROTTLED
    return _publish_after_commit(tasks.deployment_fetch_details_task, deployment_id=deployment.pk)


def deployment_configuration_request(*, deployment: Deployment) -> str:
    """Publish the lazy fetch of a deployment's configuration content (and its baseline's), at most once per
    DETAILS_ASK_EVERY_SECONDS (the diff region keeps polling while it waits): QUEUED, THROTTLED or DELAYED."""
    if not cache.add(f"configuration:deployment:{deployment.pk}", 1, DETAILS_ASK_EVERY_SECONDS):
        return THROTTLED
    return _publish_after_commit(tasks.deployment_fetch_configuration_task, deployment_id=deployment.pk)
