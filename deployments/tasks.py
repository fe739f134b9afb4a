"""Thin Celery tasks: take ids, fetch, call a service. Only transient AppConfig errors are retried (with
exponential backoff); a permanent one is already written on the sync run, so retrying would only repeat it."""

from celery import shared_task
from django.conf import settings

from deployments import notifications, stopping, sync
from deployments.appconfig import PermanentAppConfigError, TransientAppConfigError
from deployments.models import Account, Application, Deployment, Environment, StopRequest

_RETRY = {
    "autoretry_for": (TransientAppConfigError,),
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 3,
}


@shared_task(ignore_result=True)
def sync_all_accounts() -> None:
    for account in sync.accounts_to_sync():
        sync_account.delay(account_id=account.pk)


def _enqueue_application(application: Application) -> None:
    sync_application.delay(application_id=application.pk)


@shared_task(ignore_result=True, **_RETRY)
def sync_account(*, account_id: int) -> None:
    account = Account.objects.filter(pk=account_id, enabled=True).first()
    if account is None:
        return
    try:
        sync.sync_account(account=account, sync_each=_enqueue_application)
    except PermanentAppConfigError:
        return  # recorded on the account's sync run


@shared_task(ignore_result=True, **_RETRY)
def sync_application(*, application_id: int) -> None:
    application = Application.objects.select_related("account").filter(pk=application_id).first()
    if application is None or not application.account.enabled:
        return
    try:
        sync.sync_application(application=application)
    except PermanentAppConfigError:
        return  # recorded on the application's sync run


@shared_task(ignore_result=True, **_RETRY)
def sync_environment(*, environment_id: int) -> None:
    environment = Environment.objects.select_related("application__account").filter(pk=environment_id).first()
    if environment is None or not environment.application.account.enabled:
        return
    try:
        sync.sync_environment_run(environment=environment)
    except PermanentAppConfigError:
        return


@shared_task(ignore_result=True)
def refresh_active_deployments() -> None:
    for account in sync.accounts_to_sync():
        try:
            sync.refresh_active_deployments(account=account)
        except (TransientAppConfigError, PermanentAppConfigError):
            continue  # recorded; the next beat tick (seconds away) is the retry


@shared_task(ignore_result=True, **_RETRY)
def fetch_deployment_details(*, deployment_id: int) -> None:
    deployment = (
        Deployment.objects.select_related("environment__application__account")
        .filter(pk=deployment_id)
        .first()
    )
    if deployment is None:
        return
    try:
        sync.deployment_fetch_details(deployment=deployment)
    except PermanentAppConfigError:
        return  # stored on the row; the page shows it


# ---------------------------------------------------------------------------------------------------------
# Stopping: its own queue ("stops", by the route on stop_*), so a sync backlog never delays a stop.


@shared_task(
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
    try:
        stopping.stop_request_execute(stop_request_id=stop_request_id)
    except TransientAppConfigError as exc:
        # The request is back in "approved"; past max_retries the relay keeps offering it until
        # STOP_MAX_ATTEMPTS fails it for good.
        raise self.retry(exc=exc, countdown=min(2**self.request.retries, 30)) from exc


@shared_task(ignore_result=True)
def stop_relay() -> None:
    for stop_request_id in stopping.stop_requests_relay():
        stop_execute.delay(stop_request_id=stop_request_id)


@shared_task(ignore_result=True)
def stop_expire() -> None:
    stopping.stop_requests_expire()


@shared_task(ignore_result=True)
def notify_stop_request(*, stop_request_id: int, event: str) -> None:
    stop_request = (
        StopRequest.objects.select_related("deployment__environment__application", "requested_by")
        .filter(pk=stop_request_id)
        .first()
    )
    if stop_request is not None:
        notifications.notify(stop_request, event)
