"""What a deployment changes: the diff between two hosted configuration versions' bytes. Pure functions, no
I/O: `deployments.configuration` stores the bytes, the views and the evidence pack call `compare`.

- JSON and YAML are normalised first (keys sorted, two-space indentation), so a re-ordered or re-indented
  document shows only what really changed; content that does not parse is compared as text, with a note.
- Plain text (`text/*`) is compared as it is.
- Anything else (binary, unknown content types) is not decoded: the page shows sizes and SHA-256 digests.
- Feature flags (AWS.AppConfig.FeatureFlags) also get a table of flags added, removed, enabled, disabled,
  and of attribute values or definitions changed.

Line diffs are difflib's unified diff (three lines of context), split into typed lines for the template.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any

import yaml

FEATURE_FLAGS = "AWS.AppConfig.FeatureFlags"
JSON, YAML, TEXT, BINARY = "json", "yaml", "text", "binary"
# Characters of one diff line shown on the deployment page (the full diff shows every line whole).
PREVIEW_LINE_CHARS = 400
_YAML_TYPES = {"application/x-yaml", "application/yaml", "text/yaml", "text/x-yaml"}


def media_type(content_type: str) -> str:
    """`application/json; charset=utf-8` -> `application/json`."""
    return content_type.split(";", 1)[0].strip().lower()


def content_kind(content_type: str) -> str:
    """JSON, YAML, TEXT or BINARY, from the content type AppConfig reports."""
    media = media_type(content_type)
    if media == "application/json" or media.endswith("+json"):
        return JSON
    if media in _YAML_TYPES or media.endswith("+yaml"):
        return YAML
    if media.startswith("text/"):
        return TEXT
    return BINARY


@dataclass(frozen=True)
class Normalised:
    kind: str
    text: str | None  # None: binary, or text that is not UTF-8
    note: str = ""


def normalise(data: bytes, content_type: str) -> Normalised:
    kind = content_kind(content_type)
    if kind == BINARY:
        return Normalised(BINARY, None)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Normalised(BINARY, None, "the content is not UTF-8 text")
    try:
        if kind == JSON:
            document = json.loads(text)
            return Normalised(JSON, json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        if kind == YAML:
            document = yaml.safe_load(text)
            dumped = yaml.safe_dump(document, sort_keys=True, default_flow_style=False, allow_unicode=True)
            return Normalised(YAML, dumped)
    except (ValueError, yaml.YAMLError, RecursionError):
        return Normalised(TEXT, text, f"not valid {kind.upper()}: compared as text")
    return Normalised(TEXT, text)


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "header", "hunk", "add", "remove", "context"
    text: str


@dataclass(frozen=True)
class FlagChange:
    flag: str
    change: str  # "added", "removed", "enabled", "disabled", "attribute", "definition"
    attribute: str = ""
    before: str = ""
    after: str = ""


@dataclass
class ConfigurationDiff:
    kind: str
    lines: list[DiffLine] = field(default_factory=list)
    flags: list[FlagChange] | None = None  # None: not a feature-flag profile (or flags that do not parse)
    notes: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return self.kind != BINARY and not self.lines

    @property
    def changed_lines(self) -> int:
        return sum(1 for line in self.lines if line.kind in ("add", "remove"))

    def preview(self, limit: int) -> list[DiffLine]:
        """The first `limit` lines, each cut at PREVIEW_LINE_CHARS: a page's share of the diff is bounded
        even for a one-line document of 2 MB."""
        return [
            line
            if len(line.text) <= PREVIEW_LINE_CHARS
            else DiffLine(line.kind, line.text[:PREVIEW_LINE_CHARS] + "…")
            for line in self.lines[:limit]
        ]

    def is_collapsed(self, limit: int) -> bool:
        """Whether `preview(limit)` leaves anything out."""
        return len(self.lines) > limit or any(
            len(line.text) > PREVIEW_LINE_CHARS for line in self.lines[:limit]
        )


def _diff_lines(before: str, after: str, before_name: str, after_name: str) -> list[DiffLine]:
    lines = []
    for text in difflib.unified_diff(
        before.splitlines(), after.splitlines(), before_name, after_name, lineterm=""
    ):
        if text.startswith(("---", "+++")) and len(lines) < 2:
            kind = "header"
        elif text.startswith("@@"):
            kind = "hunk"
        elif text.startswith("+"):
            kind = "add"
        elif text.startswith("-"):
            kind = "remove"
        else:
            kind = "context"
        lines.append(DiffLine(kind, text))
    return lines


def compare(
    before: bytes | None,
    after: bytes,
    *,
    content_type: str,
    before_content_type: str = "",
    profile_type: str = "",
    before_name: str = "before",
    after_name: str = "after",
) -> ConfigurationDiff:
    """The diff from `before` (None: nothing before, a first deployment) to `after`."""
    new = normalise(after, content_type)
    old = normalise(before, before_content_type or content_type) if before is not None else None
    notes = [f"{after_name}: {new.note}"] if new.note else []
    if old is not None and old.note:
        notes.append(f"{before_name}: {old.note}")
    if new.text is None or (old is not None and old.text is None):
        return ConfigurationDiff(BINARY, notes=notes)
    kind = new.kind if old is None or old.kind == new.kind else TEXT
    diff = ConfigurationDiff(
        kind, _diff_lines(old.text if old else "", new.text, before_name, after_name), notes=notes
    )
    if profile_type == FEATURE_FLAGS:
        diff.flags = flag_changes(_document(before), _document(after))
    return diff


def _document(data: bytes | None) -> dict | None:
    if data is None:
        return {}
    try:
        document = json.loads(data)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _mapping(document: dict, name: str) -> dict:
    value = document.get(name)
    return value if isinstance(value, dict) else {}


def _shown(value: Any) -> str:
    return "—" if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


def flag_changes(before: dict | None, after: dict | None) -> list[FlagChange] | None:
    """Flags added, removed, enabled or disabled, their attribute values and definitions changed, in flag
    order; None when either document is not a feature-flag document."""
    if before is None or after is None:
        return None
    old_flags, new_flags = _mapping(before, "flags"), _mapping(after, "flags")
    old_values, new_values = _mapping(before, "values"), _mapping(after, "values")
    changes = []
    for flag in sorted(set(old_flags) | set(new_flags)):
        old = old_values.get(flag) if isinstance(old_values.get(flag), dict) else {}
        new = new_values.get(flag) if isinstance(new_values.get(flag), dict) else {}
        if flag not in old_flags:
            changes.append(FlagChange(flag, "added", "enabled", "", _shown(new.get("enabled", False))))
            continue
        if flag not in new_flags:
            changes.append(FlagChange(flag, "removed", "enabled", _shown(old.get("enabled", False)), ""))
            continue
        if bool(old.get("enabled")) != bool(new.get("enabled")):
            changes.append(FlagChange(flag, "enabled" if new.get("enabled") else "disabled", "enabled"))
        for attribute in sorted((set(old) | set(new)) - {"enabled"}):
            if old.get(attribute) != new.get(attribute):
                changes.append(
                    FlagChange(
                        flag, "attribute", attribute, _shown(old.get(attribute)), _shown(new.get(attribute))
                    )
                )
        if old_flags[flag] != new_flags[flag]:
            changes.append(FlagChange(flag, "definition"))
    return changes
