"""`{% timeline_rows events %}`: the event timeline's table rows.

Built in Python rather than with a template loop: a deployment's log can hold hundreds of events and every
live poll that brings a change re-renders it, and a template loop (filters and includes per row) costs an
order of magnitude more per row (bench/bench_pages.py measures the page). Every value goes through
format_html, so it is escaped.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC

from django import template
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

TRIGGERS = {
    "USER": "User",
    "APPCONFIG": "AppConfig",
    "CLOUDWATCH_ALARM": "CloudWatch alarm",
    "INTERNAL_ERROR": "Internal error",
}


def _time(moment) -> SafeString:
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
        naturaltime(moment),
    )


def _invocation(invocation: dict) -> SafeString:
    parts = []
    if invocation.get("ActionName"):
        parts.append(format_html("<strong>{}</strong>", invocation["ActionName"]))
    if invocation.get("ExtensionIdentifier"):
        parts.append(format_html("<code>{}</code>", invocation["ExtensionIdentifier"]))
    if invocation.get("Uri"):
        parts.append(format_html('<span class="wrap">{}</span>', invocation["Uri"]))
    if invocation.get("ErrorCode") or invocation.get("ErrorMessage"):
        parts.append(
            format_html(
                '<span class="error">Error {}: {}</span>',
                invocation.get("ErrorCode", ""),
                invocation.get("ErrorMessage", ""),
            )
        )
    if invocation.get("InvocationId"):
        parts.append(format_html('<span class="muted">id {}</span>', invocation["InvocationId"]))
    return mark_safe(" ".join(parts))  # noqa: S308 - each part is format_html output


def _invocations(invocations) -> SafeString:
    if not invocations:
        return mark_safe("")
    items = [i for i in invocations if isinstance(i, dict)]
    return format_html(
        '<details class="invocations"><summary>{} action invocation{}</summary><ul>{}</ul></details>',
        len(items),
        "" if len(items) == 1 else "s",
        format_html_join("", "<li>{}</li>", ((_invocation(i),) for i in items)),
    )


def _row(event) -> tuple:
    by = event.triggered_by or ""
    return (
        (event.event_type or "").lower(),
        _time(event.occurred_at),
        event.event_type,
        by.lower() or "unknown",
        TRIGGERS.get(by, by or "Unknown"),
        event.description,
        _invocations(event.action_invocations),
    )


@register.simple_tag
def timeline_rows(events: Iterable) -> SafeString:
    return format_html_join(
        "\n",
        '<tr class="event event-{}"><td data-label="Time" class="nowrap">{}</td>'
        '<td data-label="Event"><code>{}</code></td>'
        '<td data-label="Triggered by"><span class="trigger trigger-{}">{}</span></td>'
        '<td data-label="Description" class="wrap">{}{}</td></tr>',
        (_row(event) for event in events),
    )
