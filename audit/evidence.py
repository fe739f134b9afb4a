"""A deployment's evidence pack, checked offline (`manage.py verify_audit --evidence FILE`).

The pack (built by `deployments.evidence`) is one signed JSON object: the deployment and its event log as
cached, its configuration's digests (and diff when contents are shown), its stop requests with their
decisions, every audit event about it (each a row of `audit.chain.EXPORT_FIELDS`: sequence, hash, prev_hash
and the hashed fields) and the chain head verified at export time. The check needs no database:

1. each audit event's hash is recomputed from its own fields and prev_hash (`audit.chain`);
2. the events are about this deployment, in increasing sequence, and adjacent ones (consecutive
   sequences) are linked: the links that can be checked inside the pack (others fall between events about
   other things, which the pack does not hold);
3. no event is past the chain head verified at export, and one at the head has the head's hash;
4. the signature (HMAC-SHA256, `audit.signing`) covers everything else: any byte changed anywhere fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from audit import signing
from audit.chain import HASHED_FIELDS, hash_of_row

FORMAT = "appconfig-console-evidence/1"


@dataclass(frozen=True)
class EvidenceResult:
    ok: bool
    events: int
    problem: str = ""

    def __str__(self) -> str:
        if self.ok:
            return f"evidence pack intact: {self.events} audit events, signature valid"
        return f"evidence pack broken: {self.problem}"


def _broken(problem: str, events: int = 0) -> EvidenceResult:
    return EvidenceResult(False, events, problem)


def _event_problem(row: Any, keys: tuple, previous: dict | None) -> str:
    if not isinstance(row, dict) or any(name not in row for name in (*HASHED_FIELDS, "prev_hash", "hash")):
        return "it is not an audit event row"
    if hash_of_row(row["prev_hash"], tuple(row[name] for name in HASHED_FIELDS)) != row["hash"]:
        return "changed: its content does not match its hash"
    if (row["application_id"], row["environment_id"], row["deployment_number"]) != keys:
        return "it is not about this deployment"
    if previous is not None:
        if row["sequence"] <= previous["sequence"]:
            return f"reordered: it comes after sequence {previous['sequence']} in the pack"
        if row["sequence"] == previous["sequence"] + 1 and row["prev_hash"] != previous["hash"]:
            return f"changed: its link does not match the hash of sequence {previous['sequence']}"
    return ""


def verify_evidence(pack: Any) -> EvidenceResult:
    """Check an evidence pack (a parsed JSON object) as the module docstring says."""
    if not isinstance(pack, dict):
        return _broken("it is not a JSON object")
    if pack.get("format") != FORMAT:
        return _broken(f"it is of an unknown format {pack.get('format')!r}")
    deployment, events, head = pack.get("deployment"), pack.get("audit_events"), pack.get("chain_head")
    if not isinstance(deployment, dict) or not isinstance(events, list) or not isinstance(head, dict):
        return _broken("it lacks its deployment, audit events or chain head")
    keys = (
        deployment.get("ApplicationId"),
        deployment.get("EnvironmentId"),
        deployment.get("DeploymentNumber"),
    )
    previous = None
    try:
        for count, row in enumerate(events):
            problem = _event_problem(row, keys, previous)
            if problem:
                where = (
                    f"sequence {row['sequence']}"
                    if isinstance(row, dict) and "sequence" in row
                    else "an event"
                )
                return _broken(f"audit event {where}: {problem}", count)
            previous = row
        if previous is not None and head.get("last_sequence") is not None:
            if previous["sequence"] > head["last_sequence"]:
                return _broken("audit events past the chain head verified at export", len(events))
            if previous["sequence"] == head["last_sequence"] and previous["hash"] != head.get("last_hash"):
                return _broken("the last audit event is not the chain head verified at export", len(events))
    except (TypeError, ValueError, KeyError) as exc:  # a crafted pack: values of the wrong type
        return _broken(f"it is malformed ({exc})", 0)
    problem = signing.signature_problem(pack)
    if problem:
        return _broken(problem, len(events))
    return EvidenceResult(True, len(events))
