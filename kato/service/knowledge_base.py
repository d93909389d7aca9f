"""A node's knowledge base as data (issue 11): browse, edit, export, import, learn in bulk and
predict in batches.

These synchronous functions are the API for the HTTP routes (``kato/api/routes_nodes.py``,
which run them in worker threads) **and for the command line** (``kato learn / export /
import / evaluate`` on the embedded store): both call exactly these, so a knowledge base
learned or imported through either is the same. They take an engine ``Node`` (its knowledge
base is any adapter of the ``KnowledgeBase`` port) and raise typed ``KatoError``s that the API
maps to the error envelope; validation always happens before anything is stored.

Export format (JSON Lines, ``application/x-ndjson``), one JSON object a line:

1. header ``{"format": "kato-kb", "version": 1, "node_id", "revision", "pattern_count",
   "symbol_count", "totals": {"pattern_frequencies", "symbol_frequencies",
   "symbols_in_patterns"}}``;
2. one pattern a line, by name: ``{"name": "PTRN|…", "events", "frequency", "emotives",
   "metadata"}``;
3. one symbol a line, by name: ``{"symbol", "frequency", "pattern_member_frequency"}`` — the
   statistics of §1.9, which updates and deletes do not change (§5), so a restore is exact.
"""

from __future__ import annotations

import base64
import binascii
import json
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Literal

from kato.core.emotives import average_emotives, without_zeros
from kato.core.errors import KatoError, PatternNotFoundError, ValidationError
from kato.core.genes import Genes
from kato.core.hashing import (
    PATTERN_PREFIX,
    checked_events,
    list_events,
    pattern_hash,
    string_events,
)
from kato.core.json_line import json_line
from kato.core.observation import Observation, event_of
from kato.engine.node import Node
from kato.engine.ports import (
    Events,
    LearnItem,
    Metadata,
    PatternOrder,
    PatternRecord,
    SymbolStats,
    Totals,
    metadata_lists,
)
from kato.engine.records import (
    check_metadata,
    check_update,
    derived_statistics,
    metadata_values,
)
from kato.engine.session_state import SessionState
from kato.service.spool import Spool

FORMAT = "kato-kb"
FORMAT_VERSION = 1
MAX_PAGE = 1000
# A filtered page reads at most this many patterns before it answers (possibly with fewer
# than ``limit`` items, and a cursor to go on): a filter matching nothing never makes one
# request scan a whole large knowledge base.
SCAN_BUDGET = 100_000
_IMPORT_CHUNK = 1000  # patterns per learn_many transaction of a merge import
MAX_WINDOW = 100  # the persistence gene's upper bound: the longest window an edit may store
ImportMode = Literal["merge", "replace"]


class NodeNotFoundError(KatoError):
    code = "KATO_NODE_NOT_FOUND"
    status_code = 404

    def __init__(self, node_id: str) -> None:
        super().__init__(f"Node {node_id!r} not found", node_id=node_id)


class SymbolNotFoundError(KatoError):
    code = "KATO_SYMBOL_NOT_FOUND"
    status_code = 404

    def __init__(self, symbol: str) -> None:
        super().__init__(f"Symbol {symbol!r} not found", symbol=symbol)


class CursorNotFoundError(KatoError):
    """A cursor that names no position of this listing (not a cursor, or another listing's)."""

    code = "KATO_CURSOR_NOT_FOUND"
    status_code = 404

    def __init__(self, order: str) -> None:
        super().__init__(
            f"cursor is not a cursor of this listing (sort={order}); start again without it",
            field="cursor",
        )


class ImportLineError(ValidationError):
    """A bad import line: nothing was changed. ``line`` is 1-based (the header is line 1)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}", line=line)


# -- summaries ------------------------------------------------------------------------------


def totals_dict(totals: Totals) -> dict[str, int]:
    return {
        "pattern_frequencies": totals.pattern_frequencies,
        "symbol_frequencies": totals.symbol_frequencies,
        "symbols_in_patterns": totals.symbols_in_patterns,
    }


def node_summary(node: Node, storage: str) -> dict[str, Any]:
    """``GET /v2/nodes/{id}``: counts, the totals of §1.10, revision, storage backend."""
    kb = node.knowledge_base
    return {
        "node_id": node.node_id,
        "pattern_count": kb.pattern_count(),
        "symbol_count": kb.symbol_count(),
        "totals": totals_dict(kb.totals()),
        "revision": kb.revision(),
        "storage": storage,
    }


# -- browsing -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PatternFilter:
    symbol: str | None = None
    min_frequency: int = 0
    min_length: int = 0
    max_length: int | None = None

    def admits(self, record: PatternRecord) -> bool:
        length = record.length
        if length < self.min_length or (self.max_length is not None and length > self.max_length):
            return False
        return self.symbol is None or any(self.symbol in event for event in record.events)


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Any]
    next_cursor: str | None


def _encode_cursor(kind: str, order: PatternOrder, key: tuple[int, str]) -> str:
    text = json.dumps([kind, order, key[0], key[1]], separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None, kind: str, order: PatternOrder) -> tuple[int, str] | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded_kind, decoded_order, frequency, name = json.loads(raw)
        valid = (decoded_kind, decoded_order) == (kind, order)
        if valid and isinstance(frequency, int) and isinstance(name, str):
            return frequency, name
    except (ValueError, TypeError, binascii.Error):
        pass
    raise CursorNotFoundError(order)


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit must be between 1 and {MAX_PAGE}", field="limit")


def browse_patterns(
    node: Node,
    limit: int = 100,
    cursor: str | None = None,
    sort: PatternOrder = "name",
    where: PatternFilter = PatternFilter(),
) -> Page:
    """One page of pattern records (``PatternRecord``), by name or by frequency descending.
    ``next_cursor`` is None on the last page; a filtered page may hold fewer than ``limit``
    items (see ``SCAN_BUDGET``) and still have a next page."""
    _check_limit(limit)
    after = _decode_cursor(cursor, "patterns", sort)
    records = node.knowledge_base.iter_patterns(sort, after, where.min_frequency)
    items: list[PatternRecord] = []
    last: PatternRecord | None = None
    for scanned, record in enumerate(records, start=1):
        last = record
        if where.admits(record):
            items.append(record)
            if len(items) == limit:
                break
        if scanned >= SCAN_BUDGET:
            break
    else:
        return Page(items, None)  # the store ran out
    assert last is not None
    return Page(items, _encode_cursor("patterns", sort, (last.frequency, last.name)))


def browse_symbols(
    node: Node, limit: int = 100, cursor: str | None = None, sort: PatternOrder = "name"
) -> Page:
    """One page of symbol statistics (``SymbolStats``), by name or frequency descending."""
    _check_limit(limit)
    after = _decode_cursor(cursor, "symbols", sort)
    items = list(islice(node.knowledge_base.iter_symbols(sort, after), limit + 1))
    if len(items) <= limit:
        return Page(items, None)
    last = items[limit - 1]
    return Page(items[:limit], _encode_cursor("symbols", sort, (last.frequency, last.name)))


def symbol_dict(stats: SymbolStats) -> dict[str, Any]:
    return {
        "name": stats.name,
        "frequency": stats.frequency,
        "pattern_member_frequency": stats.pattern_member_frequency,
    }


def get_symbol(node: Node, symbol: str) -> SymbolStats:
    stats = node.knowledge_base.get_symbol(symbol)
    if stats is None:
        raise SymbolNotFoundError(symbol)
    return stats


def symbol_statistics(node: Node, page: Page) -> dict[str, Any]:
    """3.x ``GET /symbols/stats``: a page of symbol statistics with each symbol's
    probability ``pattern_member_frequency / T_sip`` (§4.11) and the node's totals."""
    kb = node.knowledge_base
    totals = kb.totals()
    in_patterns = totals.symbols_in_patterns
    return {
        "node_id": node.node_id,
        "total_symbols": kb.symbol_count(),
        "totals": totals_dict(totals),
        "symbols": [
            {
                **symbol_dict(stats),
                "probability": (
                    stats.pattern_member_frequency / in_patterns if in_patterns else 0.0
                ),
            }
            for stats in page.items
        ],
        "next_cursor": page.next_cursor,
    }


def symbol_affinities(node: Node, page: Page) -> dict[str, Any]:
    """3.x ``GET /symbols/affinity``: a page of symbols with their affinity per emotive."""
    return {
        "node_id": node.node_id,
        "symbols": [
            {"name": stats.name, "affinity": node.symbol_affinities(stats.name)}
            for stats in page.items
        ],
        "next_cursor": page.next_cursor,
    }


def symbol_affinity(node: Node, symbol: str) -> dict[str, Any]:
    """3.x ``GET /symbols/{symbol}/affinity``; a symbol without statistics is a 404."""
    get_symbol(node, symbol)
    return {"node_id": node.node_id, "symbol": symbol, "affinity": node.symbol_affinities(symbol)}


# -- editing --------------------------------------------------------------------------------


def get_pattern(node: Node, name: str) -> PatternRecord:
    return node.get_pattern(name)


def patch_pattern(
    node: Node,
    name: str,
    persistence: int,
    frequency: int | None = None,
    emotives: Sequence[Mapping[str, float]] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> PatternRecord:
    """Change what is given (frequency, emotive window, metadata ``{key: [str, ...]}``),
    validated as the engine's update is (§5: frequency ≥ 0, window ≤ ``persistence``);
    symbol statistics and totals do not change."""
    current = node.get_pattern(name)
    window = check_update(
        current.frequency if frequency is None else frequency,
        current.emotives if emotives is None else emotives,
        persistence,
    )
    checked = None if metadata is None else check_metadata(metadata)
    record = node.knowledge_base.update_pattern(
        current.name, current.frequency if frequency is None else frequency, window, checked
    )
    if record is None:  # deleted meanwhile
        raise PatternNotFoundError(name)
    return record


def delete_pattern(node: Node, name: str) -> None:
    node.delete_pattern(name)


# -- bulk learning ----------------------------------------------------------------------------


@dataclass(slots=True)  # not frozen: see LearnItem (one is built per learned sequence)
class BatchSequence:
    """One sequence of a learn-batch, treated as immutable: its observations (validated), in
    order, and metadata.

    ``symbol_events``, when given, are the sequence's events as lists of strings (the checked
    items of a sequence file) and ``observations`` hold only its emotive objects: learning
    reads the lists directly, where building an observation per event was a fifth of the
    command's learning pass.
    """

    observations: tuple[Observation, ...]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    symbol_events: Sequence[Sequence[str]] | None = None


def learn_item(sequence: BatchSequence, genes: Genes) -> LearnItem | None:
    """What observing the sequence into an empty STM and then learning stores (§2, §3.1):
    each observation's event (sorted when the ``sort`` gene is on; empty ones leave the STM
    unchanged), the zero-filtered average of the emotives observed; None when the STM would
    hold fewer than 2 symbols (§3.2). Auto-learning does not apply: one sequence, one pattern."""
    sort = genes.sort
    observations = sequence.observations
    if sequence.symbol_events is None:
        identity = string_events(observations, sort)  # None when a vector was observed
    else:
        identity = list_events(sequence.symbol_events, sort)
    if identity is None:
        events: Events = tuple([tuple(event_of(o, sort)) for o in observations if not o.is_empty])
        identity = events, pattern_hash(events)
    events, name = identity
    # Every event holds at least one symbol, so fewer than 2 means one event of one symbol.
    if not events or (len(events) == 1 and len(events[0]) == 1):
        return None
    emotives = [o.emotives for o in observations if o.emotives]
    averaged = average_emotives(emotives) if emotives else None
    window = (without_zeros(averaged),) if averaged else ()
    metadata = metadata_values(sequence.metadata) if sequence.metadata else {}
    return LearnItem(name, events, window, metadata)


def learn_batch(node: Node, sequences: Sequence[BatchSequence], genes: Genes) -> list[str]:
    """Learn every sequence as observe-then-learn would, in order, in one storage transaction
    (SQLite, memory). Answers each sequence's ``PTRN|`` name, ``""`` for one not learned."""
    items = [learn_item(sequence, genes) for sequence in sequences]
    node.learn_many([item for item in items if item], genes.persistence)
    return ["" if item is None else PATTERN_PREFIX + item.name for item in items]


# -- batch prediction -------------------------------------------------------------------------


def predict_many(
    node: Node, contexts: Sequence[Sequence[Observation]], genes: Genes
) -> list[list[dict[str, Any]]]:
    """For each context (observations, in order), the predictions a fresh session with those
    observations in its STM gives (no session is created; the node's cache is shared)."""
    results: list[list[dict[str, Any]]] = []
    for context in contexts:
        state = SessionState()
        state.stm = [
            event_of(observation, genes.sort) for observation in context if not observation.is_empty
        ]
        results.append(node.predictions(state, genes))
    return results


# -- export -----------------------------------------------------------------------------------


_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode  # one, reused


def _line(value: Any) -> str:
    return _encode(value) + "\n"


def pattern_line(record: PatternRecord) -> dict[str, Any]:
    return {
        "name": PATTERN_PREFIX + record.name,
        "events": [list(event) for event in record.events],
        "frequency": record.frequency,
        "emotives": [dict(entry) for entry in record.emotives],
        "metadata": metadata_lists(record.metadata),
    }


def export_lines(node: Node) -> Iterator[str]:
    """The knowledge base as JSON Lines (see the module docstring), read in chunks. A write
    during the export may or may not be in it; export a node nobody writes to for a copy."""
    kb = node.knowledge_base
    yield _line(
        {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "node_id": node.node_id,
            "revision": kb.revision(),
            "pattern_count": kb.pattern_count(),
            "symbol_count": kb.symbol_count(),
            "totals": totals_dict(kb.totals()),
        }
    )
    for record in kb.iter_patterns("name"):
        yield _line(pattern_line(record))
    for stats in kb.iter_symbols("name"):
        yield _line({"symbol": stats.name, **_without_name(symbol_dict(stats))})


def _without_name(stats: dict[str, Any]) -> dict[str, Any]:
    stats.pop("name")
    return stats


# -- import -----------------------------------------------------------------------------------


@dataclass
class _Checked:
    """What the validating pass learned about an import file."""

    patterns: int = 0
    header_seen: bool = False
    revision: int = 0  # the header's: a replace keeps it when it can
    header_totals: Totals | None = None
    symbols: dict[str, tuple[int, int]] | None = None  # from the file's symbol lines
    prefixes: array = field(default_factory=lambda: array("Q"))


def import_lines(
    node: Node,
    lines: Iterable[bytes | str],
    mode: ImportMode,
    persistence: int,
    max_symbol_length: int,
) -> int:
    """Import a JSON Lines export into ``node``; answers the number of pattern lines.

    Every line is validated first, the validated patterns spooled (``kato.service.spool``:
    bounded memory); the first bad line raises
    ``ImportLineError`` with its number and nothing is changed, in either mode. Then
    ``replace`` swaps the whole knowledge base (patterns, the file's symbol statistics and
    header totals when it has symbol lines, else those derived as learning each pattern
    ``frequency`` times gives); ``merge`` learns each pattern as that many learns would
    (frequency added, emotive window appended, metadata unioned)."""
    with Spool() as spool:
        checked = _validate(lines, spool, mode, max_symbol_length)
        if not checked.header_seen:
            return 0  # an empty body imports nothing (and replaces nothing)
        if mode == "replace":
            _reject_duplicates(checked, spool)
        if mode == "merge":
            _merge(node, _records(spool), persistence)
        else:
            _replace(node, spool, checked)
    return checked.patterns


def _validate(
    lines: Iterable[bytes | str], spool: Spool, mode: ImportMode, max_symbol_length: int
) -> _Checked:
    checked = _Checked()
    number = 0
    symbols: dict[str, tuple[int, int]] = {}
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            raise ImportLineError(number, "empty line")
        try:
            value = json_line(raw)
        except (ValueError, UnicodeDecodeError) as error:
            raise ImportLineError(number, f"not JSON ({error})") from None
        if not isinstance(value, dict):
            raise ImportLineError(number, "not a JSON object")
        if number == 1:
            checked.header_totals = _check_header(value)
            checked.header_seen = True
            checked.revision = value.get("revision", 0)
        elif "symbol" in value:
            name, stats = _check_symbol_line(number, value)
            if name in symbols:
                raise ImportLineError(number, f"symbol {name!r} appears twice")
            symbols[name] = stats
        else:
            if symbols:
                raise ImportLineError(number, "pattern line after the symbol lines")
            pattern = _check_pattern_line(number, value, max_symbol_length)
            checked.patterns += 1
            if mode == "replace":
                checked.prefixes.append(int(pattern[0][:16], 16))
            spool.append((number, *pattern))
    checked.symbols = symbols or None
    return checked


def _spooled(spool: Spool) -> Iterator[tuple[int, PatternRecord]]:
    """The validated records, each with its line number, from the start of the spool."""
    for number, name, events, frequency, emotives, metadata in spool:
        yield number, PatternRecord(name, events, frequency, emotives, metadata)


def _records(spool: Spool) -> Iterator[PatternRecord]:
    return (record for _, record in _spooled(spool))


def _check_header(value: dict[str, Any]) -> Totals | None:
    if value.get("format") != FORMAT or value.get("version") != FORMAT_VERSION:
        raise ImportLineError(
            1, f'header must be {{"format": "{FORMAT}", "version": {FORMAT_VERSION}, ...}}'
        )
    if not _count(value.get("revision", 0)):
        raise ImportLineError(1, "header revision must be an integer ≥ 0")
    totals = value.get("totals")
    if totals is None:
        return None
    fields = ("pattern_frequencies", "symbol_frequencies", "symbols_in_patterns")
    if not isinstance(totals, dict) or not all(_count(totals.get(name)) for name in fields):
        raise ImportLineError(1, f"header totals must hold integers ≥ 0: {', '.join(fields)}")
    return Totals(*(totals[name] for name in fields))


def _count(value: object) -> bool:
    return type(value) is int and value >= 0  # type: ignore[operator]  # bool excluded


def _check_symbol_line(number: int, value: dict[str, Any]) -> tuple[str, tuple[int, int]]:
    name = value.get("symbol")
    frequency = value.get("frequency")
    member = value.get("pattern_member_frequency")
    if set(value) != {"symbol", "frequency", "pattern_member_frequency"}:
        raise ImportLineError(
            number, "a symbol line has exactly: symbol, frequency, pattern_member_frequency"
        )
    if not isinstance(name, str) or not name or not _count(frequency) or not _count(member):
        raise ImportLineError(
            number, "symbol must be a non-empty string, its frequencies integers ≥ 0"
        )
    return name, (frequency, member)  # type: ignore[return-value]


_PATTERN_KEYS = frozenset({"name", "events", "frequency", "emotives", "metadata"})
_REQUIRED_KEYS = frozenset({"name", "events", "frequency"})


# A checked pattern line: the fields of its ``PatternRecord``, in order. A tuple, which the
# spool takes as it is: a frozen record built per line only to be taken apart cost ~1 µs.
_Pattern = tuple[str, Events, int, tuple[Mapping[str, float], ...], Metadata]


def _check_pattern_line(number: int, value: dict[str, Any], max_symbol_length: int) -> _Pattern:
    keys = value.keys()
    if not keys >= _REQUIRED_KEYS or not keys <= _PATTERN_KEYS:
        unknown = set(keys) - _PATTERN_KEYS
        raise ImportLineError(
            number,
            "a pattern line has name, events, frequency and optionally emotives, metadata"
            + (f" (unknown: {', '.join(sorted(unknown))})" if unknown else ""),
        )
    identity = checked_events(value["events"], max_symbol_length)
    if identity is None:
        raise ImportLineError(
            number,
            "events must be a list of non-empty lists of symbols (non-empty strings of at"
            f" most max_symbol_length = {max_symbol_length} characters)",
        )
    as_events, digest = identity
    # Every event holds at least one symbol, so fewer than 2 means one event of one symbol.
    if len(as_events) == 1 and len(as_events[0]) == 1:
        raise ImportLineError(number, "a pattern holds at least 2 symbols (§3.2)")
    name = value["name"]
    # The name with or without its prefix (a bare digest never starts with it).
    if name != PATTERN_PREFIX + digest and name != digest:
        raise ImportLineError(
            number, f"name {name!r} is not the hash of its events (PTRN|{digest})"
        )
    frequency = value["frequency"]
    if not _count(frequency):
        raise ImportLineError(number, "frequency must be an integer ≥ 0")
    emotives = value.get("emotives", [])
    metadata = value.get("metadata", {})
    if type(emotives) is not list:
        raise ImportLineError(number, "emotives must be a list of objects")
    try:
        window = check_update(frequency, emotives, MAX_WINDOW) if emotives else ()
        checked: Metadata = check_metadata(metadata) if metadata else {}
    except ValidationError as error:
        raise ImportLineError(number, error.message) from None
    return digest, as_events, frequency, window, checked


def _reject_duplicates(checked: _Checked, spool: Spool) -> None:
    """A name twice in a replace import is refused. Found by sorting 64-bit name prefixes
    (8 bytes a pattern); a repeated prefix is confirmed on the full names by a second read."""
    prefixes = sorted(checked.prefixes)
    repeated = {a for a, b in zip(prefixes, prefixes[1:], strict=False) if a == b}
    if not repeated:
        return
    seen: dict[str, int] = {}
    for number, record in _spooled(spool):
        if int(record.name[:16], 16) in repeated:
            if record.name in seen:
                raise ImportLineError(
                    number,
                    f"pattern PTRN|{record.name} appears twice (first on line {seen[record.name]})",
                )
            seen[record.name] = number


def _merge(node: Node, records: Iterator[PatternRecord], persistence: int) -> None:
    kb = node.knowledge_base
    while chunk := list(islice(records, _IMPORT_CHUNK)):
        kb.learn_many(
            [LearnItem(r.name, r.events, r.emotives, r.metadata, r.frequency) for r in chunk],
            persistence,
        )


def _replace(node: Node, spool: Spool, checked: _Checked) -> None:
    if checked.symbols is not None and checked.header_totals is not None:
        symbols, totals = checked.symbols, checked.header_totals
    else:
        symbols, totals = derived_statistics(_records(spool))
    node.knowledge_base.replace(
        _records(spool),
        (SymbolStats(name, f, m) for name, (f, m) in sorted(symbols.items())),
        totals,
        checked.revision,
    )


def parse_observations(events: Iterable[Iterable[str]]) -> tuple[Observation, ...]:
    """Events of symbols as observations (validated as observe validates strings)."""
    return tuple(Observation.parse(list(event)) for event in events)
