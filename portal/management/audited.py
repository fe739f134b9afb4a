"""Django's own user commands (createsuperuser, changepassword), recorded in the audit trail like the same
changes made in the admin (`user.changed`, source `command`; `audit.records.record` adds who ran it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.contrib.auth import get_user_model
from django.db.models.signals import post_save

from audit.records import record


@contextmanager
def recording_saved_users(details: Callable[[object, bool], dict | None]) -> Iterator[None]:
    """While the block runs, every save of a user is recorded with `details(user, created)` (None: not
    recorded), as it happens: in the save's own transaction, so a change is never without its event."""

    def saved(sender, instance, created: bool, **kwargs) -> None:
        described = details(instance, created)
        if described is not None:
            record(
                action="user.changed",
                target={"label": f"user {instance.get_username()}"},
                details={"user": instance.get_username(), "user_id": instance.pk, **described},
                source="command",
            )

    uid = f"portal.management.audited:{id(saved)}"
    post_save.connect(saved, sender=get_user_model(), weak=False, dispatch_uid=uid)
    try:
        yield
    finally:
        post_save.disconnect(sender=get_user_model(), dispatch_uid=uid)
