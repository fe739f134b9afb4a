"""manage.py verify_audit (the chain, and exported segments offline) and the role command's events."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from audit.models import AuditEvent, AuditVerification
from portal.commands import os_user
from tests.audit.helpers import behind_the_apps_back, rewrite_chain

pytestmark = pytest.mark.django_db


def test_it_reports_an_intact_chain_and_exits_0(make_events, capsys):
    events = make_events(4)
    call_command("verify_audit")
    assert capsys.readouterr().out.strip() == f"audit chain intact: 4 events, last id {events[-1].pk}"
    assert AuditVerification.objects.get().ok


def test_it_reports_the_first_bad_event_and_exits_1(make_events, capsys):
    events = make_events(4)
    with behind_the_apps_back() as cursor:
        cursor.execute("UPDATE audit_auditevent SET actor_username = 'mallory' WHERE id = %s", [events[2].pk])

    with pytest.raises(SystemExit) as exit_:
        call_command("verify_audit")

    assert exit_.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [
        f"audit chain broken at event {events[2].pk}: changed: its content does not match its hash"
    ]
    assert AuditVerification.objects.get().first_bad_id == events[2].pk


@pytest.fixture
def anchored(make_events, tmp_path, settings):
    """Ten events, verified once with AUDIT_ANCHOR_FILE set: (events, the anchor file)."""
    settings.AUDIT_ANCHOR_FILE = str(tmp_path / "anchors.jsonl")
    events = make_events(10)
    call_command("verify_audit")
    return events, tmp_path / "anchors.jsonl"


def _forget_verifications() -> None:
    # What someone who can write the database does next: the stored verifications are not append-only.
    AuditVerification.objects.all().delete()


def test_it_passes_a_chain_that_holds_every_anchored_head(anchored, make_events, capsys):
    events, anchors = anchored
    make_events(2)
    call_command("verify_audit", "--anchor", str(anchors))
    # Ten events, the first run's own audit.verified event, two more.
    assert capsys.readouterr().out.strip().startswith("audit chain intact: 13 events")


def test_it_fails_a_chain_rewritten_since_it_was_anchored(anchored, capsys):
    # Issue 12 (A): a chain rebuilt with recomputed hashes verifies on its own once the stored
    # verifications are gone; the head anchored outside the database does not match it.
    events, anchors = anchored
    with behind_the_apps_back() as cursor:
        rewrite_chain(cursor, {events[3].pk: "forged"})
    _forget_verifications()
    call_command("verify_audit")  # nothing in the database can tell ...
    assert capsys.readouterr().out.startswith("audit chain intact")

    err = _verify_fails("--anchor", str(anchors), capsys=capsys)  # ... the anchor can

    assert err.startswith(
        f"audit chain broken at event {events[-1].pk}: changed: it is not the event anchored as sequence 10 "
    )
    assert err.endswith(f"({anchors} line 1); the chain was rewritten from here or earlier")
    assert len(err.splitlines()) == 1


def test_it_fails_a_chain_emptied_since_it_was_anchored(anchored, capsys):
    # Issue 12 (A): `migrate audit zero` then `migrate` left an empty trail, and no verifications, which
    # verified as "intact: 0 events".
    events, anchors = anchored
    with behind_the_apps_back() as cursor:
        cursor.execute("DELETE FROM audit_auditevent")
    _forget_verifications()

    err = _verify_fails("--anchor", str(anchors), capsys=capsys)

    assert err.startswith(
        f"audit chain broken at event {events[-1].pk}: missing: the chain is empty, but sequence 10 was "
        "anchored at "
    )


def test_it_fails_a_chain_shortened_since_it_was_anchored(anchored, capsys):
    events, anchors = anchored
    with behind_the_apps_back() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id > %s", [events[5].pk])
    _forget_verifications()
    err = _verify_fails("--anchor", str(anchors), capsys=capsys)
    assert "missing: the chain ends at sequence 6, but sequence 10 was anchored at " in err


def test_it_fails_when_an_earlier_head_was_anchored_before_a_rewrite(anchored, make_events, capsys):
    # The rewritten chain's own head is anchored too by the next verification: the earlier head still
    # exposes it.
    events, anchors = anchored
    with behind_the_apps_back() as cursor:
        rewrite_chain(cursor, {events[0].pk: "forged"})
    _forget_verifications()
    make_events(1)
    call_command("verify_audit")
    capsys.readouterr()
    assert _verify_fails("--anchor", str(anchors), capsys=capsys).startswith(
        f"audit chain broken at event {events[-1].pk}: changed: it is not the event anchored as sequence 10"
    )


@pytest.mark.parametrize("content", ["not json\n", '{"anchor": "other"}\n'])
def test_it_refuses_a_file_that_is_not_an_anchor_file(db, tmp_path, content):
    path = tmp_path / "anchors.jsonl"
    path.write_text(content)
    with pytest.raises(CommandError, match=f"^cannot read the anchor file {path}: {path} line 1: not "):
        call_command("verify_audit", "--anchor", str(path))


def test_it_refuses_an_anchor_file_that_is_not_a_regular_file(db):
    with pytest.raises(CommandError, match="^cannot read the anchor file /dev/zero: not a regular file$"):
        call_command("verify_audit", "--anchor", "/dev/zero")
    with pytest.raises(CommandError, match="No such file or directory$"):
        call_command("verify_audit", "--anchor", "/nonexistent/anchors.jsonl")


def test_it_records_the_verification_with_the_os_user_who_ran_it(make_events, capsys):
    # Issue 12 (D): a command has no console user; the trail says which operating-system user ran it.
    events = make_events(2)
    call_command("verify_audit")
    event = AuditEvent.objects.order_by("-sequence").first()
    details = json.loads(event.details)
    assert (event.action, event.outcome, event.source, event.actor_username) == (
        "audit.verified",
        "success",
        "command",
        "system",
    )
    assert event.sequence == events[-1].sequence + 1  # after the head it verified and anchored
    assert details["os_user"] == os_user() != ""
    assert details["verification_id"] == AuditVerification.objects.get().pk and details["events"] == 2


def test_it_records_a_failed_verification_with_its_problem(make_events, capsys):
    events = make_events(3)
    with behind_the_apps_back() as cursor:
        cursor.execute("UPDATE audit_auditevent SET reason = 'x' WHERE id = %s", [events[1].pk])
    with pytest.raises(SystemExit):
        call_command("verify_audit")
    event = AuditEvent.objects.get(action="audit.verified")
    assert (event.outcome, json.loads(event.details)["first_bad_id"]) == ("failed", events[1].pk)
    assert event.reason.startswith("changed:")


def test_it_still_reports_the_result_when_it_cannot_be_recorded(make_events, capsys, monkeypatch):
    from django.db import DatabaseError

    from audit.management.commands import verify_audit

    def refuse(**kwargs):
        raise DatabaseError("duplicate key value violates unique constraint")

    monkeypatch.setattr(verify_audit, "record", refuse)
    make_events(2)
    call_command("verify_audit")
    captured = capsys.readouterr()
    assert captured.out.startswith("audit chain intact: 2 events")
    assert captured.err.startswith("the verification could not be recorded in the audit trail: duplicate key")


def test_it_records_nothing_for_an_export_verified_offline(
    client_for, auditor, make_events, tmp_path, capsys
):
    export = _jsonl_export(client_for, auditor, make_events, tmp_path)
    before = AuditEvent.objects.count()
    call_command("verify_audit", "--export", str(export))
    assert AuditEvent.objects.count() == before


def _download(client, name: str, path, **query) -> None:
    response = client.get(reverse(name), query)
    path.write_bytes(b"".join(response.streaming_content) if response.streaming else response.content)
    return response


def test_it_verifies_an_exported_jsonl_offline(client_for, auditor, make_events, tmp_path, capsys):
    make_events(6)
    export = tmp_path / "audit.jsonl"
    _download(client_for(auditor), "audit_export_jsonl", export)

    call_command("verify_audit", "--export", str(export))
    assert capsys.readouterr().out.strip().startswith("audit export intact: ")

    lines = export.read_text().splitlines()
    row = json.loads(lines[1])
    row["outcome"] = "denied"
    lines[1] = json.dumps(row)
    export.write_text("\n".join(lines) + "\n")
    with pytest.raises(SystemExit):
        call_command("verify_audit", "--export", str(export))
    assert (
        capsys.readouterr().err.strip()
        == f"audit export broken at event {row['id']}: changed: its content does not match its hash"
    )


def test_it_verifies_an_exported_csv_with_its_manifest(client_for, auditor, make_events, tmp_path, capsys):
    make_events(6, reason="=cmd|' /C calc'!A0\nsecond line")
    client = client_for(auditor)
    export, manifest = tmp_path / "audit.csv", tmp_path / "manifest.json"
    upto = _download(client, "audit_export_csv", export)["X-Audit-Upto"]
    _download(client, "audit_export_manifest", manifest, upto=upto)

    call_command("verify_audit", "--export", str(export), "--manifest", str(manifest))
    assert (
        capsys.readouterr().out.strip()
        == f"audit export intact: {json.loads(manifest.read_text())['manifest']['count']} events"
    )

    # A row dropped from the CSV is caught by the manifest.
    lines = export.read_bytes().split(b"\r\n")
    export.write_bytes(b"\r\n".join(lines[:3] + lines[4:]))
    with pytest.raises(SystemExit):
        call_command("verify_audit", "--export", str(export), "--manifest", str(manifest))
    assert "missing" in capsys.readouterr().err


def _jsonl_export(client_for, auditor, make_events, tmp_path):
    make_events(6)
    export = tmp_path / "audit.jsonl"
    _download(client_for(auditor), "audit_export_jsonl", export)
    return export


def _verify_fails(*args: str, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        call_command("verify_audit", *args)
    assert exit_.value.code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err.strip()


def test_it_refuses_a_jsonl_export_without_its_manifest_line(
    client_for, auditor, make_events, tmp_path, capsys
):
    # Issue 12 (B): rows without their manifest used to verify (exit 0, a warning): rows cut from the end
    # leave no trace in the rest.
    export = _jsonl_export(client_for, auditor, make_events, tmp_path)
    export.write_text("".join(export.read_text().splitlines(keepends=True)[:-1]))
    assert _verify_fails("--export", str(export), capsys=capsys) == (
        "audit export broken at the manifest: there is none, so nothing shows the export is whole or that it "
        "came from this console"
    )


def test_it_refuses_an_empty_export(tmp_path, capsys):
    # Issue 12 (B): an empty file was "audit export intact: 0 events".
    export = tmp_path / "audit.jsonl"
    export.write_text("")
    assert _verify_fails("--export", str(export), capsys=capsys).startswith(
        "audit export broken at the manifest: there is none"
    )


def test_it_refuses_a_csv_export_without_its_manifest(client_for, auditor, make_events, tmp_path):
    make_events(3)
    export = tmp_path / "audit.csv"
    _download(client_for(auditor), "audit_export_csv", export)
    with pytest.raises(CommandError, match="without its manifest: give it with --manifest FILE"):
        call_command("verify_audit", "--export", str(export))


def test_it_refuses_an_export_cut_short_with_its_manifest_rewritten_to_match(
    client_for, auditor, make_events, tmp_path, capsys
):
    # Issue 12 (B): whoever can edit an export can drop its last rows and redo the manifest's count, last
    # event and digest from the rows left; only the signature cannot be redone without the key.
    export = _jsonl_export(client_for, auditor, make_events, tmp_path)
    *rows, manifest_line = (json.loads(line) for line in export.read_text().splitlines())
    manifest, kept = manifest_line["manifest"], rows[:-2]
    manifest.update(
        count=len(kept),
        last_id=kept[-1]["id"],
        last_sequence=kept[-1]["sequence"],
        last_hash=kept[-1]["hash"],
        digest=hashlib.sha256("".join(row["hash"] for row in kept).encode()).hexdigest(),
    )
    export.write_text("".join(json.dumps(item) + "\n" for item in [*kept, {"manifest": manifest}]))

    assert _verify_fails("--export", str(export), capsys=capsys) == (
        "audit export broken at the manifest: its signature does not match (changed since, or signed with "
        "another derived key)"
    )


def test_it_refuses_an_unsigned_manifest(client_for, auditor, make_events, tmp_path, capsys):
    export = _jsonl_export(client_for, auditor, make_events, tmp_path)
    *rows, manifest_line = export.read_text().splitlines()
    manifest = json.loads(manifest_line)["manifest"]
    for name in ("signature", "signature_key", "signature_algorithm"):
        manifest.pop(name, None)
    export.write_text("\n".join([*rows, json.dumps({"manifest": manifest})]) + "\n")
    assert _verify_fails("--export", str(export), capsys=capsys) == (
        "audit export broken at the manifest: it is not signed"
    )


def test_it_refuses_an_export_signed_with_another_key(
    client_for, auditor, make_events, tmp_path, settings, capsys
):
    settings.AUDIT_EXPORT_SIGNING_KEY = "another console's key, at least 32 characters"
    export = _jsonl_export(client_for, auditor, make_events, tmp_path)
    settings.AUDIT_EXPORT_SIGNING_KEY = "this console's key, also at least 32 characters"
    assert "its signature does not match" in _verify_fails("--export", str(export), capsys=capsys)


@pytest.mark.parametrize("kind", ["/dev/zero", "/dev/null", "fifo", "directory"])
def test_it_refuses_an_export_that_is_not_a_regular_file(tmp_path, kind):
    # Issue 12 (C): /dev/zero was read for ever; /dev/null "verified" as an intact export of 0 events.
    path = {"fifo": tmp_path / "audit.jsonl", "directory": tmp_path}.get(kind, kind)
    if kind == "fifo":
        os.mkfifo(path)
    with pytest.raises(CommandError, match=f"^cannot read {path}: not a regular file$"):
        call_command("verify_audit", "--export", str(path))


def test_it_refuses_a_manifest_that_is_not_a_regular_file(tmp_path):
    export = tmp_path / "audit.csv"
    export.write_text(",".join(["id"]))
    with pytest.raises(CommandError, match="^cannot read the manifest /dev/zero: not a regular file$"):
        call_command("verify_audit", "--export", str(export), "--manifest", "/dev/zero")


def test_it_answers_a_device_with_exit_1_and_one_line(tmp_path):
    env = {**os.environ, "PORTAL_VAR_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "manage.py", "verify_audit", "--export", "/dev/zero"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == ["CommandError: cannot read /dev/zero: not a regular file"]


def test_it_refuses_an_export_larger_than_AUDIT_EXPORT_MAX_BYTES(
    client_for, auditor, make_events, tmp_path, settings
):
    make_events(6)
    export = tmp_path / "audit.jsonl"
    _download(client_for(auditor), "audit_export_jsonl", export)
    size = export.stat().st_size
    settings.AUDIT_EXPORT_MAX_BYTES = size - 1
    with pytest.raises(CommandError, match=f"larger than {size - 1} bytes"):
        call_command("verify_audit", "--export", str(export))


def test_it_refuses_an_export_line_longer_than_any_exported_row(tmp_path):
    export = tmp_path / "audit.jsonl"
    export.write_text('{"id": "' + "x" * (2 * 1024 * 1024) + '"}\n')
    with pytest.raises(CommandError, match="line 1 is longer than"):
        call_command("verify_audit", "--export", str(export))


def test_it_records_role_grants_and_revocations_from_the_command(make_user, capsys):
    make_user(username="dora")
    call_command("roles", "grant", "dora", "operator")
    call_command("roles", "grant", "dora", "operator")  # already held: nothing changes, nothing recorded
    call_command("roles", "revoke", "dora", "operator")

    events = list(AuditEvent.objects.filter(target_label__contains="dora").order_by("id"))
    assert [(e.action, e.source, e.actor_username) for e in events] == [
        ("role.granted", "command", "system"),
        ("role.revoked", "command", "system"),
    ]
    details = json.loads(events[0].details)
    assert details["user"] == "dora" and details["role"] == "operator" and details["all_applications"] is True
    assert "os_user" in details
    assert events[0].target_label == "operator for dora on all applications"
