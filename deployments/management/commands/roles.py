"""manage.py roles grant|revoke USERNAME ROLE [--application ID] | roles list [USERNAME]"""

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
            p.add_argument("role", choices=Role.values)
            p.add_argument("--application", help="AppConfig application id; omit for all applications")
        p = sub.add_parser("list")
        p.add_argument("username", nargs="?")

    def handle(self, *args, action: str, **options) -> None:
        if action == "list":
            self._list(options.get("username"))
            return
        user = self._user(options["username"])
        application = self._application(options.get("application"))
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

    def _application(self, application_id: str | None) -> Application | None:
        if not application_id:
            return None
        matches = list(Application.objects.filter(application_id=application_id))
        if not matches:
            raise CommandError(f"no application with id {application_id!r} (run sync_appconfig first?)")
        if len(matches) > 1:
            raise CommandError(f"application id {application_id!r} exists in several accounts")
        return matches[0]

    def _list(self, username: str | None) -> None:
        grants = RoleGrant.objects.select_related("user", "group", "application").order_by(
            "user__username", "pk"
        )
        if username:
            grants = grants.filter(user=self._user(username))
        for grant in grants:
            scope = grant.application.application_id if grant.application_id else "*"
            self.stdout.write(f"{grant.user.get_username()}\t{grant.group.name}\t{scope}")
