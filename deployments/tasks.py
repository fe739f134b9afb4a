"""Thin Celery tasks of the sync: take ids, fetch, call a service (imported inside the body: services import
this module to publish). Each task is named after its service with `_task`; the Celery names are pinned to
the ones beat entries and queued messages already use.

Queues (CELERY_TASK_ROUTES): full passes (`sync_all_accounts`, `sync_account`, `sync_application`) go to
`sync`, and make their AppConfig calls as background calls, leaving a reserve of each account's API budget;
the refresh of live deployments, detail fetches and an operator's "Sync now" go to `live`, which a worker of
its own consumes (as `stops` has its own), so a backlog of full passes never holds them up.

Only transient AppConfig errors are retried (with exponential backoff); a permanent one is already written
on the sync run, so retrying would only repeat it.

Expected AWS faults are one log line each, with their error code (`AppConfigError`'s text starts with the
operation and the code): Celery logs each retry in one line, and a task that runs out of retries logs one
warning instead of failing with a traceback (the error is on the sync run already)."""

import logging

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval

from deployments.appconfig import PermanentAppConfigError, TransientAppConfigError, background_calls
from deployments.models import Account, Application, Deployment, Environment
from portal.queue import waiting

logger = logging.getLogger(__name__)

_RETRY = {"bind": True, "max_retries": 3}


def retry_or_give_up(task, exc: TransientAppConfigError) -> None:
    """Retry a transient AppConfig error with exponential backoff (2, 4, 8 s... at most 60, jittered); once
    the retries are spent, one warning line and no traceback: the fault is expected and already recorded."""
    retries = task.request.retries
    if retries >= task.max_retries:
        logger.warning("%s gave up after %d retries: %s", task.name, retries, exc)
        return
    countdown = get_exponential_backoff_interval(factor=2, retries=retries, maximum=60, full_jitter=True)
    raise task.retry(exc=exc, countdown=countdown)


@shared_task(name="deployments.tasks.sync_all_accounts", ignore_result=True)
def sync_all_accounts() -> None:
    """Beat's full pass, unless the previous one is still queued: a pass that takes longer than
    SYNC_INTERVAL_SECONDS (a large estate, few workers) would otherwise stack pass on pass in the `sync`
    queue without end. The first tick after it drains starts the next."""
    from deployments.sync import accounts_to_sync, sync_accounts_fan_out

    backlog = waiting("sync")
    if backlog:
        logger.info("full sync pass skipped: %d tasks of the previous pass are still queued", backlog)
        return
    with background_calls():
        sync_accounts_fan_out(accounts=accounts_to_sync())


@shared_task(name="deployments.tasks.sync_account", ignore_result=True, **_RETRY)
def sync_account_task(self, *, account_id: int) -> None:
    from deployments.sync import sync_account

    account = Account.objects.filter(pk=account_id, enabled=True).first()
    if account is None:
        return
    try:
        with background_calls():
            sync_account(account=account, fan_out=True)
    except TransientAppConfigError as exc:
        retry_or_give_up(self, exc)
    except PermanentAppConfigError:
        return  # recorded on the account's sync run


@shared_task(name="deployments.tasks.sync_application", ignore_result=True, **_RETRY)
def sync_application_task(self, *, application_id: int) -> None:
    from deployments.sync import sync_application

    application = Application.objects.select_related("account").filter(pk=application_id).first()
    if application is None or not application.account.enabled:
        return
    try:
        with background_calls():
            sync_application(application=application)
    except TransientAppConfigError as exc:
        retry_or_give_up(self, exc)
    except PermanentAppConfigError:
        return  # recorded on the application's sync run


@shared_task(name="deployments.tasks.sync_environment", ignore_result=True, **_RETRY)
def sync_environment_task(self, *, environment_id: int) -> None:
    from deployments.sync import sync_environment

    environment = Environment.objects.select_related("application__account").filter(pk=environment_id).first()
    if environment is None or not environment.application.account.enabled:
        return
    try:
        sync_environment(environment=environment)
    except TransientAppConfigError as exc:
        retry_or_give_up(self, exc)
    except PermanentAppConfigError:
        return  # recorded on the environment's sync run


@shared_task(name="deployments.tasks.refresh_active_deployments", ignore_result=True)
def refresh_active_deployments_task() -> None:
    """Beat's tick: one refresh task per account, so the live worker's processes share the accounts and one
    slow account does not hold the others' refresh back."""
    from django.conf import settings

    from deployments.sync import accounts_to_sync

    for account in accounts_to_sync():
        # Expires with the tick: a backed-up worker drops a stale refresh instead of stacking them up.
        refresh_account_active_deployments_task.apply_async(
            kwargs={"account_id": account.pk}, expires=settings.ACTIVE_REFRESH_SECONDS
        )


@shared_task(name="deployments.tasks.refresh_account_active_deployments", ignore_result=True)
def refresh_account_active_deployments_task(*, account_id: int) -> None:
    from deployments.sync import refresh_active_deployments

    account = Account.objects.filter(pk=account_id, enabled=True).first()
    if account is None:
        return
    try:
        refresh_active_deployments(account=account)
    except (TransientAppConfigError, PermanentAppConfigError):
        return  # recorded; the next beat tick (seconds away) is the retry


def _fetch_for_deployment(task, deployment_id: int, fetch, **filters) -> None:
    """A lazy fetch for one deployment (`fetch(deployment=...)`): a transient error is retried, a permanent
    one is stored on the row by the service (the page shows it)."""
    deployment = (
        Deployment.objects.select_related("environment__application__account")
        .filter(pk=deployment_id, **filters)
        .first()
    )
    if deployment is None:
        return
    try:
        fetch(deployment=deployment)
    except TransientAppConfigError as exc:
        retry_or_give_up(task, exc)
    except PermanentAppConfigError:
        return  # stored on the row; the page shows it


@shared_task(name="deployments.tasks.fetch_deployment_details", ignore_result=True, **_RETRY)
def deployment_fetch_details_task(self, *, deployment_id: int) -> None:
    from deployments.sync import deployment_fetch_details

    _fetch_for_deployment(self, deployment_id, deployment_fetch_details)


@shared_task(name="deployments.tasks.fetch_deployment_configuration", ignore_result=True, **_RETRY)
def deployment_fetch_configuration_task(self, *, deployment_id: int) -> None:
    from deployments.configuration import deployment_fetch_configuration

    # A disabled Account's AppConfig is not asked anything any more.
    _fetch_for_deployment(
        self, deployment_id, deployment_fetch_configuration, environment__application__account__enabled=True
    )
