"""The deployment page's merged timeline, and the filters every page uses for times and durations.

`{% timeline_rows events audit_events %}`: one table of AppConfig's EventLog and the console's own events
about the deployment (its audit events: stop requested, approved, rejected, cancelled, expired, executed,
succeeded, failed, superseded, break-glass, refused attempts), newest first, each marked with its source.
Built in Python rather than with a template loop: a deployment's log can hold hundreds of events and every
live poll that brings a change re-renders it, and a template loop (filters and includes per row) costs an
order of magnitude more per row (bench/bench_pages.py measures the page). Every value goes through
format_html, so it is escaped.

Filters (`{% load console %}`), all on the one clock of `deployments.clock`: `duration` ("4 min 12 s"),
`since` ("4 min 12 s ago", never "from now") and `until` ("in 1 min 30 s").
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from django import template
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from deployments import clock

register = template.Library()

TRIGGERS = {
    "USER": "User",
    "APPCONFIG": "AppConfig",
    "CLOUDWATCH_ALARM": "CloudWatch alarm",
    "INTERNAL_ERROR": "Internal error",
}

# The console's events about a deployment, as a person would say them (the audit action stays visible).
CONSOLE_EVENTS = {
    "stop.requested": "Stop requested",
    "stop.break_glass": "Break-glass stop requested (no approval needed)",
    "stop.approved": "Stop approved",
    "stop.rejected": "Stop rejected",
    "stop.cancelled": "Stop request cancelled",
    "stop.expired": "Stop request expired",
    "stop.executing": "Stop sent to AppConfig",
    "stop.succeeded": "Stop succeeded",
    "stop.failed": "Stop failed",
    "stop.superseded": "Stop superseded",
    "access.denied": "Refused",
    "sync.requested": "Sync requested",
}


# ---------------------------------------------------------------------------------------------------------
# Filters


@register.filter
def duration(value) -> str:
    """A timedelta (or seconds) as people say it: "4 min 12 s"; "" for None."""
    if value is None or value == "":
        return ""
    return clock.duration_text(value)


@register.filter
def since(moment: datetime | None) -> str:
    """A past moment relative to now: "4 min 12 s ago", "just now"."""
    return clock.since_text(moment) if moment else ""


@register.filter
def until(moment: datetime | None) -> str:
    """A future moment relative to now: "in 1 min 30 s", "now"."""
    return clock.until_text(moment) if moment else ""


# ---------------------------------------------------------------------------------------------------------
# The merged timeline


def _time(moment, now: datetime) -> SafeString:
    if moment is None:
        return mark_safe("—")
    utc = moment.astimezone(UTC)
    iso, text = utc.isoformat(), utc.strftime("%Y-%m-%d %H:%M:%S")
    return format_html(
        '<time datetime="{}" title="{} UTC">{} UTC</time><br>'
        '<span class="relative" data-since="{}">{}</span>',
        iso,
        text,
        text,
        iso,
        clock.since_text(moment, now),
    )


def _failed(invocation) -> bool:
    return isinstance(invocation, dict) and bool(
        invocation.get("ErrorCode") or invocation.get("ErrorMessage")
    )


def _invocation(invocation: dict) -> SafeString:
    parts = []
    if invocation.get("ActionName"):
        parts.append(format_html("<strong>{}</strong>", invocation["ActionName"]))
    if invocation.get("ExtensionIdentifier"):
        parts.append(format_html('<code class="wrap">{}</code>', invocation["ExtensionIdentifier"]))
    if invocation.get("Uri"):
        parts.append(format_html('<span class="wrap">{}</span>', invocation["Uri"]))
    if _failed(invocation):
        parts.append(
            format_html(
                '<span class="error"><span aria-hidden="true">⚠</span> Error {}: {}</span>',
                invocation.get("ErrorCode", ""),
                invocation.get("ErrorMessage", ""),
            )
        )
    if invocation.get("InvocationId"):
        parts.append(format_html('<span class="muted">id {}</span>', invocation["InvocationId"]))
    return mark_safe(" ".join(parts))  # noqa: S308 - each part is format_html output


def _invocations(invocations) -> SafeString:
    items = [i for i in invocations or () if isinstance(i, dict)]
    if not items:
        return mark_safe("")
    failed = sum(1 for i in items if _failed(i))
    # An extension action's error is what an operator looks for during a bad rollout: opened, and said.
    return format_html(
        '<details class="invocations{}"{}><summary>{} action invocation{}{}</summary><ul>{}</ul></details>',
        " has-error" if failed else "",
        mark_safe(" open") if failed else "",
        len(items),
        "" if len(items) == 1 else "s",
        format_html(', <strong class="error">{} failed</strong>', failed) if failed else "",
        format_html_join("", "<li>{}</li>", ((_invocation(i),) for i in items)),
    )


_APPCONFIG_ROW = (
    '<tr class="event event-{}{}"><td data-label="Time" class="nowrap">{}</td>'
    '<td data-label="Source"><span class="source source-appconfig">AppConfig</span></td>'
    '<td data-label="Event"><code>{}</code></td>'
    '<td data-label="By"><span class="trigger trigger-{}">{}</span></td>'
    '<td data-label="Description" class="wrap">{}{}</td></tr>'
)
_CONSOLE_ROW = (
    '<tr class="event console-event console-{}{}"><td data-label="Time" class="nowrap">{}</td>'
    '<td data-label="Source"><span class="source source-{}">{}</span></td>'
    '<td data-label="Event"><code>{}</code></td>'
    '<td data-label="By">{}</td>'
    '<td data-label="Description" class="wrap">{}</td></tr>'
)


def _appconfig_row(event, now: datetime) -> SafeString:
    by = event.triggered_by or ""
    failed = any(_failed(i) for i in event.action_invocations or ())
    return format_html(
        _APPCONFIG_ROW,
        (event.event_type or "").lower(),
        " event-error" if failed else "",
        _time(event.occurred_at, now),
        event.event_type,
        by.lower() or "unknown",
        TRIGGERS.get(by, by or "Unknown"),
        event.description,
        _invocations(event.action_invocations),
    )


def _console_row(audit_event, now: datetime, reviewable: bool) -> SafeString:
    action = audit_event.action
    label = CONSOLE_EVENTS.get(action, action)
    if action == "stop.approved" and "automatic" in audit_event.details_dict:
        label = f"Stop approved automatically ({audit_event.details_dict['automatic']})"
    person = audit_event.actor_id is not None
    text = [format_html("<strong>{}</strong>", label)]
    if audit_event.stop_request_id:
        text.append(format_html('<span class="muted">request #{}</span>', audit_event.stop_request_id))
    if audit_event.outcome != "success":
        text.append(format_html('<span class="error">{}</span>', audit_event.outcome))
    if audit_event.reason:
        text.append(format_html('<span class="reason">{}</span>', audit_event.reason))
    if reviewable:
        text.append(
            format_html(
                '<a href="{}" aria-label="Audit event {}">audit event #{}</a>',
                reverse("audit_event_detail", args=[audit_event.pk]),
                audit_event.pk,
                audit_event.pk,
            )
        )
    return format_html(
        _CONSOLE_ROW,
        action.replace(".", "-").replace("_", "-"),
        " event-error" if audit_event.outcome != "success" else "",
        _time(audit_event.occurred_at, now),
        "person" if person else "console",
        "Person" if person else "Console",
        action,
        audit_event.actor_username,
        mark_safe(" ".join(text)),  # noqa: S308 - each part is format_html output
    )


_FAR_PAST = datetime.min.replace(tzinfo=UTC) + timedelta(days=1)


def merged(events: Iterable, audit_events: Iterable) -> list[tuple]:
    """(moment, source, key, item), newest first: AppConfig's events by sequence, the console's by id, and
    between the two by time (both are compared on the same clock, see deployments.clock). An event without a
    time sorts last."""
    rows = [(e.occurred_at or _FAR_PAST, 0, e.sequence, e) for e in events]
    rows += [(a.occurred_at or _FAR_PAST, 1, a.pk, a) for a in audit_events or ()]
    rows.sort(key=lambda row: row[:3], reverse=True)
    return rows


@register.simple_tag
def timeline_rows(events: Iterable, audit_events: Iterable | None = None) -> SafeString:
    """The merged timeline's table rows. `audit_events`: from `audit.selectors.events_for_deployment` (its
    `reviewable` says whether each console entry links to its audit event)."""
    now = clock.now()
    reviewable = bool(getattr(audit_events, "reviewable", False))
    return mark_safe(  # noqa: S308 - each row is format_html output
        "\n".join(
            _console_row(item, now, reviewable) if source else _appconfig_row(item, now)
            for _, source, _, item in merged(events, audit_events)
        )
    )


@register.simple_tag
def extension_errors(events: Iterable) -> list[dict]:
    """Every failed extension action invocation of these events, newest first: {event_type, occurred_at,
    ActionName, ErrorCode, ErrorMessage, ...} for the alert above the timeline."""
    return [
        {"event_type": e.event_type, "occurred_at": e.occurred_at, **i}
        for e in events
        for i in e.action_invocations or ()
        if _failed(i)
    ]


@register.simple_tag
def timeline_version(deployment, audit_events) -> str:
    """What the cached timeline depends on besides the deployment: the console's events (newest id and
    count) and whether they link to the audit trail for this viewer."""
    newest = max((a.pk for a in audit_events or ()), default=0)
    return f"{newest}.{len(audit_events or ())}.{int(bool(getattr(audit_events, 'reviewable', False)))}"
