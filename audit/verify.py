"""Verification of the hash chain: the whole table (`verify_chain`, the command and the beat task) and an
exported segment offline (`verify_segment`).

A problem is reported at the first bad event's id, with why:
- "changed": the event's content no longer matches its hash, or its link to its predecessor is broken
  (one of the two was rewritten with a recomputed hash);
- "missing": the sequence jumps (events were removed), or events verified or anchored earlier are gone
  (the chain ends before an anchored head, or is empty although an earlier verification saw events);
- "reordered": events are out of sequence order, or an event links to another event than its predecessor.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from audit import anchors as anchoring
from audit import signing
from audit.anchors import Anchor
from audit.chain import GENESIS, HASHED_FIELDS, hash_of_row, timestamp
from audit.exports import MANIFEST_FORMAT
from audit.models import AuditEvent, AuditVerification, Source

CHUNK = 5000
_OCCURRED_AT = HASHED_FIELDS.index("occurred_at")
_SEQUENCE = HASHED_FIELDS.index("sequence")


@dataclass(frozen=True)
class ChainResult:
    ok: bool
    count: int
    last_id: int | None = None
    last_sequence: int | None = None
    last_hash: str = ""
    first_bad_id: int | None = None
    problem: str = ""

    def __str__(self) -> str:
        if self.ok:
            return f"audit chain intact: {self.count} events, last id {self.last_id}"
        if self.first_bad_id is None:  # nothing left to point at: an emptied chain
            return f"audit chain broken: {self.problem}"
        return f"audit chain broken at event {self.first_bad_id}: {self.problem}"


def _broken(event_id: int | None, problem: str, count: int) -> ChainResult:
    return ChainResult(ok=False, count=count, first_bad_id=event_id, problem=problem)


def _link_problem(event_id: int, prev_hash: str, prev_id: int | None) -> str:
    elsewhere = (
        AuditEvent.objects.filter(hash=prev_hash).exclude(id=event_id).values_list("id", flat=True).first()
    )
    if elsewhere is not None:
        return f"reordered: it links to event {elsewhere}, not to its predecessor {prev_id}"
    return f"changed: its link does not match the hash of event {prev_id} (one of the two was rewritten)"


def _sqlite_timestamp(stored: str) -> str:
    # Django stores an aware datetime in SQLite as the text of its naive UTC value, `str(datetime)`:
    # "2026-11-02 09:00:00.123456", without the fraction when it is zero.
    return f"{stored[:10]}T{stored[11:19]}.{stored[20:26] or '000000'}Z"


def _chain_rows(chunk_size: int) -> Iterator[tuple]:
    """(id, prev_hash, hash, *HASHED_FIELDS) of every event in id order, occurred_at already canonical text,
    through a server-side cursor on PostgreSQL: plain tuples, no model instances, no per-value converters."""
    columns = {
        # The database formats the timestamp itself.
        "postgresql": "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
        # Read as text: SQLite's declared-type converter would parse it into a datetime first.
        "sqlite": "CAST(occurred_at AS TEXT)",
    }
    if connection.vendor not in columns:
        for event_id, prev_hash, stored_hash, *values in (
            AuditEvent.objects.order_by("id")
            .values_list("id", "prev_hash", "hash", *HASHED_FIELDS)
            .iterator(chunk_size=chunk_size)
        ):
            values[_OCCURRED_AT] = timestamp(values[_OCCURRED_AT])
            yield (event_id, prev_hash, stored_hash, *values)
        return
    selected = ", ".join(
        columns[connection.vendor] if name == "occurred_at" else name for name in HASHED_FIELDS
    )
    sqlite = connection.vendor == "sqlite"
    with connection.chunked_cursor() as cursor:
        cursor.execute(f"SELECT id, prev_hash, hash, {selected} FROM audit_auditevent ORDER BY id")  # noqa: S608
        while rows := cursor.fetchmany(chunk_size):
            if sqlite:
                for row in rows:
                    values = list(row)
                    values[3 + _OCCURRED_AT] = _sqlite_timestamp(values[3 + _OCCURRED_AT])
                    yield values
            else:
                yield from rows


def _unlike_anchors(anchors: list[Anchor], stored_hash: str) -> str:
    for anchor in anchors:
        if anchor.hash != stored_hash:
            return f"changed: it is not the event {anchor.seen}; the chain was rewritten from here or earlier"
    return ""


def verify_chain(*, anchors: Iterable[Anchor] = (), chunk_size: int = CHUNK) -> ChainResult:
    """Walk every event in id order, in chunks of plain tuples, recomputing each hash and checking sequence
    and link, and that each anchored head is still there, unchanged. Stops at the first problem."""
    anchored: dict[int, list[Anchor]] = {}
    for anchor in anchors:
        if anchor.sequence > 0:
            anchored.setdefault(anchor.sequence, []).append(anchor)
    expected_sequence, expected_prev, prev_id = 1, GENESIS, None
    count = 0
    for row in _chain_rows(chunk_size):
        event_id, prev_hash, stored_hash = row[0], row[1], row[2]
        values = row[3:]
        sequence = values[_SEQUENCE]
        if hash_of_row(prev_hash, values) != stored_hash:
            return _broken(event_id, "changed: its content does not match its hash", count)
        if sequence != expected_sequence:
            if sequence < expected_sequence:
                return _broken(
                    event_id,
                    f"reordered: sequence {sequence} comes after sequence {expected_sequence - 1}",
                    count,
                )
            moved = AuditEvent.objects.filter(sequence=expected_sequence).values_list("id", flat=True).first()
            if moved is not None:
                return _broken(
                    event_id,
                    f"reordered: sequence {sequence} where {expected_sequence} was expected "
                    f"(sequence {expected_sequence} is stored later, as event {moved})",
                    count,
                )
            gap = (
                f"sequence {expected_sequence}"
                if sequence == expected_sequence + 1
                else f"sequences {expected_sequence}-{sequence - 1}"
            )
            return _broken(event_id, f"missing: the event(s) with {gap} before this one are gone", count)
        if prev_hash != expected_prev:
            return _broken(event_id, _link_problem(event_id, prev_hash, prev_id), count)
        if anchored and sequence in anchored:
            problem = _unlike_anchors(anchored[sequence], stored_hash)
            if problem:
                return _broken(event_id, problem, count)
        count += 1
        expected_sequence, expected_prev, prev_id = sequence + 1, stored_hash, event_id
    if anchored and max(anchored) >= expected_sequence:
        anchor = anchored[max(anchored)][0]
        end = f"ends at sequence {expected_sequence - 1}" if count else "is empty"
        return _broken(
            anchor.event_id,
            f"missing: the chain {end}, but sequence {anchor.sequence} was {anchor.when}",
            count,
        )
    return ChainResult(
        ok=True,
        count=count,
        last_id=prev_id,
        last_sequence=expected_sequence - 1 if count else None,
        last_hash=expected_prev if count else "",
    )


def latest_anchor() -> Anchor | None:
    verification = (
        AuditVerification.objects.filter(ok=True, last_sequence__isnull=False)
        .order_by("-checked_at", "-id")
        .first()
    )
    if verification is None:
        return None
    return Anchor(
        event_id=verification.last_event_id,
        sequence=verification.last_sequence,
        hash=verification.last_hash,
        checked_at=timestamp(verification.checked_at),
    )


def _emptied(result: ChainResult) -> ChainResult:
    """An empty chain is intact only if no earlier verification saw an event: not even a broken one, which
    the latest intact verification (the anchor from the database) does not cover."""
    if not result.ok or result.count:
        return result
    saw = (
        AuditVerification.objects.filter(Q(event_count__gt=0) | Q(first_bad_id__isnull=False))
        .order_by("-checked_at", "-id")
        .first()
    )
    if saw is None:
        return result
    seen = saw.event_count + (0 if saw.ok else 1)
    return _broken(
        None,
        f"missing: the chain is empty, but the verification at {timestamp(saw.checked_at)} saw "
        f"{'at least ' if not saw.ok else ''}{seen} event{'s' if seen != 1 else ''}",
        0,
    )


def chain_verify(
    *, source: str = Source.COMMAND, anchors: Iterable[Anchor] = ()
) -> tuple[ChainResult, AuditVerification]:
    """Verify the whole chain and anchor its head.

    1. Walk the chain against the given `anchors` (an anchor file's heads) and the last intact
       verification: each anchored event must still be there, unchanged, and the chain must reach them.
    2. An empty chain fails if any earlier verification saw an event.
    3. Store the result (the review page shows it; the next run anchors on it).
    4. Publish the head outside the database (`audit.anchors`: the log, AUDIT_ANCHOR_FILE, the webhook).
    """
    started = time.perf_counter()
    stored = latest_anchor()
    result = _emptied(verify_chain(anchors=[*anchors, *([stored] if stored else [])]))
    verification = AuditVerification.objects.create(
        checked_at=timezone.now(),
        ok=result.ok,
        event_count=result.count,
        last_event_id=result.last_id if result.ok else result.first_bad_id,
        last_sequence=result.last_sequence,
        last_hash=result.last_hash,
        first_bad_id=result.first_bad_id,
        problem=result.problem,
        source=source,
        duration_ms=min(int((time.perf_counter() - started) * 1000), 2**31 - 1),
    )
    anchoring.publish(anchoring.head_record(result, verification))
    return result, verification


# ---------------------------------------------------------------------------------------------------------
# Exported segments, offline


@dataclass(frozen=True)
class SegmentResult:
    ok: bool
    count: int
    first_bad_id: int | None = None
    problem: str = ""

    def __str__(self) -> str:
        if self.ok:
            return f"audit export intact: {self.count} events"
        where = f"event {self.first_bad_id}" if self.first_bad_id is not None else "the manifest"
        return f"audit export broken at {where}: {self.problem}"


def verify_segment(
    rows: Iterable[dict[str, Any]], manifest: dict[str, Any] | Callable[[], dict | None] | None = None
) -> SegmentResult:
    """Check an exported segment: every row's hash from its own fields and prev_hash; ids and sequences
    increasing; adjacent events (consecutive sequences) linked; the manifest there and its signature valid
    (`audit.signing`); with a contiguous manifest, no sequence missing; and the manifest's count, first and
    last event and digest. `rows` are dicts of EXPORT_FIELDS. `manifest` may be a callable, asked once the
    rows are read (a JSON Lines export's last line)."""
    digest = hashlib.sha256()
    count, previous, first, gap = 0, None, None, None
    for row in rows:
        event_id = row["id"]
        values = tuple(row[name] for name in HASHED_FIELDS)
        if hash_of_row(row["prev_hash"], values) != row["hash"]:
            return SegmentResult(False, count, event_id, "changed: its content does not match its hash")
        if previous is None:
            first = row
            if row["sequence"] == 1 and row["prev_hash"] != GENESIS:
                return SegmentResult(
                    False, count, event_id, "changed: the first event does not start the chain"
                )
        else:
            if row["id"] <= previous["id"] or row["sequence"] <= previous["sequence"]:
                return SegmentResult(
                    False, count, event_id, f"reordered: it comes after event {previous['id']} in the export"
                )
            adjacent = row["sequence"] == previous["sequence"] + 1
            if adjacent and row["prev_hash"] != previous["hash"]:
                return SegmentResult(
                    False,
                    count,
                    event_id,
                    f"changed: its link does not match the hash of event {previous['id']}",
                )
            if not adjacent and gap is None:
                gap = (count, event_id, previous["sequence"] + 1)
        digest.update(row["hash"].encode())
        count += 1
        previous = row
    if callable(manifest):
        manifest = manifest()
    if manifest is None:
        # Without it nothing shows the export is whole (rows cut from its end leave no trace in the rest),
        # nor that it came from this console: an empty file would be "intact".
        return SegmentResult(
            False,
            count,
            None,
            "there is none, so nothing shows the export is whole or that it came from this console",
        )
    problem = signing.signature_problem(manifest)
    if problem:
        return SegmentResult(False, count, None, problem)
    if manifest.get("format") != MANIFEST_FORMAT:
        return SegmentResult(False, count, None, f"it is of an unknown format {manifest.get('format')!r}")
    if manifest.get("contiguous") and gap is not None:
        at, event_id, sequence = gap
        return SegmentResult(
            False, at, event_id, f"missing: sequence {sequence} is not in this contiguous export"
        )
    expected = {
        "count": count,
        "first_id": first["id"] if first else None,
        "first_hash": first["hash"] if first else None,
        "last_id": previous["id"] if previous else None,
        "last_hash": previous["hash"] if previous else None,
        "digest": digest.hexdigest(),
    }
    for key, value in expected.items():
        if manifest.get(key) != value:
            why = "missing" if key in ("count", "last_id", "first_id") else "changed"
            return SegmentResult(
                False,
                count,
                None,
                f"{why}: the manifest's {key} is {manifest.get(key)!r}, the export's {value!r}",
            )
    return SegmentResult(True, count)
