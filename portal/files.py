"""Opening a file named on a command line, boundedly: a regular file only, read up to a size limit.

`manage.py verify_audit --export /dev/zero` used to read forever, and a FIFO or a directory hung or failed
with a traceback. `open_regular_file` refuses anything but a regular file before reading a byte (a FIFO is
opened without blocking, so it cannot stall the check), refuses one larger than `max_bytes`, and stops with
an error should the file grow past `max_bytes` while it is read. `bounded_lines` also bounds each line, so
a line-oriented reader never holds more than one bounded line in memory.

Used by every command that reads a file it is given: `verify_audit` (exports, manifests, anchors) and the
AWS CLI input layer (`file://` parameters of `stop_deployment`, `get_deployment`, `list_deployments`).
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from typing import IO

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


class FileRefused(ValueError):
    """A file that is not a regular file, or is too large, to be read."""


class _BoundedRaw(io.RawIOBase):
    """Reads a file descriptor up to `limit` bytes; a byte beyond it is an error, not a silent cut."""

    def __init__(self, fd: int, limit: int, name: str) -> None:
        self._file = io.FileIO(fd, "rb", closefd=True)
        self._left = limit
        self._limit = limit
        self.name = name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        view = memoryview(buffer)
        if self._left <= 0:
            if self._file.read(1):
                raise FileRefused(f"grew beyond {self._limit} bytes while being read")
            return 0
        count = self._file.readinto(view[: self._left]) or 0
        self._left -= count
        return count

    def close(self) -> None:
        self._file.close()
        super().close()


def open_regular_file(path: str | os.PathLike, *, max_bytes: int, text: bool = True) -> IO:
    """Open `path` for reading (UTF-8 text with untranslated newlines, or bytes) if it is a regular file of
    at most `max_bytes`. Raises FileRefused (not a regular file, too large) or OSError (cannot open)."""
    name = os.fspath(path)
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, before any check can run.
    fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        status = os.fstat(fd)  # of what was opened, not of the name, which may have been swapped since
        if not stat.S_ISREG(status.st_mode):
            raise FileRefused("not a regular file")
        if status.st_size > max_bytes:
            raise FileRefused(f"larger than {max_bytes} bytes ({status.st_size} bytes)")
        os.set_blocking(fd, True)
        raw = _BoundedRaw(fd, max_bytes, name)
    except BaseException:
        os.close(fd)
        raise
    buffered = io.BufferedReader(raw)
    if not text:
        return buffered
    return io.TextIOWrapper(buffered, encoding="utf-8", newline="")


def bounded_lines(stream: IO[str], *, max_chars: int) -> Iterator[str]:
    """The lines of a text stream, as iterating it would give them, refusing a line of more than
    `max_chars` characters instead of reading it whole."""
    number = 0
    while line := stream.readline(max_chars + 1):
        number += 1
        if len(line) > max_chars:
            raise FileRefused(f"line {number} is longer than {max_chars} characters")
        yield line
