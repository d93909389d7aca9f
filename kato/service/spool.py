"""A spool of values already validated, read back in the order written.

Bulk commands read their input once to check it and then act on it: ``kato learn`` (the
checked sequences of a file) and imports (the checked patterns of an export). Keeping what
the check produced, instead of reading the input again, means the second pass neither parses
nor validates again (marshal reads back an order of magnitude faster than JSON is parsed and
checked) and acts on exactly what was checked, even if the file changes meanwhile. Memory is
bounded: up to 8 MiB in memory, then a temporary file, plus one frame of values not yet
written. marshal is an in-process format here, never stored or exchanged.
"""

from __future__ import annotations

import marshal
import struct
import tempfile
from collections.abc import Iterator
from types import TracebackType
from typing import Any

MEMORY_LIMIT = 8 * 1024 * 1024
# Each value is written after its length: ``marshal.load`` on a file reads it a few bytes a
# call (a million reads for 20,000 short values), ``marshal.loads`` takes it whole.
_LENGTH = struct.Struct("<I")
# Values are written in frames of this many, each one marshalled list: a call to marshal and
# a write per value was a fifth of an import's validating pass (values of ~150 bytes). The
# frame being filled is held as objects: as many as an import's or a learn's chunk holds.
_FRAME = 1000


class Spool:
    """Values (of the types marshal writes: None, bools, numbers, strings, lists, tuples,
    dicts) appended, then read back from the start as often as needed."""

    def __init__(self) -> None:
        self._count = 0
        self._pending: list[Any] = []  # the frame being filled
        # Closed by close() or the with block that holds the spool.
        self._file = tempfile.SpooledTemporaryFile(max_size=MEMORY_LIMIT, mode="w+b")  # noqa: SIM115

    def append(self, value: Any) -> None:
        self._pending.append(value)
        self._count += 1
        if len(self._pending) == _FRAME:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            data = marshal.dumps(self._pending)
            self._file.seek(0, 2)  # after the last frame, wherever a read stopped
            self._file.write(_LENGTH.pack(len(data)) + data)
            self._pending = []

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Any]:
        self._flush()
        self._file.seek(0)
        read = self._file.read
        while header := read(_LENGTH.size):
            yield from marshal.loads(read(_LENGTH.unpack(header)[0]))

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
