"""The diff itself (deployments/diffs.py), without AppConfig: normalisation of JSON and YAML, text as it is,
binary and undecodable content, content that does not parse, and the feature-flag table."""

from __future__ import annotations

import json

import pytest

from deployments.diffs import (
    BINARY,
    FEATURE_FLAGS,
    PREVIEW_LINE_CHARS,
    FlagChange,
    compare,
    content_kind,
    flag_changes,
    normalise,
)


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        ("application/json", "json"),
        ("application/json; charset=utf-8", "json"),
        ("application/vnd.api+json", "json"),
        ("application/x-yaml", "yaml"),
        ("text/yaml", "yaml"),
        ("text/plain", "text"),
        ("application/octet-stream", "binary"),
        ("", "binary"),
    ],
)
def test_it_reads_the_kind_from_the_content_type(content_type, kind):
    assert content_kind(content_type) == kind


def test_it_normalises_json_and_yaml_to_sorted_keys():
    assert normalise(b'{"b":1,"a":{"d":[1,2],"c":null}}', "application/json").text == (
        '{\n  "a": {\n    "c": null,\n    "d": [\n      1,\n      2\n    ]\n  },\n  "b": 1\n}\n'
    )
    assert normalise(b"b: 1\na: {d: x, c: y}\n", "application/x-yaml").text == "a:\n  c: y\n  d: x\nb: 1\n"


def test_it_compares_what_does_not_parse_as_text_and_says_so():
    diff = compare(b'{"a": 1}', b'{"a": 1,', content_type="application/json")
    assert diff.kind == "text"
    assert any("not valid JSON" in note for note in diff.notes)
    assert [line.text for line in diff.lines if line.kind == "add"] == ['+{"a": 1,']


def test_it_does_not_decode_binary_or_non_utf8_content():
    assert compare(b"\x00", b"\x01", content_type="application/octet-stream").kind == BINARY
    assert compare(b"ok", b"\xff\xfe", content_type="text/plain").kind == BINARY


def test_it_shows_no_change_for_a_reformatted_document():
    diff = compare(b'{"a": 1, "b": 2}', b'{\n "b": 2,\n "a": 1\n}', content_type="application/json")
    assert diff.identical and diff.changed_lines == 0


def test_it_collapses_beyond_a_limit():
    before = json.dumps(list(range(100))).encode()
    after = json.dumps(list(range(1, 101))).encode()
    diff = compare(before, after, content_type="application/json")
    assert diff.is_collapsed(5) and len(diff.preview(5)) == 5
    assert not diff.is_collapsed(len(diff.lines))


def test_it_cuts_a_very_long_line_in_the_preview():
    diff = compare(b"", b"x" * 100_000, content_type="text/plain")
    (added,) = [line for line in diff.preview(50) if line.kind == "add"]
    assert len(added.text) == PREVIEW_LINE_CHARS + 1 and added.text.endswith("…")
    assert diff.is_collapsed(50) and len(diff.lines[-1].text) == 100_001


def test_it_tabulates_flags_only_for_feature_flag_profiles():
    before = {"flags": {"a": {"name": "a"}}, "values": {"a": {"enabled": True}}}
    after = {
        "flags": {"a": {"name": "a", "description": "now documented"}},
        "values": {"a": {"enabled": False}},
    }
    document = json.dumps(before).encode(), json.dumps(after).encode()

    assert compare(*document, content_type="application/json").flags is None
    flags = compare(*document, content_type="application/json", profile_type=FEATURE_FLAGS).flags
    assert flags == [FlagChange("a", "disabled", "enabled"), FlagChange("a", "definition")]


def test_it_lists_every_flag_of_a_first_deployment_as_added():
    after = {"flags": {"a": {}, "b": {}}, "values": {"a": {"enabled": True}, "b": {"enabled": False}}}
    assert flag_changes({}, after) == [
        FlagChange("a", "added", "enabled", "", "true"),
        FlagChange("b", "added", "enabled", "", "false"),
    ]


def test_it_gives_no_table_for_a_document_that_is_not_json():
    assert flag_changes(None, {"flags": {}}) is None
    diff = compare(b"not json", b"{}", content_type="application/json", profile_type=FEATURE_FLAGS)
    assert diff.flags is None
