"""manage.py demo_setup: the demo Account (pointing at the emulator) and one demo user per role.

Refuses outside demo mode: demo users have published passwords.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from deployments.models import Account, Role
from deployments.roles import role_grant

# username -> (role or None for the administrator, password)
DEMO_USERS = {
    "admin": (None, "demo-admin-pass"),
    "viewer": (Role.VIEWER, "demo-viewer-pass"),
    "operator": (Role.OPERATOR, "demo-operator-pass"),
    "approver": (Role.APPROVER, "demo-approver-pass"),
    "approver2": (Role.APPROVER, "demo-approver2-pass"),
    "auditor": (Role.AUDITOR, "demo-auditor-pass"),
    "breakglass": (Role.BREAK_GLASS, "demo-breakglass-pass"),
}


class Command(BaseCommand):
    help = "Create the demo AppConfig account and demo users (demo mode only)."

    def handle(self, *args, **options) -> None:
        if not settings.DEMO_MODE:
            raise CommandError(
                "demo_setup runs only in demo mode (PORTAL_DEMO_MODE=1, as `make run` sets it)"
            )
        account, _ = Account.objects.get_or_create(
            name="demo",
            defaults={"region": settings.AWS_REGION, "endpoint_url": settings.AWS_ENDPOINT_URL_APPCONFIG},
        )
        if (
            settings.AWS_ENDPOINT_URL_APPCONFIG
            and account.endpoint_url != settings.AWS_ENDPOINT_URL_APPCONFIG
        ):
            account.endpoint_url = settings.AWS_ENDPOINT_URL_APPCONFIG
            account.save(update_fields=["endpoint_url", "updated_at"])
        User = get_user_model()
        self.stdout.write("Demo users (demo mode only):")
        for username, (role, password) in DEMO_USERS.items():
            user, created = User.objects.get_or_create(
                username=username, defaults={"email": f"{username}@example.com"}
            )
            if created:
                user.set_password(password)
                user.is_staff = user.is_superuser = role is None
                user.save()
            if role is not None:
                role_grant(user=user, role=role, via="command")
            self.stdout.write(f"  {username:<11} {password:<22} {role or 'administrator'}")
