"""Thin Celery tasks of the sync: take ids, fetch, call a service (imported inside the body: services import
this module to publish). Each task is named after its service with `_task`; the Celery names are pinned to
the ones beat entries and queued messages already use. Only transient AppConfig errors are retried (with
exponential backoff); a permanent one is already written on the sync run, so retrying would only repeat it."""

from celery import shared_task

from deployments.appconfig import PermanentAppConfigError, TransientAppConfigError
from deployments.models import Account, Application, Deployment, Environment

_RETRY = {
    "autoretry_for": (TransientAppConfigError,),
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 3,
}


@shared_task(name="deployments.tasks.sync_all_accounts", ignore_result=True)
def sync_all_accounts() -> None:
    from deployments.sync import accounts_to_sync

    for account in accounts_to_sync():
        sync_account_task.delay(account_id=account.pk)


@shared_task(name="deployments.tasks.sync_account", ignore_result=True, **_RETRY)
def sync_account_task(*, account_id: int) -> None:
    from deployments.sync import sync_account

    account = Account.objects.filter(pk=account_id, enabled=True).first()
    if account is None:
        return
    try:
        sync_account(account=account, fan_out=True)
    except PermanentAppConfigError:
        return  # recorded on the account's sync run


@shared_task(name="deployments.tasks.sync_application", ignore_result=True, **_RETRY)
def sync_application_task(*, application_id: int) -> None:
    from deployments.sync import sync_application

    application = Application.objects.select_related("account").filter(pk=application_id).first()
    if application is None or not application.account.enabled:
        return
    try:
        sync_application(application=application)
    except PermanentAppConfigError:
        return  # recorded on the application's sync run


@shared_task(name="deployments.tasks.sync_environment", ignore_result=True, **_RETRY)
def sync_environment_task(*, environment_id: int) -> None:
    from deployments.sync import sync_environment

    environment = Environment.objects.select_related("application__account").filter(pk=environment_id).first()
    if environment is None or not environment.application.account.enabled:
        return
    try:
        sync_environment(environment=environment)
    except PermanentAppConfigError:
        return  # recorded on the environment's sync run


@shared_task(name="deployments.tasks.refresh_active_deployments", ignore_result=True)
def refresh_active_deployments_task() -> None:
    from deployments.sync import accounts_to_sync, refresh_active_deployments

    for account in accounts_to_sync():
        try:
            refresh_active_deployments(account=account)
        except (TransientAppConfigError, PermanentAppConfigError):
            continue  # recorded; the next beat tick (seconds away) is the retry


@shared_task(name="deployments.tasks.fetch_deployment_details", ignore_result=True, **_RETRY)
def deployment_fetch_details_task(*, deployment_id: int) -> None:
    from deployments.sync import deployment_fetch_details

    deployment = (
        Deployment.objects.select_related("environment__application__account")
        .filter(pk=deployment_id)
        .first()
    )
    if deployment is None:
        return
    try:
        deployment_fetch_details(deployment=deployment)
    except PermanentAppConfigError:
        return  # stored on the row; the page shows it
