"""The console's own stop policy per environment: how many approvals a stop needs and whether the
environment is critical. Changed only here (the admin and the `environments` command call it), so every
change is one audit event with the values before and after."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from audit.records import record
from deployments.models import Environment

POLICY_FIELDS = ("approvals_required", "is_critical")


class PolicyError(ValueError):
    """A policy value the console refuses; the message says why."""


@transaction.atomic
def environment_policy_set(
    *,
    environment: Environment,
    approvals_required: int | None = None,
    is_critical: bool | None = None,
    changed_by: AbstractBaseUser | None = None,
    via: str = "command",
) -> bool:
    """Set the given policy values (None: unchanged); True when something changed (and was recorded).

    1. Validate (approvals 0-3).
    2. Lock the row, compare with what is stored; nothing to change records nothing.
    3. Save the changed fields and record `policy.changed` (before and after) in the same transaction.
    """
    if approvals_required is not None and not 0 <= approvals_required <= 3:
        raise PolicyError("approvals required must be between 0 and 3")
    current = Environment.objects.select_for_update().select_related("application").get(pk=environment.pk)
    wanted = {"approvals_required": approvals_required, "is_critical": is_critical}
    changes = {
        name: (getattr(current, name), value)
        for name, value in wanted.items()
        if value is not None and getattr(current, name) != value
    }
    if not changes:
        return False
    for name, (_, value) in changes.items():
        setattr(current, name, value)
    current.save(update_fields=list(changes))
    record(
        action="policy.changed",
        actor=changed_by,
        target=current,
        details={name: {"before": before, "after": after} for name, (before, after) in changes.items()},
        source=via,
    )
    for name, (_, value) in changes.items():
        setattr(environment, name, value)
    return True
