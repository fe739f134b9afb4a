"""The Celery app: configuration from Django settings (CELERY_*), the beat schedule installed below."""

import os

from celery import Celery

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
