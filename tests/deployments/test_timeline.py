"""The merged timeline's rows (`{% timeline_rows %}`): AppConfig's events and the console's, newest first,
each marked with its source; console entries link to their audit event only for those who may review the
audit trail; failed extension actions stand out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from django.urls import reverse

from audit.selectors import DeploymentAuditEvents
from deployments.templatetags.console import extension_errors, merged, timeline_rows, timeline_version

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _event(sequence, event_type, seconds, by="APPCONFIG", text="", invocations=()):
    return SimpleNamespace(
        sequence=sequence, event_type=event_type, triggered_by=by, description=text,
        occurred_at=START + timedelta(seconds=seconds), action_invocations=list(invocations),
    )  # fmt: skip


def _audit(pk, action, seconds, actor="approver", actor_id=7, reason="", outcome="success", details=None):
    return SimpleNamespace(
        pk=pk, action=action, occurred_at=START + timedelta(seconds=seconds), actor_username=actor,
        actor_id=actor_id, reason=reason, outcome=outcome, stop_request_id=3, details_dict=details or {},
    )  # fmt: skip


def _audit_events(*events, reviewable: bool) -> DeploymentAuditEvents:
    result = DeploymentAuditEvents(events)
    result.reviewable = reviewable
    return result


EVENTS = [
    _event(3, "ROLLBACK_COMPLETED", 62, text="Rollback completed",
           invocations=[{"ActionName": "page-on-call", "ErrorCode": "AuthorizationError",
                         "ErrorMessage": "not authorized to SNS:Publish"}]),
    _event(2, "ROLLBACK_STARTED", 61, by="USER", text="Rollback initiated by AKIA"),
    _event(1, "PERCENTAGE_UPDATED", 20, text="Configuration available to 20.00% of clients"),
    _event(0, "DEPLOYMENT_STARTED", 0, by="USER", text="Deployment started"),
]  # fmt: skip


def _console(reviewable: bool) -> DeploymentAuditEvents:
    return _audit_events(
        _audit(12, "stop.succeeded", 63, actor="system", actor_id=None, reason="Rolled back."),
        _audit(11, "stop.approved", 50, reason="agreed"),
        _audit(10, "stop.requested", 30, actor="operator", actor_id=5, reason="error rate up"),
        reviewable=reviewable,
    )


def test_it_merges_both_sources_newest_first():
    order = [getattr(item, "event_type", None) or item.action for *_, item in merged(EVENTS, _console(True))]
    assert order == [
        "stop.succeeded", "ROLLBACK_COMPLETED", "ROLLBACK_STARTED", "stop.approved", "stop.requested",
        "PERCENTAGE_UPDATED", "DEPLOYMENT_STARTED",
    ]  # fmt: skip


def test_it_marks_each_entry_with_its_source():
    html = str(timeline_rows(EVENTS, _console(False)))
    assert html.count('<span class="source source-appconfig">AppConfig</span>') == 4
    assert html.count('<span class="source source-person">Person</span>') == 2  # operator, approver
    assert html.count('<span class="source source-console">Console</span>') == 1  # the worker
    assert "Stop requested" in html and "error rate up" in html and "request #3" in html
    assert '<span class="trigger trigger-user">User</span>' in html


def test_it_links_console_entries_to_their_audit_event_only_for_reviewers():
    link = reverse("audit_event_detail", args=[11])
    assert link in str(timeline_rows(EVENTS, _console(True)))
    assert link not in str(timeline_rows(EVENTS, _console(False)))
    assert "audit event #" not in str(timeline_rows(EVENTS, _console(False)))


def test_it_highlights_failed_extension_actions():
    html = str(timeline_rows(EVENTS, None))
    assert 'class="event event-rollback_completed event-error"' in html
    assert '<details class="invocations has-error" open>' in html
    assert '<strong class="error">1 failed</strong>' in html
    assert "AuthorizationError" in html and "not authorized to SNS:Publish" in html
    [failure] = extension_errors(EVENTS)
    assert (failure["event_type"], failure["ActionName"]) == ("ROLLBACK_COMPLETED", "page-on-call")


def test_it_escapes_every_value():
    html = str(timeline_rows([_event(0, "<b>", 0, text="<script>")], _audit_events(
        _audit(1, "stop.requested", 1, actor="<i>", reason="<img>"), reviewable=False)))  # fmt: skip
    assert "<script>" not in html and "<img>" not in html and "<i>" not in html and "<b>" not in html


def test_it_versions_the_console_entries_for_the_cache():
    assert timeline_version(None, _console(True)) != timeline_version(None, _console(False))
    assert timeline_version(None, _console(True)) == "12.3.1"
    assert timeline_version(None, None) == "0.0.0"
