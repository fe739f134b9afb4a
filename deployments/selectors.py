"""Shared reads, already scoped to what the user may see or do.

`applications_for(user, perm)` is the one answer to "which applications may this user see / act on": every
view, task and command asks it (or `user_may`) rather than testing roles itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.utils import timezone

from deployments.models import Account, Application, RoleGrant, SyncRun

VIEW = "deployments.view_console"


def _grants(user, perm: str) -> QuerySet[RoleGrant]:
    app_label, codename = perm.split(".", 1)
    return RoleGrant.objects.filter(
        user=user,
        user__is_active=True,
        group__permissions__codename=codename,
        group__permissions__content_type__app_label=app_label,
    )


def applications_for(user: AbstractBaseUser | AnonymousUser, perm: str = VIEW) -> QuerySet[Application]:
    """Applications on which `user` holds `perm` ("app_label.codename"): through a role granted for every
    application, or for that application. Superusers hold every permission everywhere."""
    if not user.is_authenticated or not user.is_active:
        return Application.objects.none()
    if user.is_superuser:
        return Application.objects.all()
    grants = _grants(user, perm)
    if grants.filter(application__isnull=True).exists():
        return Application.objects.all()
    return Application.objects.filter(pk__in=grants.values("application_id"))


def user_may(
    user: AbstractBaseUser | AnonymousUser, perm: str, application: Application | None = None
) -> bool:
    """Whether `user` holds `perm` on `application`, or (application None) on at least one application."""
    scoped = applications_for(user, perm)
    if application is None:
        return scoped.exists()
    return scoped.filter(pk=application.pk).exists()


@dataclass(frozen=True)
class AccountHealth:
    account: Account
    last_run: SyncRun | None
    last_success: SyncRun | None
    failing_applications: int

    @property
    def stale(self) -> bool:
        if self.last_success is None:
            return True
        age = timezone.now() - (self.last_success.finished_at or self.last_success.started_at)
        return age > timedelta(seconds=settings.SYNC_STALE_AFTER_SECONDS)

    @property
    def last_synced_at(self) -> datetime | None:
        return self.last_success.finished_at if self.last_success else None

    @property
    def problem(self) -> str:
        """Empty when healthy; otherwise one sentence for the dashboard and /readyz."""
        if self.last_run is not None and self.last_run.status == SyncRun.Status.FAILED:
            return f"last sync failed: {self.last_run.error}"
        if self.last_success is None:
            return "never synced yet"
        if self.stale:
            return "sync is stale"
        if self.failing_applications:
            return f"{self.failing_applications} application sync(s) failed in the last pass"
        return ""


def sync_health() -> list[AccountHealth]:
    """Per enabled account: latest account-level run, latest successful one, and application runs that failed
    since that success started. A fixed number of queries per account (accounts are few)."""
    rows = []
    for account in Account.objects.filter(enabled=True):
        runs = SyncRun.objects.filter(account=account, scope=SyncRun.Scope.ACCOUNT)
        last_run = runs.first()
        last_success = runs.filter(status=SyncRun.Status.SUCCEEDED).first()
        failing = 0
        if last_success is not None:
            failing = (
                SyncRun.objects.filter(
                    account=account,
                    scope=SyncRun.Scope.APPLICATION,
                    status=SyncRun.Status.FAILED,
                    started_at__gte=last_success.started_at,
                )
                .values("application")
                .distinct()
                .count()
            )
        rows.append(AccountHealth(account, last_run, last_success, failing))
    return rows
