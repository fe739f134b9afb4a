"""Exported segments of the audit trail: CSV and JSON Lines, streamed, and the manifest that lets anyone
verify a segment offline (`manage.py verify_audit --export FILE`, or a few lines of any language).

Each exported row carries `id`, every hashed field (see `audit.chain`), `prev_hash` and `hash`, so its hash
can be recomputed from the row alone. The manifest gives the count, the first and last id/sequence/hash, a
digest of all row hashes in order, whether the segment is contiguous (no filter: every event up to
`upto_id`), the filters, who exported and when; and it is signed (HMAC-SHA256, `audit.signing`), so an
export shows it came from this console. The offline verifier refuses an export without its manifest, or
whose manifest is unsigned or does not match its signature.

- JSON Lines: one object per event, oldest first; the last line is `{"manifest": {...}}`.
- CSV: a header and one line per event; the manifest is a separate download
  (`/audit/export.manifest.json` with the same query, including `upto`).

CSV cells are made inert for spreadsheets and line-safe, reversibly (the verifier undoes it):
  1. `\\` and control characters (C0, DEL, C1, U+2028, U+2029) are backslash-escaped (`\\n`, `\\r`,
     `\\t`, `\\\\`, `\\xHH`, `\\uHHHH`), so no cell ever spans two lines;
  2. a cell that then starts with `=`, `+`, `-`, `@`, `|` or `'` gets a `'` in front (OWASP's CSV injection
     advice), so a spreadsheet shows it as text instead of evaluating it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from django.utils import timezone

from audit import signing
from audit.chain import EXPORT_FIELDS, HASHED_FIELDS, INTEGER_FIELDS, timestamp

MANIFEST_FORMAT = "appconfig-console-audit-export/1"
HASH_RULE = (
    "hash = sha256_hex(prev_hash + canonical), canonical = JSON of the hashed fields, keys sorted, "
    "no whitespace, UTF-8; details is the JSON text of the details object; the first event's "
    "prev_hash is 64 zeros"
)
_BUFFER = 64 * 1024

_CONTROL = re.compile("[\\\\\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ESCAPED = re.compile(r"\\(\\|n|r|t|x[0-9a-f]{2}|u[0-9a-f]{4})")
_UNNAMED = {"\\": "\\", "n": "\n", "r": "\r", "t": "\t"}
_LINE_BREAKERS = re.compile("[\x7f-\x9f\u2028\u2029]")
_FORMULA_START = ("=", "+", "-", "@", "|", "'")


def _escape_char(match: re.Match) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    text = _CONTROL.sub(_escape_char, str(value))
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_value(cell: str, field: str) -> Any:
    """The inverse of csv_cell for a column of EXPORT_FIELDS."""
    if field in INTEGER_FIELDS or field == "id":
        return int(cell) if cell != "" else None
    if cell.startswith("'"):
        cell = cell[1:]
    return _ESCAPED.sub(lambda m: _UNNAMED.get(m.group(1)) or chr(int(m.group(1)[1:], 16)), cell)


def row_dict(values: tuple) -> dict[str, Any]:
    """An exported row from a tuple of EXPORT_FIELDS as the database returns it."""
    row = dict(zip(EXPORT_FIELDS, values, strict=True))
    row["occurred_at"] = timestamp(row["occurred_at"])
    return row


class ManifestBuilder:
    """Folds exported rows, in order, into the manifest."""

    def __init__(self, *, filters: dict[str, Any], upto: int, exported_by: str) -> None:
        self.filters = filters
        self.upto = upto
        self.exported_by = exported_by
        self.count = 0
        self.first: dict[str, Any] | None = None
        self.last: dict[str, Any] | None = None
        self._digest = hashlib.sha256()

    def add(self, row: dict[str, Any]) -> None:
        self.count += 1
        if self.first is None:
            self.first = row
        self.last = row
        self._digest.update(row["hash"].encode())

    def manifest(self, exported_at: datetime | None = None) -> dict[str, Any]:
        """The manifest, signed (`audit.signing`)."""
        first, last = self.first or {}, self.last or {}
        manifest = {
            "format": MANIFEST_FORMAT,
            "hash_rule": HASH_RULE,
            "hashed_fields": list(HASHED_FIELDS),
            "count": self.count,
            "first_id": first.get("id"),
            "first_sequence": first.get("sequence"),
            "first_prev_hash": first.get("prev_hash"),
            "first_hash": first.get("hash"),
            "last_id": last.get("id"),
            "last_sequence": last.get("sequence"),
            "last_hash": last.get("hash"),
            "digest": self._digest.hexdigest(),
            # No filter: every event from the first exported one up to upto_id, so links and sequences must
            # be unbroken. With filters, each row is still checked on its own and adjacent ones linked.
            "contiguous": not self.filters,
            "filters": self.filters,
            "upto_id": self.upto,
            "exported_by": self.exported_by,
            "exported_at": timestamp(exported_at or timezone.now()),
            "signature_rule": signing.RULE,
        }
        return signing.signed(manifest)


class _Line:
    """A file-like object for csv.writer that hands back what it was given."""

    def write(self, text: str) -> str:
        return text


def _buffered(pieces: Iterable[str]) -> Iterator[bytes]:
    buffer: list[str] = []
    size = 0
    for piece in pieces:
        buffer.append(piece)
        size += len(piece)
        if size >= _BUFFER:
            yield "".join(buffer).encode()
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer).encode()


def csv_stream(rows: Iterable[tuple]) -> Iterator[bytes]:
    """CSV of the rows (tuples of EXPORT_FIELDS), in chunks of about 64 KiB."""
    writer = csv.writer(_Line(), lineterminator="\r\n")

    def lines() -> Iterator[str]:
        yield writer.writerow(EXPORT_FIELDS)
        for values in rows:
            row = row_dict(values)
            yield writer.writerow([csv_cell(row[name]) for name in EXPORT_FIELDS])

    return _buffered(lines())


def json_line(value: Any) -> str:
    """One JSON Lines line. json.dumps escapes C0 controls; C1 controls and U+2028/U+2029, which it leaves
    as they are, are escaped too, because some line readers (Python's splitlines, JavaScript) break on them.
    They can only occur inside JSON strings, where `\\uXXXX` means the same character."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return _LINE_BREAKERS.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


def jsonl_stream(rows: Iterable[tuple], builder: ManifestBuilder) -> Iterator[bytes]:
    """JSON Lines of the rows, then the manifest line."""

    def lines() -> Iterator[str]:
        for values in rows:
            row = row_dict(values)
            builder.add(row)
            yield json_line(row)
        yield json_line({"manifest": builder.manifest()})

    return _buffered(lines())


def manifest_of(rows: Iterable[tuple], builder: ManifestBuilder) -> dict[str, Any]:
    for values in rows:
        builder.add(row_dict(values))
    return builder.manifest()


# ---------------------------------------------------------------------------------------------------------
# Reading exports back (the offline verifier)


def read_csv(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise ValueError("not an audit CSV export: it is empty")
    if tuple(header) != EXPORT_FIELDS:
        raise ValueError(f"not an audit CSV export: the header is {header[:4]}...")
    for number, cells in enumerate(reader, start=2):
        if len(cells) != len(EXPORT_FIELDS):
            raise ValueError(f"line {number}: {len(cells)} cells, expected {len(EXPORT_FIELDS)}")
        yield {name: csv_value(cell, name) for name, cell in zip(EXPORT_FIELDS, cells, strict=True)}


class JsonLinesExport:
    """Iterates the rows of a JSON Lines export; `manifest` holds its manifest line once iterated."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.lines = lines
        self.manifest: dict[str, Any] | None = None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for number, line in enumerate(self.lines, start=1):
            if not line.strip():
                continue
            if self.manifest is not None:
                raise ValueError(f"line {number}: rows after the manifest line")
            item = json.loads(line)
            if "manifest" in item and len(item) == 1:
                self.manifest = item["manifest"]
                continue
            yield item
