"""The Celery app: configuration from Django settings (CELERY_*), the beat schedule installed below, the
first sync at worker start, and the task context of log records."""

import logging.config
import os

from celery import Celery
from celery.signals import setup_logging, task_postrun, task_prerun, worker_ready

from portal import logs

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def _install_beat_schedule(sender: Celery, **kwargs) -> None:
    from django.conf import settings

    # Each entry expires after one interval: if beat runs ahead of a backed-up worker, stale passes are
    # dropped rather than piling up behind each other.
    sender.conf.beat_schedule = {
        "sync-all-accounts": {
            "task": "deployments.tasks.sync_all_accounts",
            "schedule": float(settings.SYNC_INTERVAL_SECONDS),
            "options": {"expires": settings.SYNC_INTERVAL_SECONDS},
        },
        "refresh-active-deployments": {
            "task": "deployments.tasks.refresh_active_deployments",
            "schedule": float(settings.ACTIVE_REFRESH_SECONDS),
            "options": {"expires": settings.ACTIVE_REFRESH_SECONDS},
        },
        "stop-relay": {
            "task": "deployments.tasks.stop_relay",
            "schedule": 5.0,
            "options": {"expires": 5},
        },
        "stop-expire": {
            "task": "deployments.tasks.stop_expire",
            "schedule": 30.0,
            "options": {"expires": 30},
        },
        "verify-audit-chain": {
            "task": "audit.tasks.verify_audit_chain",
            "schedule": float(settings.AUDIT_VERIFY_INTERVAL_SECONDS),
            "options": {"expires": settings.AUDIT_VERIFY_INTERVAL_SECONDS},
        },
    }


@worker_ready.connect
def _first_sync(sender, **kwargs) -> None:
    """A full sync as soon as a worker can take it, rather than one beat interval after start: the console
    shows AppConfig's state within seconds of a (re)start. Several workers starting together each ask for
    one; the passes are incremental and environment claims keep them from racing, so the extra cost is a
    few List calls."""
    from django.conf import settings

    if settings.SYNC_AT_WORKER_START:
        sender.app.send_task("deployments.tasks.sync_all_accounts")


@task_prerun.connect
def _task_log_context(task_id: str, task, **kwargs) -> None:
    logs.task_started(task.name, task_id)


@task_postrun.connect
def _task_log_context_end(**kwargs) -> None:
    logs.task_ended()


def _use_django_logging(**kwargs) -> None:
    # Connected only for JSON logs: Celery then leaves logging to Django's LOGGING (JSON, with the task
    # context) instead of installing its own text format. Plain text keeps Celery's familiar worker lines.
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


if os.environ.get("LOG_FORMAT", "plain").strip().lower() == "json":
    setup_logging.connect(_use_django_logging, weak=False)
