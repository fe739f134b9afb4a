"""Django's createsuperuser, recorded: a new superuser holds every permission everywhere, so making one is a
`user.changed` event, like a user created in the admin. Overrides django.contrib.auth's command (the portal
app is listed before it)."""

from django.contrib.auth.management.commands import createsuperuser

from portal.management.audited import recording_saved_users


def _created(user, created: bool) -> dict | None:
    if not created:
        return None
    return {"created": True, "is_superuser": user.is_superuser, "is_staff": user.is_staff}


class Command(createsuperuser.Command):
    def handle(self, *args, **options) -> None:
        with recording_saved_users(_created):
            super().handle(*args, **options)
