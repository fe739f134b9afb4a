"""The audit trail: one append-only, hash-chained table of events, and the results of verifying it.

Rows are written only by `audit.records.record()`. Each stores the hash of its predecessor and its own hash
over a canonical serialisation of every other column (see `audit.chain`), so a row changed, removed or moved
behind the application's back is found by `audit.verify`. The model and queryset refuse updates and deletes;
triggers installed by migration 0002 make the database refuse them too.
"""

from __future__ import annotations

import json

from django.db import models
from django.db.models import Q


class AppendOnlyError(RuntimeError):
    """An attempt to change or delete an audit event."""


class Action(models.TextChoices):
    """The fixed vocabulary of recorded actions; `record()` refuses any other."""

    AUTH_LOGIN = "auth.login"
    AUTH_LOGIN_FAILED = "auth.login_failed"
    AUTH_LOGOUT = "auth.logout"
    # The login throttle: a username or client address locked out after too many failures (details: the
    # count), and an administrator or command removing that lock before the cool-off ends.
    AUTH_LOCKED_OUT = "auth.locked_out"
    AUTH_UNLOCKED = "auth.unlocked"
    # Single sign-on: a verified identity whose groups map to no role (refused, the "no access" page). And a
    # step-up (a fresh authentication before a risky stop): required (denied), done (success), refused
    # (failed).
    AUTH_NO_ACCESS = "auth.no_access"
    AUTH_STEP_UP = "auth.step_up"
    ROLE_GRANTED = "role.granted"
    ROLE_REVOKED = "role.revoked"
    # An environment's stop policy (approvals required, critical) changed; details hold before and after.
    POLICY_CHANGED = "policy.changed"
    # A user's standing changed outside the roles: superuser, staff, active, groups, direct permissions.
    USER_CHANGED = "user.changed"
    SYNC_REQUESTED = "sync.requested"
    AUDIT_VIEWED = "audit.viewed"
    AUDIT_EXPORTED = "audit.exported"
    AUDIT_VERIFIED = "audit.verified"
    # A refused attempt at a protected action; details say what was attempted (method, path, permission).
    ACCESS_DENIED = "access.denied"
    STOP_REQUESTED = "stop.requested"
    STOP_APPROVED = "stop.approved"
    STOP_REJECTED = "stop.rejected"
    STOP_CANCELLED = "stop.cancelled"
    STOP_EXPIRED = "stop.expired"
    STOP_EXECUTING = "stop.executing"
    STOP_SUCCEEDED = "stop.succeeded"
    STOP_FAILED = "stop.failed"
    STOP_SUPERSEDED = "stop.superseded"
    STOP_BREAK_GLASS = "stop.break_glass"
    # Configuration content (a deployment's diff) shown to a user: configuration can be sensitive.
    CONFIG_VIEWED = "config.viewed"
    # A deployment's evidence pack exported (web download, printable view or command); details hold its
    # signature, so the pack can be matched to this event.
    EVIDENCE_EXPORTED = "evidence.exported"


class Outcome(models.TextChoices):
    SUCCESS = "success"
    DENIED = "denied"
    FAILED = "failed"


class Source(models.TextChoices):
    WEB = "web"
    COMMAND = "command"
    WORKER = "worker"
    BEAT = "beat"
    ADMIN = "admin"
    # Role grants reconciled with the identity provider's groups at a single sign-on.
    SSO = "sso", "SSO"


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("audit events are append-only: they cannot be updated")

    def delete(self):
        raise AppendOnlyError("audit events are append-only: they cannot be deleted")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AppendOnlyError("audit events are append-only: they cannot be updated")


class AuditEvent(models.Model):
    # The chain position: gapless 1..N, assigned under the append lock, so a removed row leaves a visible
    # gap. Hashed (the auto id is not: on PostgreSQL a rolled-back insert burns an id, so ids have gaps).
    sequence = models.PositiveBigIntegerField(unique=True)
    occurred_at = models.DateTimeField()
    # Who: the user's id and a snapshot of the username (users can be renamed or deleted; no foreign key,
    # so deleting a user never needs to touch, or is blocked by, the append-only table). Null id: the system
    # actor (beat, workers) or an anonymous request.
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_username = models.CharField(max_length=150)
    action = models.CharField(max_length=32, choices=Action.choices)
    outcome = models.CharField(max_length=8, choices=Outcome.choices, default=Outcome.SUCCESS)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.WEB)
    # What: AppConfig's own ids (strings), the deployment number and the stop request, and a readable label.
    application_id = models.CharField(max_length=64, blank=True)
    environment_id = models.CharField(max_length=64, blank=True)
    deployment_number = models.PositiveIntegerField(null=True, blank=True)
    stop_request_id = models.BigIntegerField(null=True, blank=True)
    target_label = models.CharField(max_length=255, blank=True)
    # From where: text rather than an inet column, so what is hashed is exactly what is read back.
    ip = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    reason = models.TextField(blank=True)
    # Canonical JSON text (sorted keys, no whitespace), bounded in size. Text rather than a JSON column: a
    # JSON column may normalise numbers and key order, and the hash must cover exactly what is stored.
    details = models.TextField(default="{}")
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        permissions = [
            ("review_audit", "Can review the audit trail"),
            ("export_audit", "Can export the audit trail"),
        ]
        constraints = [
            # A second event claiming the same predecessor would fork the chain: the database refuses it
            # even if the append lock were ever bypassed.
            models.UniqueConstraint(fields=["prev_hash"], name="audit_event_one_successor"),
        ]
        indexes = [
            # Every filter of /audit/ is "filter, newest first by id, keyset on id": one (column, id) index
            # per filter lets the database walk the index in order and stop after one page.
            models.Index(fields=["actor_username", "-id"], name="audit_actor_idx"),
            models.Index(fields=["action", "-id"], name="audit_action_idx"),
            models.Index(fields=["outcome", "-id"], name="audit_outcome_idx"),
            # Filters by application / environment / deployment, and the deployment page's events
            # (events_for_deployment: all three equal, newest first).
            models.Index(
                fields=["application_id", "environment_id", "deployment_number", "-id"],
                name="audit_target_idx",
            ),
            # The time-range filter: record() keeps time non-decreasing along the chain, so a time range is
            # an id range; its two ends are found here (first/last id at or after/before a time).
            models.Index(fields=["occurred_at", "id"], name="audit_time_idx"),
            # The stop request page (next issue): a request's own events.
            models.Index(
                fields=["stop_request_id", "-id"],
                name="audit_stop_request_idx",
                condition=Q(stop_request_id__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action} {self.outcome} by {self.actor_username}"

    def save(self, *args, **kwargs) -> None:
        # Refusing is not a side effect: an event is written once, by record(), and never again.
        if not self._state.adding:
            raise AppendOnlyError("audit events are append-only: they cannot be updated")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("audit events are append-only: they cannot be deleted")

    @property
    def details_dict(self) -> dict:
        try:
            value = json.loads(self.details or "{}")
        except ValueError:
            return {"unreadable": self.details}
        return value if isinstance(value, dict) else {"value": value}

    @property
    def details_pretty(self) -> str:
        return json.dumps(self.details_dict, indent=2, sort_keys=True, ensure_ascii=False)

    @property
    def concerns_deployment(self) -> bool:
        return bool(self.application_id and self.environment_id and self.deployment_number)

    @property
    def is_system(self) -> bool:
        return self.actor_id is None


class AuditVerification(models.Model):
    """One run of the chain verifier (beat, command): kept so the review page can say how far the chain was
    last verified, and so the next run can check that the events verified then are still there."""

    checked_at = models.DateTimeField()
    ok = models.BooleanField()
    event_count = models.PositiveBigIntegerField(default=0)
    # The last event verified (ok) or the first bad one (not ok).
    last_event_id = models.BigIntegerField(null=True, blank=True)
    last_sequence = models.PositiveBigIntegerField(null=True, blank=True)
    last_hash = models.CharField(max_length=64, blank=True)
    first_bad_id = models.BigIntegerField(null=True, blank=True)
    problem = models.TextField(blank=True)
    source = models.CharField(max_length=8, choices=Source.choices)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-checked_at", "-id"]
        indexes = [
            # The review page's banner and the anchor of the next run: the latest (ok) verification.
            models.Index(fields=["ok", "-checked_at"], name="audit_verification_latest_idx"),
        ]

    def __str__(self) -> str:
        state = "intact" if self.ok else f"broken at {self.first_bad_id}"
        return f"audit chain {state} ({self.event_count} events) at {self.checked_at:%Y-%m-%d %H:%M:%S}"
