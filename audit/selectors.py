"""Reads of the audit trail: the review page's keyset pages, a deployment's events, the export's rows, the
latest verification."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from audit.chain import EXPORT_FIELDS
from audit.models import AuditEvent, AuditVerification
from deployments.access import (
    EXPORT_AUDIT,
    REVIEW_AUDIT,
    VIEW,
    applications_for,
    grants_holding,
    holds,
    permissions_on,
)

if TYPE_CHECKING:
    from deployments.models import Deployment

REVIEW = REVIEW_AUDIT
EXPORT = EXPORT_AUDIT
EXPORT_CHUNK = 2000


@dataclass(frozen=True)
class AuditScope:
    """The part of the trail a user may review or export: all of it, or the events of some applications."""

    everything: bool
    application_ids: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.everything or bool(self.application_ids)

    def covers(self, application_id: str) -> bool:
        return self.everything or (bool(application_id) and application_id in self.application_ids)


def audit_scope(user, perm: str = REVIEW) -> AuditScope:
    """Where `user` holds `perm` (review_audit or export_audit), built on the role selector.

    The trail is a whole (logins, role changes and exports concern no application), so all of it takes the
    auditor role granted for every application (or a superuser). An auditor granted the role for some
    applications sees only those applications' events. `user_may(user, perm)` alone cannot say this: it
    answers "on at least one application", which is false for everyone while no application is synced yet
    and true for an auditor of a single application."""
    if not user.is_authenticated or not user.is_active:
        return AuditScope(False)
    if user.is_superuser:
        return AuditScope(True)
    if grants_holding(user, perm).filter(application__isnull=True).exists():
        return AuditScope(True)
    return AuditScope(False, tuple(applications_for(user, perm).values_list("application_id", flat=True)))


@dataclass(frozen=True)
class IdRange:
    """Inclusive bounds on event ids (None: unbounded). Every query of a page or an export gets exactly one
    lower and one upper bound, so the database walks the primary key between them."""

    lo: int | None = None
    hi: int | None = None

    def narrowed(self, *, lo: int | None = None, hi: int | None = None) -> IdRange:
        return IdRange(
            self.lo if lo is None else lo if self.lo is None else max(self.lo, lo),
            self.hi if hi is None else hi if self.hi is None else min(self.hi, hi),
        )


NOTHING = IdRange(1, 0)


def time_range_ids(filters: dict[str, Any]) -> IdRange:
    """The ids of the time range in `filters`. record() never lets time go backwards along the chain, so the
    events of a time range are exactly those between the first event at or after its start and the last at
    or before its end: two lookups in audit_time_idx. Bounds on id then keep every page on the primary key,
    where a bound on time would make the database scan for old times (0.9 s at a million events)."""
    ids = IdRange()
    if filters.get("since"):
        first = (
            AuditEvent.objects.filter(occurred_at__gte=filters["since"])
            .order_by("occurred_at", "id")
            .values_list("id", flat=True)
            .first()
        )
        if first is None:
            return NOTHING
        ids = ids.narrowed(lo=first)
    if filters.get("until"):
        last = (
            AuditEvent.objects.filter(occurred_at__lte=filters["until"])
            .order_by("-occurred_at", "-id")
            .values_list("id", flat=True)
            .first()
        )
        if last is None:
            return NOTHING
        ids = ids.narrowed(hi=last)
    return ids


def filtered_events(
    filters: dict[str, Any], scope: AuditScope | None = None, ids: IdRange | None = None
) -> QuerySet[AuditEvent]:
    """Events matching the review page's filters (AuditFilterForm.filters()) within `scope` (None: all) and
    `ids` (None: the filters' time range, see time_range_ids); every filter but the free text has a
    (column, id) index (see AuditEvent.Meta.indexes)."""
    events = AuditEvent.objects.all()
    if scope is not None and not scope.everything:
        events = events.filter(application_id__in=scope.application_ids)
    exact = {
        "actor": "actor_username",
        "action": "action",
        "outcome": "outcome",
        "application": "application_id",
        "environment": "environment_id",
        "deployment": "deployment_number",
        "stop_request": "stop_request_id",
    }
    for name, column in exact.items():
        if filters.get(name) not in (None, ""):
            events = events.filter(**{column: filters[name]})
    ids = time_range_ids(filters) if ids is None else ids
    if ids.lo is not None:
        events = events.filter(id__gte=ids.lo)
    if ids.hi is not None:
        events = events.filter(id__lte=ids.hi)
    if filters.get("q"):
        # No index can serve a substring search; the keyset order lets the scan stop after one page of hits.
        text = filters["q"]
        events = events.filter(
            Q(target_label__icontains=text)
            | Q(reason__icontains=text)
            | Q(actor_username__icontains=text)
            | Q(action__icontains=text)
        )
    return events


@dataclass(frozen=True)
class EventPage:
    events: list[AuditEvent]
    # Cursors for the neighbouring pages: `?after=<newer>` and `?before=<older>`; None when there is none.
    newer: int | None
    older: int | None


def event_page(
    filters: dict[str, Any],
    *,
    scope: AuditScope | None = None,
    before: int | None = None,
    after: int | None = None,
    size: int | None = None,
) -> EventPage:
    """One page of matching events, newest first, by keyset on id: `before` gives the page just older than
    that id, `after` the page just newer. Each page costs the same few index range scans however deep it is
    (no OFFSET, no COUNT)."""
    size = size or settings.AUDIT_PAGE_SIZE
    ids = time_range_ids(filters)

    def matching(**bounds: int) -> QuerySet[AuditEvent]:
        return filtered_events(filters, scope, ids.narrowed(**bounds))

    if after is not None:
        rows = list(matching(lo=after + 1).order_by("id")[: size + 1])
        more_newer = len(rows) > size
        rows = rows[:size][::-1]
        newer = rows[0].id if more_newer else None
        if rows:
            older = rows[-1].id if matching(hi=rows[-1].id - 1).exists() else None
        else:
            older = after + 1 if matching(hi=after).exists() else None
        return EventPage(rows, newer, older)
    rows = list((matching(hi=before - 1) if before is not None else matching()).order_by("-id")[: size + 1])
    older = rows[size - 1].id if len(rows) > size else None
    rows = rows[:size]
    newer = None
    if before is not None:
        if rows and matching(lo=rows[0].id + 1).exists():
            newer = rows[0].id
        elif not rows and matching(lo=before).exists():
            newer = before - 1
    return EventPage(rows, newer, older)


def newest_id() -> int:
    return AuditEvent.objects.aggregate(newest=Max("id"))["newest"] or 0


def exported_events(filters: dict[str, Any], scope: AuditScope, upto: int) -> QuerySet[AuditEvent]:
    return filtered_events(filters, scope, time_range_ids(filters).narrowed(hi=upto))


def export_rows(filters: dict[str, Any], scope: AuditScope, upto: int) -> Iterator[tuple]:
    """Matching events up to id `upto`, oldest first, as tuples of EXPORT_FIELDS, streamed in chunks
    (a server-side cursor on PostgreSQL): constant memory whatever the count."""
    return (
        exported_events(filters, scope, upto)
        .order_by("id")
        .values_list(*EXPORT_FIELDS)
        .iterator(chunk_size=EXPORT_CHUNK)
    )


class DeploymentAuditEvents(list):
    """A deployment's events (newest first) plus whether the user may open each event's detail."""

    reviewable: bool = False


def events_for_deployment(
    deployment: Deployment, user, limit: int = 50, permissions: set[str] | None = None
) -> DeploymentAuditEvents:
    """The deployment's newest audit events (its stop requests' included), for its detail page: one query,
    two when the caller does not pass the user's `permissions` on the application (`permissions_on`).

    Who sees them: auditors of the application (review_audit), and anyone who may view the application,
    since the page answers "who did what to this deployment" for the people who operate it. Everyone else
    gets an empty list. Only auditors get links to the full event (address, user agent, details)."""
    application = deployment.environment.application
    if permissions is None:
        permissions = permissions_on(user, application)
    result = DeploymentAuditEvents()
    result.reviewable = holds(permissions, REVIEW)
    if result.reviewable or holds(permissions, VIEW):
        key = [
            application.application_id,
            deployment.environment.environment_id,
            deployment.deployment_number,
        ]
        result.extend(AuditEvent.objects.raw(_deployment_events_sql(), [*key, limit]))
    return result


@cache
def _deployment_events_sql() -> str:
    """`events_for_deployment`'s query, written out: the deployment page runs it on every view, and Django
    compiling the ORM form took four times as long as the database took to answer (audit_target_idx)."""
    return (
        f"SELECT * FROM {AuditEvent._meta.db_table}"  # noqa: S608 - the table name only; values are parameters
        " WHERE application_id = %s AND environment_id = %s AND deployment_number = %s"
        " ORDER BY id DESC LIMIT %s"
    )


@dataclass(frozen=True)
class VerificationStatus:
    latest: AuditVerification | None
    # The latest run found the chain intact, and that run is recent enough to mean something.
    ok: bool
    overdue: bool


def verification_status() -> VerificationStatus:
    latest = AuditVerification.objects.order_by("-checked_at", "-id").first()
    if latest is None:
        return VerificationStatus(None, False, False)
    # Three missed beats in a row means verification has stopped, which must not look like "all is well".
    overdue = timezone.now() - latest.checked_at > timedelta(
        seconds=3 * settings.AUDIT_VERIFY_INTERVAL_SECONDS
    )
    return VerificationStatus(latest, latest.ok, overdue)
