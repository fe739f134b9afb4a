"""manage.py environments set APP_ID ENV_ID [--account NAME] [--approvals N] [--critical | --not-critical]
manage.py environments list [APP_ID] [--account NAME]

The console's stop policy of an environment (approvals a stop needs, critical or not), changed through
`deployments.policy` as the admin changes it (audited: `policy.changed` with the values before and after, and
the operating-system user, as every command's event). Bad input is one line on stderr and exit status 1."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser

from deployments.models import Account, Environment
from deployments.policy import PolicyError, environment_policy_set

MAX_APPROVALS = 3


class _Parser(CommandParser):
    def error(self, message: str):
        # Django's parser prints its usage and exits 2 from a shell; here a mistake is one line, exit 1.
        raise CommandError(message)


class Command(BaseCommand):
    help = "Show or set environments' stop policy: approvals required (0-3) and whether they are critical."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.__class__ = _Parser
        return parser

    def run_from_argv(self, argv: list[str]) -> None:
        try:
            super().run_from_argv(argv)
        except CommandError as exc:  # raised while parsing, before BaseCommand's own handling
            self.stderr.write(f"error: {exc}")
            sys.exit(1)

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, parser_class=_Parser)
        change = sub.add_parser("set", help="change an environment's stop policy (audited)")
        change.add_argument("application_id", metavar="APP_ID", help="AppConfig application id")
        change.add_argument("environment_id", metavar="ENV_ID", help="AppConfig environment id")
        change.add_argument("--account", metavar="NAME", help="the Account, when the id is in several")
        change.add_argument(
            "--approvals", type=int, metavar="N", help=f"distinct approvals a stop needs (0-{MAX_APPROVALS})"
        )
        critical = change.add_mutually_exclusive_group()
        critical.add_argument(
            "--critical", dest="critical", action="store_const", const=True, default=None,
            help="the requester must type the environment's name to stop a deployment",
        )  # fmt: skip
        critical.add_argument("--not-critical", dest="critical", action="store_const", const=False)
        listing = sub.add_parser("list", help="every environment's stop policy")
        listing.add_argument("application_id", metavar="APP_ID", nargs="?")
        listing.add_argument("--account", metavar="NAME")

    def handle(self, *args, action: str, **options) -> None:
        if action == "list":
            self._list(options.get("application_id"), options.get("account"))
            return
        approvals, critical = options["approvals"], options["critical"]
        if approvals is None and critical is None:
            raise CommandError("nothing to change: give --approvals N, --critical or --not-critical")
        environment = self._environment(
            options["application_id"], options["environment_id"], options["account"]
        )
        try:
            changed = environment_policy_set(
                environment=environment, approvals_required=approvals, is_critical=critical, via="command"
            )
        except PolicyError as exc:
            raise CommandError(str(exc)) from None
        values = {
            "approvals_required": environment.approvals_required,
            "is_critical": environment.is_critical,
        }
        verb = "changed" if changed else "unchanged"
        self.stdout.write(f"{self._label(environment)}: {self._policy(values)} ({verb})")

    def _environment(self, application_id: str, environment_id: str, account: str | None) -> Environment:
        environments = Environment.objects.select_related("application__account").filter(
            application__application_id=application_id, environment_id=environment_id
        )
        if account is not None:
            if not Account.objects.filter(name=account).exists():
                raise CommandError(f"no account named {account!r}")
            environments = environments.filter(application__account__name=account)
        found = list(environments.order_by("pk")[:2])
        if not found:
            raise CommandError(
                f"no environment {environment_id!r} of application {application_id!r}"
                + (f" in account {account!r}" if account else "")
                + " (run sync_appconfig first?)"
            )
        if len(found) > 1:
            names = ", ".join(sorted(e.application.account.name for e in environments))
            raise CommandError(
                f"application {application_id!r} exists in several accounts ({names}): give --account NAME"
            )
        return found[0]

    @staticmethod
    def _policy(values: dict) -> str:
        critical = "critical" if values["is_critical"] else "not critical"
        return f"approvals {values['approvals_required']}, {critical}"

    @staticmethod
    def _label(environment: Environment) -> str:
        application = environment.application
        return (
            f"{application.account.name}/{application.application_id}/{environment.environment_id} "
            f"({application.name} / {environment.name})"
        )

    def _list(self, application_id: str | None, account: str | None) -> None:
        environments = Environment.objects.select_related("application__account").filter(
            deleted_at__isnull=True
        )
        if application_id:
            environments = environments.filter(application__application_id=application_id)
        if account:
            environments = environments.filter(application__account__name=account)
        for environment in environments.order_by("application__account__name", "application__name", "name"):
            values = {
                "approvals_required": environment.approvals_required,
                "is_critical": environment.is_critical,
            }
            self.stdout.write(f"{self._label(environment)}\t{self._policy(values)}")
