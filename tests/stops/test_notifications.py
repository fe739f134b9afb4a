"""Stop notifications: approvers are mailed when a request waits for them (and when a break-glass stop runs),
the requester on the outcome, an optional Slack-compatible webhook gets the same, and a failing mail server
or webhook never blocks or fails a stop."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail

from deployments.models import Role, StopStatus
from deployments.roles import role_grant
from portal import queue
from stops import notifications, services, tasks
from tests.factories import AccountFactory, ApplicationFactory
from tests.helpers import just_signed_in, set_policy

pytestmark = pytest.mark.django_db


def _sent_to() -> list[str]:
    return sorted(address for message in mail.outbox for address in message.to)


def test_it_mails_the_approvers_who_may_approve_when_a_request_waits(live, operator, make_user, enqueued):
    set_policy(live, 1)
    make_user(Role.APPROVER, username="everywhere")
    make_user(Role.APPROVER, username="here", application=live.environment.application)
    make_user(Role.APPROVER, username="elsewhere", application=ApplicationFactory())
    make_user(Role.APPROVER, username="retired", is_active=False)
    make_user(Role.APPROVER, username="no-mail", email="")
    make_user(Role.VIEWER, username="looker")
    request = services.stop_request_create(deployment=live, user=operator, reason="error rate up")

    tasks.notify_stop_request(stop_request_id=request.pk, event="pending")

    assert _sent_to() == ["everywhere@example.com", "here@example.com"]
    message = mail.outbox[0]
    assert "Approval needed" in message.subject and "asked by operator" in message.subject
    assert "error rate up" in message.body
    assert "http://127.0.0.1:8000/stop-requests/" in message.body
    detail = f"/applications/{live.environment.application.application_id}/environments/"
    assert detail in message.body


def test_it_never_mails_the_requester_to_approve_their_own_request(live, make_user, enqueued):
    set_policy(live, 1)
    both = make_user(Role.OPERATOR, username="both")
    role_grant(user=both, role=Role.APPROVER)
    request = services.stop_request_create(deployment=live, user=both, reason="bad")

    notifications.notify(request, "pending")

    assert mail.outbox == []


def test_it_tells_approvers_about_a_break_glass_stop(live, make_user, enqueued):
    set_policy(live, 2)
    make_user(Role.APPROVER, username="approver")
    breaker = make_user(Role.BREAK_GLASS, username="breaker")
    request = services.stop_request_create(
        deployment=live, user=breaker, reason="outage", break_glass=True, authentication=just_signed_in()
    )
    assert request.status == StopStatus.APPROVED

    notifications.notify(request, "break_glass")

    assert _sent_to() == ["approver@example.com"]
    assert "BREAK-GLASS" in mail.outbox[0].subject and "without approval" in mail.outbox[0].body


def test_it_mails_the_requester_the_outcome(live, operator, emulator, enqueued):
    set_policy(live, 0)
    request = services.stop_request_create(deployment=live, user=operator, reason="bad")
    services.stop_request_execute(stop_request_id=request.pk)
    request.refresh_from_db()

    tasks.notify_stop_request(stop_request_id=request.pk, event="outcome")

    assert _sent_to() == ["operator@example.com"]
    assert "Succeeded" in mail.outbox[0].subject and "Outcome: Succeeded" in mail.outbox[0].body


class _Webhook(BaseHTTPRequestHandler):
    received: list[dict] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append({"type": self.headers["Content-Type"], "body": json.loads(body)})
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def webhook(settings):
    _Webhook.received = []
    _Webhook.status = 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.STOP_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/hook"
    yield _Webhook
    server.shutdown()
    server.server_close()


def test_it_posts_slack_compatible_json_to_the_webhook(live, operator, make_user, enqueued, webhook):
    set_policy(live, 1)
    request = services.stop_request_create(deployment=live, user=operator, reason="bad")

    notifications.notify(request, "pending")

    assert len(webhook.received) == 1
    posted = webhook.received[0]
    assert posted["type"] == "application/json"
    assert set(posted["body"]) == {"text"}
    assert "Approval needed" in posted["body"]["text"] and "/deployments/" in posted["body"]["text"]


def test_it_shrugs_off_a_failing_webhook_and_mail_server(
    live, operator, make_user, enqueued, webhook, settings
):
    webhook.status = 500
    settings.EMAIL_BACKEND = "tests.deployments.test_notifications.BrokenMailBackend"
    set_policy(live, 0)
    request = services.stop_request_create(deployment=live, user=operator, reason="bad")
    services.stop_request_execute(stop_request_id=request.pk)

    tasks.notify_stop_request(stop_request_id=request.pk, event="outcome")  # raises nothing

    request.refresh_from_db()
    assert request.status == StopStatus.SUCCEEDED
    assert len(webhook.received) == 1


def test_it_stops_even_when_notifications_cannot_be_enqueued(live, operator, emulator, monkeypatch):
    def broker_down(*args, **kwargs):
        raise OSError("connection refused")

    monkeypatch.setattr(tasks.notify_stop_request, "apply_async", broker_down)
    monkeypatch.setattr(tasks.stop_execute, "apply_async", lambda *args, **kwargs: None)
    set_policy(live, 0)

    request = services.stop_request_create(deployment=live, user=operator, reason="bad")
    # What on_commit would run: logs, raises nothing.
    assert queue.publish(tasks.notify_stop_request, stop_request_id=request.pk, event="outcome") is False
    services.stop_request_execute(stop_request_id=request.pk)

    request.refresh_from_db()
    assert request.status == StopStatus.SUCCEEDED
    assert emulator.counters()["StopDeployment"] == 1


class BrokenMailBackend:
    def __init__(self, *args, **kwargs) -> None:
        pass

    def send_messages(self, messages) -> int:
        raise ConnectionRefusedError("no SMTP server")


def test_it_names_the_account_when_there_are_several(live, operator, make_user, enqueued):
    set_policy(live, 1)
    make_user(Role.APPROVER, username="boss")
    request = services.stop_request_create(deployment=live, user=operator, reason="error rate up")
    tasks.notify_stop_request(stop_request_id=request.pk, event="pending")
    application = live.environment.application
    assert f"on {application.name} / prod" in mail.outbox[0].subject

    AccountFactory(name="second")
    tasks.notify_stop_request(stop_request_id=request.pk, event="pending")
    assert f"on {application.account.name}: {application.name} / prod" in mail.outbox[1].subject
