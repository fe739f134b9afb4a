"""manage.py verify_audit [--anchor FILE ...] | --export FILE [--manifest FILE] | --evidence FILE

Without --export: verify the whole chain in the database, store the result and anchor the head outside the
database (the log, AUDIT_ANCHOR_FILE, AUDIT_ANCHOR_WEBHOOK_URL), as the beat task does. With --anchor FILE
(an AUDIT_ANCHOR_FILE, or a copy), every head recorded there must still be in the chain, unchanged, and the
chain must reach the highest of them: a chain rewritten, shortened or emptied since fails.
With --export: verify an exported segment offline (CSV or JSON Lines; a CSV's manifest comes separately):
the rows against their hashes and the manifest, and the manifest against its signature (audit.signing). An
export without its manifest, or with an unsigned or wrongly signed one, fails.
With --evidence: verify a deployment's evidence pack offline (audit/evidence.py): each audit event's hash,
the links between adjacent events, the chain head, and the pack's signature.
Exit 0 when intact; otherwise exit 1 and one line: "audit chain broken at event <id>: <why>".

A verification of the database is itself recorded in the trail (audit.verified, source command), after the
head it anchored, with the operating-system user who ran it: no console user is logged in to a command.
An export is verified offline, without a database, and records nothing.

Files are read only when they are regular files, up to AUDIT_EXPORT_MAX_BYTES (audit/files.py): a device,
a FIFO or a directory is refused with one line, never read without end.
"""

import csv
import json
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from audit.anchors import Anchor, read_anchors
from audit.evidence import verify_evidence
from audit.exports import JsonLinesExport, read_csv
from audit.models import Action, AuditVerification, Outcome, Source
from audit.records import record
from audit.verify import ChainResult, chain_verify, verify_segment
from portal.commands import os_user
from portal.files import MIB, bounded_lines, open_regular_file

# An exported row is at most a few tens of KiB (details and reason are bounded by record()); a manifest, a
# few KiB.
LINE_MAX_CHARS = MIB
MANIFEST_MAX_BYTES = MIB
# What a crafted or damaged export can raise while read (a cell of the wrong type included).
_UNREADABLE = (OSError, ValueError, KeyError, TypeError, AttributeError, csv.Error)


def _why(exc: Exception) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain (against anchor files), or an exported segment of it."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--anchor",
            type=Path,
            action="append",
            default=[],
            help="an anchor file (AUDIT_ANCHOR_FILE) whose heads the chain must still hold; may be repeated",
        )
        parser.add_argument("--export", type=Path, help="an exported .csv or .jsonl file to verify offline")
        parser.add_argument("--manifest", type=Path, help="the manifest of a CSV export (JSON)")
        parser.add_argument("--evidence", type=Path, help="a deployment's evidence pack to verify offline")

    def handle(
        self,
        *args,
        anchor: list[Path],
        export: Path | None = None,
        manifest: Path | None = None,
        evidence: Path | None = None,
        **options,
    ) -> None:
        if evidence is not None:
            if export is not None or manifest is not None or anchor:
                raise CommandError("--evidence goes alone: not with --export, --manifest or --anchor")
            result = self._verify_evidence(evidence)
        elif export is None:
            if manifest is not None:
                raise CommandError("--manifest goes with --export")
            anchors = [head for path in anchor for head in self._anchors(path)]
            result, verification = chain_verify(source=Source.COMMAND, anchors=anchors)
            self._record(result, verification, anchor)
        else:
            if anchor:
                raise CommandError("--anchor checks the chain in the database; it does not go with --export")
            result = self._verify_export(export, manifest)
        if not result.ok:
            self.stderr.write(str(result))
            sys.exit(1)
        self.stdout.write(str(result))

    def _record(self, result: ChainResult, verification: AuditVerification, anchor_files: list[Path]) -> None:
        try:
            record(
                action=Action.AUDIT_VERIFIED,
                outcome=Outcome.SUCCESS if result.ok else Outcome.FAILED,
                source=Source.COMMAND,
                reason=result.problem,
                details={
                    "verification_id": verification.pk,
                    "events": result.count,
                    "last_sequence": result.last_sequence,
                    "first_bad_id": result.first_bad_id,
                    "anchor_files": [str(path) for path in anchor_files],
                    "os_user": os_user(),
                },
            )
        except DatabaseError as exc:
            # A chain tampered with so that nothing can follow it (a forked link) must still be reported.
            self.stderr.write(f"the verification could not be recorded in the audit trail: {exc}")

    def _anchors(self, path: Path) -> list[Anchor]:
        try:
            return read_anchors(path, max_bytes=settings.AUDIT_EXPORT_MAX_BYTES)
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read the anchor file {path}: {_why(exc)}") from None

    def _verify_export(self, export: Path, manifest_path: Path | None):
        given = self._manifest(manifest_path) if manifest_path else None
        try:
            with open_regular_file(export, max_bytes=settings.AUDIT_EXPORT_MAX_BYTES) as stream:
                lines = bounded_lines(stream, max_chars=LINE_MAX_CHARS)
                if export.suffix.lower() == ".csv":
                    if given is None:
                        raise CommandError(
                            f"cannot verify {export} without its manifest: give it with --manifest FILE"
                        )
                    return verify_segment(read_csv(lines), given)
                rows = JsonLinesExport(lines)
                return verify_segment(rows, given if given is not None else (lambda: rows.manifest))
        except _UNREADABLE as exc:
            raise CommandError(f"cannot read {export}: {_why(exc)}") from None

    def _verify_evidence(self, path: Path):
        try:
            with open_regular_file(path, max_bytes=settings.AUDIT_EXPORT_MAX_BYTES) as stream:
                pack = json.loads(stream.read())
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read the evidence pack {path}: {_why(exc)}") from None
        return verify_evidence(pack)

    def _manifest(self, path: Path) -> dict:
        try:
            with open_regular_file(path, max_bytes=MANIFEST_MAX_BYTES) as stream:
                data = json.loads(stream.read())
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read the manifest {path}: {_why(exc)}") from None
        return data.get("manifest", data) if isinstance(data, dict) else {}
