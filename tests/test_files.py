"""portal.files: a file named on a command line is read only if it is a regular file, and only so far
(security review, issue 12, finding C)."""

from __future__ import annotations

import io
import os

import pytest

from portal.files import FileRefused, bounded_lines, open_regular_file


def test_it_reads_a_regular_file_within_the_bound(tmp_path):
    path = tmp_path / "export.jsonl"
    path.write_text("one\r\ntwo\n")
    with open_regular_file(path, max_bytes=9) as stream:
        assert stream.read() == "one\r\ntwo\n"  # newlines untranslated, as the CSV reader needs them
    with open_regular_file(path, max_bytes=9, text=False) as stream:
        assert stream.read() == b"one\r\ntwo\n"


@pytest.mark.parametrize("kind", ["device", "fifo", "directory"])
def test_it_refuses_what_is_not_a_regular_file_without_blocking(tmp_path, kind):
    path = {"device": "/dev/zero", "fifo": tmp_path / "fifo", "directory": tmp_path}[kind]
    if kind == "fifo":
        os.mkfifo(path)  # no writer: a blocking open would wait for ever
    with pytest.raises(FileRefused, match="not a regular file"):
        open_regular_file(path, max_bytes=1024)


def test_it_refuses_a_file_larger_than_the_bound(tmp_path):
    path = tmp_path / "big.csv"
    path.write_bytes(b"x" * 1025)
    with pytest.raises(FileRefused, match="larger than 1024 bytes"):
        open_regular_file(path, max_bytes=1024)


def test_it_stops_at_the_bound_when_the_file_grows_while_read(tmp_path):
    path = tmp_path / "growing.jsonl"
    path.write_bytes(b"x" * 1000)
    with open_regular_file(path, max_bytes=1024, text=False) as stream:
        with path.open("ab") as writer:
            writer.write(b"y" * 4096)
        with pytest.raises(FileRefused, match="grew beyond 1024 bytes"):
            stream.read()


def test_it_refuses_an_overlong_line_without_reading_it_whole():
    stream = io.StringIO("short\n" + "x" * 100 + "\nnever reached\n")
    lines = bounded_lines(stream, max_chars=50)
    assert next(lines) == "short\n"
    with pytest.raises(FileRefused, match="line 2 is longer than 50 characters"):
        next(lines)
    assert stream.tell() <= 6 + 51
