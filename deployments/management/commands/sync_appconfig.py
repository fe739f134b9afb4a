"""manage.py sync_appconfig [--account NAME] [--application ID]: one sync pass in the foreground."""

import contextlib

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from deployments import sync
from deployments.appconfig import AppConfigError
from deployments.models import Account, SyncRun


class Command(BaseCommand):
    help = "Sync AppConfig applications, environments and deployments into the console's cache, now."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--account", help="only this account (its name)")
        parser.add_argument("--application", help="only this application (its AppConfig id)")

    def handle(self, *args, account: str | None, application: str | None, **options) -> None:
        accounts = sync.accounts_to_sync(account)
        if account and not accounts:
            known = ", ".join(Account.objects.filter(enabled=True).values_list("name", flat=True)) or "none"
            raise CommandError(f"no enabled account named {account!r} (enabled accounts: {known})")
        if not accounts:
            raise CommandError(
                "no enabled account is configured; add one in the admin or run `make run` once"
            )
        started = timezone.now()
        for acct in accounts:
            # A failure is written on the account's run and reported below.
            with contextlib.suppress(AppConfigError):
                sync.sync_account(account=acct, application_ids=[application] if application else None)
        if (
            application
            and not sync.Application.objects.filter(account__in=accounts, application_id=application).exists()
        ):
            raise CommandError(f"no application with id {application!r} in AppConfig")
        self._report(started)

    def _report(self, started) -> None:
        runs = SyncRun.objects.filter(started_at__gte=started).select_related("account", "application")
        failed = 0
        for run in runs.order_by("started_at"):
            target = run.application.name if run.application_id else run.account.name
            line = (
                f"{run.scope} {target}: {run.status}, {run.api_calls} API calls, "
                f"{run.rows_created} created, {run.rows_updated} updated"
            )
            if run.status == SyncRun.Status.FAILED:
                failed += 1
                self.stderr.write(f"{line}: {run.error}")
            else:
                self.stdout.write(line)
        if failed:
            raise CommandError(f"{failed} sync run(s) failed")
