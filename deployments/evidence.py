"""A deployment's evidence pack: one signed JSON document that answers change management's questions after
an incident (what was deployed, what it changed, who asked to stop it, who approved, when AppConfig acted)
with proof that the record is genuine. The web (`evidence.json`, and a printable page of the same) and
`manage.py get_deployment --evidence FILE` export it; `manage.py verify_audit --evidence FILE` checks it
offline (`audit.evidence`, which documents the checks).

Everything comes from the database (the cache, the stop requests, the audit trail): exporting never calls
AppConfig. Exporting is audited (`evidence.exported`, with the pack's signature in its details), after the
pack is built, so the export of a pack is in the next pack.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from audit import signing
from audit.chain import EXPORT_FIELDS, HASHED_FIELDS, timestamp
from audit.evidence import FORMAT
from audit.exports import HASH_RULE, row_dict
from audit.models import Action, AuditEvent, Source
from audit.records import record
from audit.verify import latest_anchor, verify_chain
from deployments.configuration import configuration_report
from deployments.management.cli import deployment_shape
from deployments.models import Deployment, StopRequest


def _jsonable(value: Any) -> Any:
    """Datetimes as the audit trail writes them (UTC, microseconds, Z); everything else as JSON has it."""
    return json.loads(
        json.dumps(value, default=lambda v: timestamp(v) if isinstance(v, datetime) else str(v))
    )


def _when(value: datetime | None) -> str | None:
    return timestamp(value) if value is not None else None


def _stop_requests(deployment: Deployment) -> list[dict[str, Any]]:
    requests = (
        StopRequest.objects.filter(deployment=deployment)
        .select_related("requested_by")
        .prefetch_related("decisions__user")
        .order_by("pk")
    )
    return [
        {
            "id": stop.pk,
            "kind": stop.kind,
            "status": stop.status,
            "state_at_request": stop.state_at_request,
            "requested_by": stop.requested_by.get_username(),
            "reason": stop.reason,
            "break_glass": stop.break_glass,
            "source": stop.source,
            "approvals_required": stop.approvals_required,
            "created_at": _when(stop.created_at),
            "expires_at": _when(stop.expires_at),
            "approved_at": _when(stop.approved_at),
            "stop_called_at": _when(stop.stop_called_at),
            "finished_at": _when(stop.finished_at),
            "outcome": stop.outcome,
            "decisions": [
                {
                    "user": decision.user.get_username(),
                    "verdict": decision.verdict,
                    "comment": decision.comment,
                    "created_at": _when(decision.created_at),
                }
                for decision in stop.decisions.all()
            ],
        }
        for stop in requests
    ]


def _audit_events(deployment: Deployment) -> list[dict[str, Any]]:
    environment = deployment.environment
    rows = (
        AuditEvent.objects.filter(
            application_id=environment.application.application_id,
            environment_id=environment.environment_id,
            deployment_number=deployment.deployment_number,
        )
        .order_by("sequence")
        .values_list(*EXPORT_FIELDS)
    )
    return [row_dict(values) for values in rows]


def evidence_pack(*, deployment: Deployment, exported_by: str) -> dict[str, Any]:
    """The signed pack (see the module docstring); reads only the database."""
    # Verified before the events are read: every event in the pack is at or before this head.
    anchor = latest_anchor()
    head = verify_chain(anchors=[anchor] if anchor else [])
    account = deployment.environment.application.account
    pack = {
        "format": FORMAT,
        "account": {"name": account.name, "aws_account_id": account.aws_account_id},
        "deployment": _jsonable(deployment_shape(deployment)),
        "configuration": configuration_report(deployment).evidence(),
        "stop_requests": _stop_requests(deployment),
        "audit_events": _audit_events(deployment),
        "chain_head": {
            "intact": head.ok,
            "events": head.count,
            "last_id": head.last_id,
            "last_sequence": head.last_sequence,
            "last_hash": head.last_hash,
            "problem": head.problem,
        },
        "hash_rule": HASH_RULE,
        "hashed_fields": list(HASHED_FIELDS),
        "exported_by": exported_by,
        "exported_at": timestamp(timezone.now()),
        "signature_rule": signing.RULE,
    }
    return signing.signed(pack)


def evidence_export(
    *,
    deployment: Deployment,
    what: str,
    request: HttpRequest | None = None,
    actor: AbstractBaseUser | None = None,
    source: str = Source.WEB,
) -> dict[str, Any]:
    """Build the pack and record its export (`evidence.exported`, details: `what` (json, html, file), the
    signature, the events it holds and the chain head). The caller has checked the user's right to it."""
    user = actor or (request.user if request is not None else None)
    exported_by = user.get_username() if user is not None and user.is_authenticated else "system"
    pack = evidence_pack(deployment=deployment, exported_by=exported_by)
    with transaction.atomic():
        record(
            action=Action.EVIDENCE_EXPORTED,
            request=request,
            actor=actor,
            target=deployment,
            source=source,
            details={
                "format": what,
                "signature": pack["signature"],
                "audit_events": len(pack["audit_events"]),
                "chain_head_sequence": pack["chain_head"]["last_sequence"],
                "content_shown": pack["configuration"]["content_shown"],
            },
        )
    return pack
