"""Tasks of the stop workflow, on the `stops` queue (routed by name in settings), so a sync backlog never
delays a stop. Thin: take ids, call a service (imported inside the body: services import this module).
Names are pinned to where the tasks were first defined, so messages already queued and beat's entries keep
working."""

import logging

from celery import shared_task
from django.conf import settings

from deployments.appconfig import TransientAppConfigError

logger = logging.getLogger(__name__)


@shared_task(
    name="deployments.tasks.stop_execute",
    bind=True,
    ignore_result=True,
    acks_late=True,  # a worker lost mid-task leaves the message to be delivered again...
    reject_on_worker_lost=True,  # ...and requeued, instead of acknowledged as if it had finished
    max_retries=5,
    time_limit=settings.STOP_TASK_TIME_LIMIT,
    # A few seconds before the hard limit (a fifth of it for the shortest limits, never zero, which would
    # mean none), for the execution to record an ambiguous outcome instead of dying silently.
    soft_time_limit=settings.STOP_TASK_TIME_LIMIT - min(5, settings.STOP_TASK_TIME_LIMIT // 5),
)
def stop_execute(self, *, stop_request_id: int) -> None:
    from stops.services import stop_request_execute

    try:
        stop_request_execute(stop_request_id=stop_request_id)
    except TransientAppConfigError as exc:
        # The request is back in "approved"; past max_retries the relay keeps offering it until
        # STOP_MAX_ATTEMPTS fails it for good. An expected fault: one line (Celery's for a retry, this one
        # when the retries are spent), never a traceback.
        if self.request.retries >= self.max_retries:
            logger.warning("stop request %s: retries spent, left to the relay: %s", stop_request_id, exc)
            return
        raise self.retry(exc=exc, countdown=min(2**self.request.retries, 30)) from exc


@shared_task(name="deployments.tasks.stop_relay", ignore_result=True)
def stop_relay() -> None:
    from stops.services import stop_requests_relay

    for stop_request_id in stop_requests_relay():
        stop_execute.delay(stop_request_id=stop_request_id)


@shared_task(name="deployments.tasks.stop_expire", ignore_result=True)
def stop_expire() -> None:
    from stops.services import stop_requests_expire

    stop_requests_expire()


@shared_task(name="deployments.tasks.notify_stop_request", ignore_result=True)
def notify_stop_request(*, stop_request_id: int, event: str) -> None:
    from stops.notifications import notify_event

    notify_event(stop_request_id=stop_request_id, event=event)
