"""Reading sequence files for ``kato learn`` and ``kato evaluate`` (issue 11).

Two formats, told apart by the file name (``.csv`` is CSV, anything else JSON Lines):

- JSON Lines: one ``{"events": [[symbol, ...], ...], "emotives": [{name: value}, ...]?,
  "metadata": {...}?}`` a line — the sequence shape of ``POST /v2/nodes/{id}/learn-batch``.
  Blank lines are skipped.
- CSV with the header ``sequence_id,step,symbol``: the rows of one sequence are contiguous,
  steps are integers in ascending order, and rows sharing a step form one event (an event of
  several symbols).

Reading streams: one sequence is in memory at a time. Each event and emotive object is
validated as an observation would be (semantics §2.1); the first problem raises
:class:`SequenceFileError` with its line number, so a caller that reads the file once to
check it stores nothing from a file it refuses.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kato.core.errors import ObservationError
from kato.core.hashing import is_string_events
from kato.core.json_line import json_line
from kato.core.observation import Observation

CSV_HEADER = ["sequence_id", "step", "symbol"]
_JSONL_KEYS = frozenset({"events", "emotives", "metadata"})


class SequenceFileError(ValueError):
    """A line of a sequence file that cannot be read; ``str()`` is ``path:line: message``."""

    def __init__(self, path: Path, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.line = line


@dataclass(slots=True)
class Sequence:
    """One sequence as ``learn-batch`` takes it, with the line it starts on."""

    events: list[list[str]]
    line: int
    emotives: list[dict[str, float]] = field(default_factory=list)
    metadata: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``learn-batch`` item (keys without a value left out)."""
        item: dict[str, Any] = {"events": self.events}
        if self.emotives:
            item["emotives"] = self.emotives
        if self.metadata is not None:
            item["metadata"] = self.metadata
        return item


def is_csv(path: Path) -> bool:
    return path.suffix.lower() == ".csv"


def read_sequences(path: Path) -> Iterator[Sequence]:
    """The sequences of ``path`` in file order; raises ``SequenceFileError``."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            if is_csv(path):
                yield from _read_csv(path, handle)
            else:
                yield from _read_jsonl(path, handle)
    except UnicodeDecodeError as exc:
        raise SequenceFileError(path, 0, f"not UTF-8 text ({exc.reason})") from None


def _events(value: Any) -> list[list[str]]:
    if not isinstance(value, list):
        raise ValueError('"events" must be a list of events (lists of symbols)')
    # The common case, every event a list of strings, tested in one compiled call; the loop
    # below finds the first problem and words it.
    if is_string_events(value):
        return value
    for position, event in enumerate(value):
        # The rule of Observation.parse for strings (every symbol a str), checked inline:
        # this check runs for every event of every file, the parse's error path only here.
        if type(event) is not list:
            raise ValueError(f"events[{position}] must be a list of symbols")
        if not all(type(symbol) is str for symbol in event):
            try:
                Observation.parse(strings=event)
            except ObservationError as exc:
                raise ValueError(f"events[{position}]: {exc.message}") from None
    return value


def _emotives(value: Any) -> list[dict[str, float]]:
    if not isinstance(value, list):
        raise ValueError('"emotives" must be a list of objects of name to number')
    for position, item in enumerate(value):
        try:
            Observation.parse(emotives=item)
        except ObservationError as exc:
            raise ValueError(f"emotives[{position}]: {exc.message}") from None
    return value


def _read_jsonl(path: Path, handle: Any) -> Iterator[Sequence]:
    for number, text in enumerate(handle, start=1):
        if not text.strip():
            continue
        try:
            item = json_line(text)
        except json.JSONDecodeError as exc:
            raise SequenceFileError(path, number, f"not JSON: {exc.msg}") from None
        try:
            if not isinstance(item, dict):
                raise ValueError('a line must be an object {"events": [...]}')
            if not _JSONL_KEYS.issuperset(item):
                unknown = sorted(item.keys() - _JSONL_KEYS)
                raise ValueError(
                    f"unknown key(s) {', '.join(unknown)}; expected events, emotives, metadata"
                )
            if "events" not in item:
                raise ValueError('missing "events"')
            metadata = item.get("metadata")
            if metadata is not None and not isinstance(metadata, dict):
                raise ValueError('"metadata" must be an object')
            yield Sequence(
                events=_events(item["events"]),
                line=number,
                emotives=_emotives(item.get("emotives", [])),
                metadata=metadata,
            )
        except ValueError as exc:
            raise SequenceFileError(path, number, str(exc)) from None


def _read_csv(path: Path, handle: Any) -> Iterator[Sequence]:
    rows = csv.reader(handle)
    header = next(rows, None)
    if header is None or [name.strip() for name in header] != CSV_HEADER:
        raise SequenceFileError(path, 1, f"the header must be {','.join(CSV_HEADER)}")
    finished: set[str] = set()  # ids seen, so a sequence split in two is refused
    current: Sequence | None = None
    current_id = ""
    last_step = 0
    for row in rows:
        number = rows.line_num
        if not row:
            continue
        if len(row) != 3:
            raise SequenceFileError(path, number, f"expected 3 fields, got {len(row)}")
        sequence_id, step_text, symbol = row
        try:
            step = int(step_text)
        except ValueError:
            raise SequenceFileError(path, number, f"step {step_text!r} is not an integer") from None
        if current is None or sequence_id != current_id:
            if sequence_id in finished:
                raise SequenceFileError(
                    path, number, f"rows of sequence {sequence_id!r} are not contiguous"
                )
            if current is not None:
                yield current
            finished.add(sequence_id)
            current, current_id, last_step = (
                Sequence(events=[[symbol]], line=number),
                sequence_id,
                step,
            )
        elif step == last_step:
            current.events[-1].append(symbol)
        elif step > last_step:
            current.events.append([symbol])
            last_step = step
        else:
            raise SequenceFileError(
                path, number, f"step {step} comes after step {last_step} of {sequence_id!r}"
            )
    if current is not None:
        yield current
