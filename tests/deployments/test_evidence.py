"""A deployment's evidence pack: evidence.json and its printable page (auditors and operators of the
application only; 403 or 404, audited, for everyone else), every part of the pack, the export audited, and
the offline check (`verify_audit --evidence`): a round trip verifies, a single changed byte and a signature
made with another key are caught; `get_deployment --evidence FILE` writes the same pack."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from audit.chain import HASHED_FIELDS, hash_of_row
from audit.evidence import verify_evidence
from audit.models import AuditEvent
from audit.records import record
from deployments.evidence import evidence_pack
from deployments.models import Role
from stops import services
from tests.helpers import set_policy

pytestmark = pytest.mark.django_db

KEY = "k" * 40


def evidence_url(deployment, name: str = "deployment_evidence_json") -> str:
    environment = deployment.environment
    return reverse(
        name,
        args=[
            environment.application.application_id,
            environment.environment_id,
            deployment.deployment_number,
        ],
    )


@pytest.fixture
def stopped(estate, operator, approver, published, settings, django_capture_on_commit_callbacks):
    """The running deployment with a stop request that one approver approved."""
    settings.AUDIT_EXPORT_SIGNING_KEY = KEY
    set_policy(estate.running, 1)
    with django_capture_on_commit_callbacks(execute=True):
        stop = services.stop_request_create(deployment=estate.running, user=operator, reason="errors up 40%")
        services.stop_request_approve(stop_request=stop, user=approver, comment="agreed")
    return estate.running


def download(client, deployment) -> dict:
    response = client.get(evidence_url(deployment))
    assert response.status_code == 200, response.status_code
    assert response["Content-Disposition"].startswith(
        'attachment; filename="evidence-pay1234-prod123-2.json"'
    )
    return json.loads(response.content)


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.OPERATOR])
def test_it_gives_auditors_and_operators_the_whole_pack(client_for, make_user, stopped, role):
    user = make_user(role, username=f"the-{role}")

    pack = download(client_for(user), stopped)

    assert verify_evidence(pack).ok
    assert pack["deployment"]["DeploymentNumber"] == 2 and pack["deployment"]["ApplicationId"] == "pay1234"
    assert [e["Description"] for e in pack["deployment"]["EventLog"]][0] == (
        "Configuration available to 40.00% of clients"
    )
    (stop,) = pack["stop_requests"]
    assert stop["requested_by"] == "operator" and stop["reason"] == "errors up 40%"
    assert [(d["user"], d["verdict"], d["comment"]) for d in stop["decisions"]] == [
        ("approver", "approve", "agreed")
    ]
    actions = [e["action"] for e in pack["audit_events"]]
    assert actions[:2] == ["stop.requested", "stop.approved"]
    for event in pack["audit_events"]:
        assert {"sequence", "hash", "prev_hash"} <= set(event)
    assert (
        pack["chain_head"]["intact"]
        and pack["chain_head"]["last_sequence"] >= pack["audit_events"][-1]["sequence"]
    )
    assert pack["configuration"]["location_uri"] == "hosted" and pack["configuration"]["fetched"] is False
    assert pack["exported_by"] == user.username and pack["signature_key"] == "configured"


def test_it_audits_the_download_with_the_packs_signature(client_for, auditor, stopped):
    pack = download(client_for(auditor), stopped)

    event = AuditEvent.objects.get(action="evidence.exported")
    assert event.actor_username == "auditor" and event.deployment_number == 2
    details = json.loads(event.details)
    assert details["signature"] == pack["signature"] and details["format"] == "json"
    # The next pack holds this export.
    assert "evidence.exported" in [
        e["action"] for e in download(client_for(auditor), stopped)["audit_events"]
    ]


def test_it_refuses_a_viewer_with_403_and_audits_it(client_for, viewer, stopped):
    response = client_for(viewer).get(evidence_url(stopped))

    assert response.status_code == 403
    denied = AuditEvent.objects.get(action="access.denied")
    assert (
        denied.actor_username == "viewer"
        and json.loads(denied.details)["attempted"] == "export the evidence pack"
    )
    assert not AuditEvent.objects.filter(action="evidence.exported").exists()


@pytest.mark.parametrize("name", ["deployment_evidence_json", "deployment_evidence"])
def test_it_answers_404_outside_the_users_scope_and_audits_it(client_for, outsider, stopped, name):
    response = client_for(outsider).get(evidence_url(stopped, name))

    assert response.status_code == 404
    assert AuditEvent.objects.filter(action="access.denied", actor_username="outsider").exists()
    assert not AuditEvent.objects.filter(action="evidence.exported").exists()


def test_it_prints_the_same_pack(client_for, auditor, stopped):
    response = client_for(auditor).get(evidence_url(stopped, "deployment_evidence"))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Evidence pack: deployment 2" in html and "errors up 40%" in html and "stop.approved" in html
    event = AuditEvent.objects.get(action="evidence.exported")
    assert json.loads(event.details)["signature"] in html


# ---------------------------------------------------------------------------------------------------------
# The offline check


def test_it_finds_a_single_changed_byte_in_an_audit_event(stopped):
    pack = evidence_pack(deployment=stopped, exported_by="test")
    pack["audit_events"][0]["reason"] = pack["audit_events"][0]["reason"].replace("4", "5", 1)

    result = verify_evidence(pack)

    assert not result.ok and "changed: its content does not match its hash" in result.problem


def test_it_finds_a_single_changed_byte_anywhere_else(stopped):
    pack = evidence_pack(deployment=stopped, exported_by="test")
    pack["stop_requests"][0]["decisions"][0]["comment"] = "agreee"

    result = verify_evidence(pack)

    assert not result.ok and "signature does not match" in result.problem


def test_it_finds_a_pack_signed_with_another_key(stopped, settings):
    pack = evidence_pack(deployment=stopped, exported_by="test")
    settings.AUDIT_EXPORT_SIGNING_KEY = "o" * 40

    assert "signature does not match" in verify_evidence(pack).problem


def test_it_finds_a_broken_link_between_adjacent_events(stopped):
    pack = evidence_pack(deployment=stopped, exported_by="test")
    first, second = pack["audit_events"][:2]
    assert second["sequence"] == first["sequence"] + 1
    # Re-linked and re-hashed, as someone without the signing key could: the link gives it away.
    second["prev_hash"] = "0" * 64
    second["hash"] = hash_of_row(second["prev_hash"], tuple(second[name] for name in HASHED_FIELDS))

    result = verify_evidence(pack)

    assert not result.ok and "its link does not match" in result.problem


def test_it_finds_reordered_events(stopped):
    pack = evidence_pack(deployment=stopped, exported_by="test")
    pack["audit_events"][:2] = reversed(pack["audit_events"][:2])

    assert "reordered" in verify_evidence(pack).problem


def test_it_finds_an_event_about_another_deployment(stopped, estate):
    record(action="config.viewed", target=estate.done)
    other = evidence_pack(deployment=estate.done, exported_by="test")["audit_events"][-1]
    pack = evidence_pack(deployment=stopped, exported_by="test")
    pack["audit_events"].insert(0, other)

    assert "not about this deployment" in verify_evidence(pack).problem


def test_verify_audit_checks_an_evidence_file(stopped, tmp_path, capsys):
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps(evidence_pack(deployment=stopped, exported_by="test")))

    call_command("verify_audit", "--evidence", str(path))
    assert "evidence pack intact" in capsys.readouterr().out

    path.write_text(path.read_text().replace("errors up 40%", "errors up 41%"))
    with pytest.raises(SystemExit) as exit_:
        call_command("verify_audit", "--evidence", str(path))
    assert exit_.value.code == 1
    assert capsys.readouterr().err.strip().startswith("evidence pack broken:")


def test_verify_audit_refuses_an_unreadable_evidence_file_in_one_line(tmp_path):
    path = tmp_path / "evidence.json"
    path.write_text("{not json")
    with pytest.raises(CommandError, match="cannot read the evidence pack"):
        call_command("verify_audit", "--evidence", str(path))
    with pytest.raises(CommandError, match="--evidence goes alone"):
        call_command("verify_audit", "--evidence", str(path), "--export", str(path))


# ---------------------------------------------------------------------------------------------------------
# The command


def _get_deployment(*options: str) -> None:
    call_command(
        "get_deployment", "--application-id", "pay1234", "--environment-id", "prod123",
        "--deployment-number", "2", *options,
    )  # fmt: skip


def test_get_deployment_writes_the_same_pack(stopped, tmp_path, auditor, capsys):
    path = tmp_path / "pack.json"

    _get_deployment("--evidence", str(path), "--user", "auditor")

    pack = json.loads(path.read_text())
    assert verify_evidence(pack).ok and pack["exported_by"] == "auditor"
    assert "written to" in capsys.readouterr().out
    event = AuditEvent.objects.get(action="evidence.exported")
    assert event.source == "command" and json.loads(event.details)["signature"] == pack["signature"]


def test_get_deployment_refuses_a_user_who_may_not_export_it(stopped, tmp_path, viewer):
    with pytest.raises(CommandError, match="may not export evidence"):
        _get_deployment("--evidence", str(tmp_path / "pack.json"), "--user", "viewer")
    assert not (tmp_path / "pack.json").exists()
