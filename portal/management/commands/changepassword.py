"""Django's changepassword, recorded: a password set from the server's shell is a `user.changed` event,
like one set in the admin. Overrides django.contrib.auth's command (the portal app is listed before it)."""

from django.contrib.auth.management.commands import changepassword

from portal.management.audited import recording_saved_users


class Command(changepassword.Command):
    def handle(self, *args, **options) -> str:
        with recording_saved_users(lambda user, created: {"password": "changed"}):
            return super().handle(*args, **options)
