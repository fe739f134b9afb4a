"""manage.py verify_audit [--export FILE [--manifest FILE]]

Without --export: verify the whole chain in the database (and store the result, as the beat task does).
With --export: verify an exported segment offline (CSV or JSON Lines; a CSV's manifest comes separately):
the rows against their hashes and the manifest, and the manifest against its signature (audit.signing). An
export without its manifest, or with an unsigned or wrongly signed one, fails.
Exit 0 when intact; otherwise exit 1 and one line: "audit chain broken at event <id>: <why>".

Files are read only when they are regular files, up to AUDIT_EXPORT_MAX_BYTES (audit/files.py): a device,
a FIFO or a directory is refused with one line, never read without end.
"""

import csv
import json
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from audit.exports import JsonLinesExport, read_csv
from audit.files import MIB, bounded_lines, open_regular_file
from audit.models import Source
from audit.verify import chain_verify, verify_segment

# An exported row is at most a few tens of KiB (details and reason are bounded by record()); a manifest, a
# few KiB.
LINE_MAX_CHARS = MIB
MANIFEST_MAX_BYTES = MIB


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain, or an exported segment of it."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--export", type=Path, help="an exported .csv or .jsonl file to verify offline")
        parser.add_argument("--manifest", type=Path, help="the manifest of a CSV export (JSON)")

    def handle(self, *args, export: Path | None = None, manifest: Path | None = None, **options) -> None:
        if export is None:
            if manifest is not None:
                raise CommandError("--manifest goes with --export")
            result, _ = chain_verify(source=Source.COMMAND)
        else:
            result = self._verify_export(export, manifest)
        if not result.ok:
            self.stderr.write(str(result))
            sys.exit(1)
        self.stdout.write(str(result))

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
                return verify_segment(rows, given or (lambda: rows.manifest))
        except (OSError, ValueError, KeyError, csv.Error) as exc:
            raise CommandError(f"cannot read {export}: {exc}") from None

    def _manifest(self, path: Path) -> dict:
        try:
            with open_regular_file(path, max_bytes=MANIFEST_MAX_BYTES) as stream:
                data = json.loads(stream.read())
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read the manifest {path}: {exc}") from None
        return data.get("manifest", data) if isinstance(data, dict) else {}
