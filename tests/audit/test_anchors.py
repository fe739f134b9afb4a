"""Anchors: every verification publishes the chain's head outside the database (the log, an append-only
file, a webhook), and an anchor file is read back strictly (security review, issue 12, finding A)."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core.management import call_command

from audit import anchors
from audit.anchors import FORMAT, read_anchors
from audit.models import AuditEvent
from audit.verify import chain_verify
from tests.audit.helpers import behind_the_apps_back

pytestmark = pytest.mark.django_db


@pytest.fixture
def anchor_file(tmp_path, settings):
    settings.AUDIT_ANCHOR_FILE = str(tmp_path / "anchors.jsonl")
    return tmp_path / "anchors.jsonl"


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_it_appends_one_line_per_verification_with_the_head(make_events, anchor_file):
    anchor_file.write_text('{"earlier": "content stays"}\n')
    make_events(3)
    _, first = chain_verify(source="beat")
    last = make_events(1)[0]
    chain_verify(source="command")

    earlier, *heads = _lines(anchor_file)
    assert earlier == {"earlier": "content stays"}
    assert [(h["ok"], h["sequence"], h["hash"], h["source"]) for h in heads] == [
        (True, 3, AuditEvent.objects.get(sequence=3).hash, "beat"),
        (True, 4, last.hash, "command"),
    ]
    assert heads[0]["anchor"] == FORMAT and heads[0]["verification_id"] == first.pk
    assert heads[0]["checked_at"].endswith("Z") and heads[1]["event_id"] == last.pk


def test_it_creates_the_anchor_file_readable_by_its_owner_only(make_events, anchor_file):
    make_events(1)
    chain_verify()
    assert anchor_file.stat().st_mode & 0o777 == 0o600


def test_it_anchors_an_empty_chain_as_sequence_0(db, anchor_file):
    chain_verify()
    [head] = _lines(anchor_file)
    assert (head["ok"], head["sequence"], head["hash"], head["events"]) == (True, 0, "0" * 64, 0)


def test_it_anchors_a_broken_chain_as_not_ok_with_the_problem(make_events, anchor_file):
    events = make_events(3)
    with behind_the_apps_back() as cursor:
        cursor.execute("UPDATE audit_auditevent SET reason = 'x' WHERE id = %s", [events[1].pk])
    chain_verify()
    [head] = _lines(anchor_file)
    assert (head["ok"], head["sequence"], head["first_bad_id"]) == (False, None, events[1].pk)
    assert head["problem"].startswith("changed:")


def test_it_logs_every_head_even_without_a_file_or_webhook(make_events, caplog, settings):
    settings.AUDIT_ANCHOR_FILE = settings.AUDIT_ANCHOR_WEBHOOK_URL = ""
    events = make_events(2)
    with caplog.at_level("INFO", logger="audit.anchors"):
        chain_verify()
    [message] = [r.getMessage() for r in caplog.records if r.name == "audit.anchors"]
    head = json.loads(message.removeprefix("audit anchor "))
    assert (head["sequence"], head["hash"]) == (2, events[-1].hash)


def test_it_leaves_logging_a_broken_chain_to_the_caller(make_events, caplog, capsys):
    # verify_audit's failure is one line; beat's task logs its own error.
    events = make_events(2)
    with behind_the_apps_back() as cursor:
        cursor.execute("UPDATE audit_auditevent SET reason = 'x' WHERE id = %s", [events[0].pk])
    with caplog.at_level("INFO"), pytest.raises(SystemExit):
        call_command("verify_audit")
    assert [r for r in caplog.records if r.name == "audit.anchors"] == []
    assert len(capsys.readouterr().err.splitlines()) == 1


def test_it_never_writes_to_an_anchor_path_that_is_not_a_regular_file(
    make_events, tmp_path, settings, caplog
):
    fifo = tmp_path / "anchors.fifo"
    os.mkfifo(fifo)  # no reader: a blocking open would wait for ever
    settings.AUDIT_ANCHOR_FILE = str(fifo)
    make_events(1)
    result, _ = chain_verify()
    assert result.ok
    assert "audit anchor not appended to AUDIT_ANCHOR_FILE" in caplog.text


class _Recorder(BaseHTTPRequestHandler):
    received: list[tuple[dict, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def webhook(settings):
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.AUDIT_ANCHOR_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/anchors"
    yield _Recorder.received
    server.shutdown()
    server.server_close()


def test_it_posts_the_head_to_the_webhook_as_json(make_events, webhook):
    events = make_events(2)
    chain_verify(source="beat")
    [(headers, body)] = webhook
    assert headers["Content-Type"] == "application/json"
    head = json.loads(body)
    assert (head["ok"], head["sequence"], head["hash"], head["source"]) == (True, 2, events[-1].hash, "beat")


def test_it_logs_a_refused_webhook_and_still_verifies(make_events, settings, caplog):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings.AUDIT_ANCHOR_WEBHOOK_URL = f"http://127.0.0.1:{port}/secret-token"
    make_events(1)
    result, stored = chain_verify()
    assert result.ok and stored.ok
    assert "audit anchor webhook failed" in caplog.text and "secret-token" not in caplog.text


def test_it_gives_up_on_a_silent_webhook_within_the_timeout(make_events, settings, caplog, monkeypatch):
    monkeypatch.setattr(anchors, "WEBHOOK_TIMEOUT_SECONDS", 0.5)
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        settings.AUDIT_ANCHOR_WEBHOOK_URL = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        make_events(1)
        started = time.monotonic()
        result, _ = chain_verify()
    assert result.ok
    assert time.monotonic() - started < 5
    assert "audit anchor webhook failed" in caplog.text


def test_it_reads_back_the_intact_heads_once_each(make_events, anchor_file):
    make_events(2)
    chain_verify()
    chain_verify()  # the same head again
    make_events(1)
    chain_verify()
    heads = read_anchors(anchor_file, max_bytes=1024 * 1024)
    assert [(h.sequence, h.where) for h in heads] == [
        (2, f"{anchor_file} line 1"),
        (3, f"{anchor_file} line 3"),
    ]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("not json", "line 1: not JSON"),
        ('{"anchor": "something else/1"}', "line 1: not an audit anchor record"),
        ('["a list"]', "line 1: not an audit anchor record"),
        (
            json.dumps({"anchor": FORMAT, "ok": True, "sequence": 3, "hash": "x"}),
            "needs a sequence and a hash",
        ),
        (json.dumps({"anchor": FORMAT, "ok": True, "sequence": "3", "hash": "0" * 64}), "needs a sequence"),
    ],
)
def test_it_refuses_a_line_that_is_not_an_anchor_record(tmp_path, line, problem):
    path = tmp_path / "anchors.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(ValueError, match=problem):
        read_anchors(path, max_bytes=1024)
