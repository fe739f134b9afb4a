"""manage.py roles grant|revoke USERNAME ROLE [--application ID [--account NAME]] | roles list [USERNAME]

A mistake is one line and exit 1, and changes nothing: an unknown user or role, an empty or unknown
--application (an empty value once granted the role for every application), an application id that several
accounts share without --account."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from deployments.models import Application, Role, RoleGrant
from deployments.roles import RoleError, role_grant, role_revoke


class Command(BaseCommand):
    help = "Grant, revoke or list console roles (viewer, operator, approver, auditor, break-glass)."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        for action in ("grant", "revoke"):
            p = sub.add_parser(action)
            p.add_argument("username")
            p.add_argument("role", help=f"one of {', '.join(Role.values)}")
            p.add_argument("--application", help="AppConfig application id; omit for all applications")
            p.add_argument("--account", help="the console account, when several have that application id")
        p = sub.add_parser("list")
        p.add_argument("username", nargs="?")

    def handle(self, *args, action: str, **options) -> None:
        if action == "list":
            self._list(options.get("username"))
            return
        user = self._user(options["username"])
        if options["role"] not in Role.values:
            raise CommandError(f"unknown role {options['role']!r}; roles are: {', '.join(Role.values)}")
        application = self._application(options.get("application"), options.get("account"))
        scope = f"application {application.application_id}" if application else "all applications"
        try:
            if action == "grant":
                _, created = role_grant(
                    user=user, role=options["role"], application=application, via="command"
                )
                verb = "granted" if created else "already held"
            else:
                removed = role_revoke(user=user, role=options["role"], application=application, via="command")
                verb = "revoked" if removed else "was not held"
        except RoleError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{user.get_username()}: {options['role']} for {scope} {verb}")

    def _user(self, username: str):
        try:
            return get_user_model().objects.get_by_natural_key(username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user named {username!r}") from None

    def _application(self, application_id: str | None, account: str | None) -> Application | None:
        if application_id is None:  # omitted: every application; an empty value is a mistake, not "all"
            if account is not None:
                raise CommandError("--account needs --application")
            return None
        if not application_id.strip():
            raise CommandError("--application is empty: name an application, or omit it for all applications")
        matches = Application.objects.filter(application_id=application_id).select_related("account")
        if account is not None:
            matches = matches.filter(account__name=account)
        found = list(matches)
        if not found:
            where = f" in account {account!r}" if account is not None else ""
            raise CommandError(
                f"no application with id {application_id!r}{where} (run sync_appconfig first?)"
            )
        if len(found) > 1:
            names = ", ".join(sorted(a.account.name for a in found))
            raise CommandError(
                f"application id {application_id!r} exists in several accounts ({names}): add --account NAME"
            )
        return found[0]

    def _list(self, username: str | None) -> None:
        grants = RoleGrant.objects.select_related("user", "group", "application").order_by(
            "user__username", "pk"
        )
        if username:
            grants = grants.filter(user=self._user(username))
        for grant in grants:
            scope = grant.application.application_id if grant.application_id else "*"
            self.stdout.write(f"{grant.user.get_username()}\t{grant.group.name}\t{scope}")
