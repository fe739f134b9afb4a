"""The chain's head, anchored outside the database after every verification, as CloudTrail's digest files
anchor its logs.

Whoever can write the database can rewrite the whole chain with recomputed hashes, or empty it, and delete
the stored verifications with it; the chain alone then verifies as intact. A head (sequence and hash of
the last event) kept somewhere they cannot write shows that: every head anchored once must still be in the
chain, with the same hash, and the chain must reach the highest of them.

Each verification (beat's task, `manage.py verify_audit`) publishes one anchor record,

    {"anchor": "appconfig-console-audit-anchor/1", "ok": true, "sequence": 42, "hash": "<sha256 hex>",
     "event_id": 57, "events": 42, "checked_at": "2026-11-02T09:00:00.000000Z", "source": "beat",
     "verification_id": 7, "first_bad_id": null, "problem": ""}

(ok false, sequence null: a broken chain, with its first bad event and why; sequence 0: an empty chain), to
1. the log (logger `audit.anchors`, INFO), for every intact head; a broken chain is reported by the caller
   instead (beat's task logs an error, `verify_audit` its one line), so a failing command says one thing;
2. AUDIT_ANCHOR_FILE, when set: appended as one JSON line, the file opened with O_APPEND (created 0600).
   Keep it where the database's users cannot rewrite it: another host's mount, a `chattr +a` file, or a
   log shipper into storage with retention. A deliberate `manage.py flush` restarts the chain: start a new
   anchor file then, since the old heads are gone for good.
3. AUDIT_ANCHOR_WEBHOOK_URL, when set: POSTed as JSON with a bounded timeout. A failure is logged, never
   raised: anchoring never fails a verification.

`manage.py verify_audit --anchor FILE` reads such a file back (`read_anchors`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from audit.chain import GENESIS, timestamp
from portal.files import MIB, FileRefused, bounded_lines, open_regular_file

logger = logging.getLogger(__name__)

FORMAT = "appconfig-console-audit-anchor/1"
WEBHOOK_TIMEOUT_SECONDS = 5.0
# An anchor record is a few hundred bytes; a problem text at most a few hundred more.
LINE_MAX_CHARS = MIB
_HASH = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Anchor:
    """An event seen intact by an earlier verification: it must still be there, unchanged.

    `where` is empty for the verifications stored in the database, or names the anchor file and line."""

    event_id: int | None
    sequence: int
    hash: str
    checked_at: str = ""
    where: str = ""

    @property
    def seen(self) -> str:
        """How it was seen: `verified as sequence 42 at <time>`, or `anchored as ... (<file> line 7)`."""
        return f"{self._verb} as sequence {self.sequence} at {self.checked_at}{self._from}"

    @property
    def when(self) -> str:
        """When it was seen: `verified at <time>`, or `anchored at <time> (<file> line 7)`."""
        return f"{self._verb} at {self.checked_at}{self._from}"

    @property
    def _verb(self) -> str:
        return "anchored" if self.where else "verified"

    @property
    def _from(self) -> str:
        return f" ({self.where})" if self.where else ""


def head_record(result: Any, verification: Any) -> dict[str, Any]:
    """The anchor record of a verification (`audit.verify.ChainResult` and its stored AuditVerification)."""
    empty = result.ok and result.count == 0
    return {
        "anchor": FORMAT,
        "ok": result.ok,
        "sequence": 0 if empty else result.last_sequence,
        "hash": GENESIS if empty else result.last_hash,
        "event_id": result.last_id,
        "events": result.count,
        "checked_at": timestamp(verification.checked_at),
        "source": verification.source,
        "verification_id": verification.pk,
        "first_bad_id": result.first_bad_id,
        "problem": result.problem,
    }


def publish(record: dict[str, Any]) -> None:
    """Log the record (an intact head), and append it to AUDIT_ANCHOR_FILE and POST it to
    AUDIT_ANCHOR_WEBHOOK_URL when they are set. Never raises: a failure to anchor is logged as an error."""
    line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    if record["ok"]:
        logger.info("audit anchor %s", line)
    if settings.AUDIT_ANCHOR_FILE:
        try:
            append_line(settings.AUDIT_ANCHOR_FILE, line + "\n")
        except (OSError, FileRefused) as exc:
            logger.error(
                "audit anchor not appended to AUDIT_ANCHOR_FILE %s: %s", settings.AUDIT_ANCHOR_FILE, exc
            )
    if settings.AUDIT_ANCHOR_WEBHOOK_URL:
        _post(settings.AUDIT_ANCHOR_WEBHOOK_URL, line.encode())


def append_line(path: str | os.PathLike, line: str) -> None:
    """Append `line` to the regular file at `path` (created 0600 if missing) with O_APPEND, in one write
    where the system allows (so concurrent verifications never interleave lines), and flush it to disk."""
    # O_NONBLOCK: a FIFO without a reader fails at once instead of blocking; with one, fstat refuses it.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK, 0o600)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FileRefused("not a regular file")
        data = line.encode()
        while data:
            data = data[os.write(fd, data) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _post(url: str, body: bytes) -> None:
    request = urllib.request.Request(  # noqa: S310 - an operator-configured http(s) URL (checked in settings)
        url,
        data=body,
        headers={"Content-Type": "application/json", "User-Agent": "appconfig-console-audit-anchor"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:  # noqa: S310
            response.read(1024)
    except Exception as exc:
        # The URL is not logged: webhook URLs often carry their credential in the path.
        logger.error("audit anchor webhook failed: %s", exc)


def read_anchors(path: Path, *, max_bytes: int) -> list[Anchor]:
    """The intact heads an anchor file records, one per distinct (sequence, hash), in file order; empty
    chains and broken verifications are skipped. Raises FileRefused, OSError or ValueError (with the line
    number) on a file that is not a readable anchor file."""
    heads: dict[tuple[int, str], Anchor] = {}
    with open_regular_file(path, max_bytes=max_bytes) as stream:
        for number, line in enumerate(bounded_lines(stream, max_chars=LINE_MAX_CHARS), start=1):
            if not line.strip():
                continue
            anchor = _anchor(line, f"{path} line {number}")
            if anchor is not None:
                heads.setdefault((anchor.sequence, anchor.hash), anchor)
    return list(heads.values())


def _anchor(line: str, where: str) -> Anchor | None:
    try:
        record = json.loads(line)
    except ValueError:
        raise ValueError(f"{where}: not JSON") from None
    if not isinstance(record, dict) or record.get("anchor") != FORMAT:
        raise ValueError(f"{where}: not an audit anchor record")
    if record.get("ok") is not True or record.get("sequence") == 0:
        return None
    sequence, digest, event_id = record.get("sequence"), record.get("hash"), record.get("event_id")
    if (
        type(sequence) is not int
        or sequence < 0
        or not isinstance(digest, str)
        or not _HASH.fullmatch(digest)
    ):
        raise ValueError(f"{where}: an intact head needs a sequence and a hash")
    if event_id is not None and type(event_id) is not int:
        raise ValueError(f"{where}: event_id is not a number")
    return Anchor(event_id, sequence, digest, str(record.get("checked_at", "")), where)
