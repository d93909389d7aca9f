"""``kato learn | export | import | evaluate`` — a node's knowledge base as data (issue 11).

Each command works on the local data directory (the embedded store ``kato serve`` opens, see
``kato.data_targets``) or, with ``--url``, on a server through the SDK (``--api-key`` or
``KATO_API_KEY``). Progress bars go to stderr (rich; hidden with ``--quiet`` and when stderr
is not a terminal), results to stdout, errors to stderr with exit status 2.

- ``learn NODE FILE``: JSON Lines of ``{"events", "emotives"?, "metadata"?}`` or CSV
  ``sequence_id,step,symbol`` (``kato.sequence_files``). The whole file is checked first, so
  a bad line (reported with its number) stores nothing, and the checked sequences are
  spooled (``kato.service.spool``); then they are learned in batches of ``--batch``
  sequences, each one storage transaction.
- ``export NODE [--out FILE]``: the export JSON Lines (``kato.service.knowledge_base``).
- ``import NODE FILE [--replace]``: merge (learning adds) or replace the knowledge base.
- ``evaluate NODE FILE``: next-event prediction on held-out sequences (``kato.core.evaluation``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from kato.config import Settings
from kato.core import heap
from kato.core.errors import KatoError
from kato.core.evaluation import SCORINGS, Scorer, prefixes
from kato.core.genes import Genes
from kato.sequence_files import SequenceFileError, read_sequences
from kato.service.spool import Spool

if TYPE_CHECKING:
    from kato.client.errors import KatoAPIError, KatoClientError
    from kato.data_targets import DataTarget

SettingsLoader = Callable[[argparse.Namespace], Settings]
# Sequences a learn batch when --batch is not given. Embedded, larger batches amortise each
# SQLite commit and each batch's index and statistics work over more patterns (10,000 learn
# ~1.6x the patterns per CPU-second of 1,000, 50,000 another ~1.1x; benchmarks/learn_bench.py)
# at some 50 MB of memory; a server takes at most its limits.max_sequences_per_batch
# (default 1,000) a request.
EMBEDDED_BATCH = 50_000
REMOTE_BATCH = 1000


class CommandError(Exception):
    """A problem the user can fix, printed as one line (exit status 2)."""


def add_data_commands(subparsers: Any, load_settings: SettingsLoader) -> None:
    def target_options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("node", help="node id")
        parser.add_argument("--data-dir", help="data directory (default ./kato-data)")
        parser.add_argument("--config", help="YAML configuration file (KATO_CONFIG_FILE)")
        parser.add_argument("--url", help="a KATO server instead of the local data directory")
        parser.add_argument("--api-key", help="API key for --url (default: KATO_API_KEY)")
        parser.add_argument("--quiet", action="store_true", help="no progress bars")

    def index_option(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--no-index",
            action="store_true",
            help="embedded: keep no index snapshot (memory stays flat; the next kato serve "
            "indexes the node at its first predictions)",
        )

    learn = subparsers.add_parser("learn", help="learn the sequences of a JSONL or CSV file")
    target_options(learn)
    index_option(learn)
    learn.add_argument("file", type=Path, help=".jsonl (or any other name) or .csv")
    learn.add_argument(
        "--batch",
        type=int,
        help=f"sequences a batch (default {EMBEDDED_BATCH:,}; with --url {REMOTE_BATCH:,})",
    )
    learn.set_defaults(
        func=lambda args: _run(learn_command, args, load_settings, check_file=True),
        creates_node=True,
    )

    export = subparsers.add_parser("export", help="export the knowledge base as JSON Lines")
    target_options(export)
    export.add_argument("--out", type=Path, help="file to write (default stdout)")
    export.set_defaults(
        func=lambda args: _run(export_command, args, load_settings), creates_node=False
    )

    imports = subparsers.add_parser("import", help="import a JSON Lines export")
    target_options(imports)
    index_option(imports)
    imports.add_argument("file", type=Path)
    imports.add_argument("--replace", action="store_true", help="replace the whole knowledge base")
    imports.set_defaults(
        func=lambda args: _run(import_command, args, load_settings), creates_node=True
    )

    evaluate = subparsers.add_parser("evaluate", help="score next-event prediction on a file")
    target_options(evaluate)
    evaluate.add_argument("file", type=Path, help="held-out sequences (.jsonl or .csv)")
    evaluate.add_argument("--k", type=int, default=3, help="accuracy@k (default 3)")
    evaluate.add_argument(
        "--genes",
        type=json.loads,
        default={},
        help="gene values as JSON, e.g. '{\"recall_threshold\": 0.3}'",
    )
    evaluate.add_argument("--json", action="store_true", help="figures as JSON")
    evaluate.add_argument(
        "--batch", type=int, default=100, help="contexts a request with --url (default 100)"
    )
    evaluate.set_defaults(
        func=lambda args: _run(evaluate_command, args, load_settings), creates_node=False
    )


Command = Callable[["DataTarget", argparse.Namespace, Console], int]


def _run(
    command: Command,
    args: argparse.Namespace,
    load_settings: SettingsLoader,
    check_file: bool = False,
) -> int:
    """``check_file``: read the whole input file once before anything is opened, so a bad
    line neither stores nor creates anything (``args.sequences`` is then its checked
    sequences)."""
    console = Console(stderr=True, quiet=args.quiet)
    # Before the check pass too: its default collections (each walking every imported
    # module's objects again) were half of its time.
    tune_gc_for_bulk_work()
    with ExitStack() as cleanup:
        try:
            if check_file:
                args.sequences = cleanup.enter_context(check_sequences(args.file, console))
            target = _open_target(args, load_settings)
        except (ValueError, OSError, KatoError, CommandError) as exc:
            print(f"kato: {_message(exc)}", file=sys.stderr)
            return 2
        gc.freeze()  # the store and the modules opening it imported, out of sight as well
        handled: tuple[type[Exception], ...] = (
            CommandError,
            SequenceFileError,
            KatoError,
            OSError,
            *_client_errors(args),
        )
        try:
            return command(target, args, console)
        except handled as exc:
            print(f"kato: {_message(exc)}", file=sys.stderr)
            return 2
        finally:
            target.close()


def tune_gc_for_bulk_work() -> None:
    """Cyclic garbage collection tuned for a one-shot bulk command.

    ``gc.freeze()`` moves everything allocated so far (the imported modules, settings, the
    open store) out of the collector's sight: each full collection would otherwise walk that
    large heap again. A gen-0 threshold of 50,000 allocations (default 700) lets the many
    short-lived lists and tuples of a batch be freed by reference counting before a
    collection looks at them. Measured on ``kato learn`` (benchmarks/learn_bench.py): about
    1.5-2x the patterns per CPU-second. Memory stays bounded: reference counting frees the
    acyclic data at once; collections still run, only less often.
    """
    gc.freeze()
    gc.set_threshold(50_000, 10, 10)


def _client_errors(args: argparse.Namespace) -> tuple[type[KatoClientError], ...]:
    """The SDK's errors when the target is a server (``--url``), the only one that raises
    them; none otherwise, so an embedded command never imports the SDK (httpx)."""
    if not args.url:
        return ()
    from kato.client.errors import KatoClientError

    return (KatoClientError,)


def _message(exc: BaseException) -> str:
    return exc.message if isinstance(exc, KatoError) else str(exc)  # the server's: "403 …: …"


def _open_target(args: argparse.Namespace, load_settings: SettingsLoader) -> DataTarget:
    # Imported here: the storage adapters take seconds to import, which the other kato
    # commands (serve, keys) should not pay at start-up.
    from kato.data_targets import EmbeddedTarget, NodeNotFoundError, RemoteTarget

    no_index = getattr(args, "no_index", False)
    if args.url:
        if no_index:
            raise CommandError("--no-index applies to the local data directory, not --url")
        return RemoteTarget(args.url, args.api_key or os.environ.get("KATO_API_KEY"), args.node)
    try:
        return EmbeddedTarget(
            load_settings(args), args.node, create=args.creates_node, index=not no_index
        )
    except NodeNotFoundError as exc:
        raise CommandError(f"{exc}; learn or import into it first") from None


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


@contextmanager
def _timed() -> Iterator[Callable[[], float]]:
    started = time.perf_counter()
    yield lambda: time.perf_counter() - started


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}/s" if seconds > 0 else "-"


# -- learn ------------------------------------------------------------------------------------


def check_sequences(path: Path, console: Console) -> Spool:
    """The sequences of ``path`` as ``learn-batch`` items, checked and spooled; raises
    ``SequenceFileError`` at a bad line."""
    spool = Spool()
    try:
        with _progress(console) as progress:
            checking = progress.add_task("checking", total=None)
            for count, sequence in enumerate(read_sequences(path), start=1):
                spool.append(sequence.to_json())
                if count % 1000 == 0:
                    progress.update(checking, completed=count)
    except BaseException:
        spool.close()
        raise
    return spool


def learn_command(target: DataTarget, args: argparse.Namespace, console: Console) -> int:
    size = args.batch
    if size is None:
        size = REMOTE_BATCH if target.remote else EMBEDDED_BATCH
    if size < 1:
        raise CommandError("--batch must be at least 1")
    count = len(args.sequences)
    with _progress(console) as progress:
        before = target.pattern_count()
        learned = skipped = 0
        task = progress.add_task("learning", total=count)
        # No cyclic collection while learning: each one walked the batch in hand (tens of
        # thousands of lists and tuples, none in a cycle) again, a fifth of the pass; they
        # are freed by reference counting as each batch is done, so memory stays bounded.
        with _timed() as elapsed, heap.paused():
            sequences = iter(args.sequences)
            while batch := list(islice(sequences, size)):
                names = target.learn(batch)
                learned += sum(1 for name in names if name)
                skipped += sum(1 for name in names if not name)
                progress.advance(task, len(batch))
            seconds = elapsed()
    after = target.pattern_count()
    print(
        f"learned {learned:,} of {count:,} sequences from {args.file} into node {args.node} "
        f"in {seconds:.2f} s ({_rate(learned, seconds)}); "
        f"{skipped:,} below the 2-symbol minimum not learned; "
        f"patterns in the node: {before:,} -> {after:,}"
    )
    return 0


# -- export / import --------------------------------------------------------------------------


def export_command(target: DataTarget, args: argparse.Namespace, console: Console) -> int:
    out: TextIO
    with _timed() as elapsed, _progress(console) as progress:
        lines = target.export_lines()
        header = next(lines)
        total = json.loads(header).get("pattern_count")
        task = progress.add_task("exporting", total=total)
        out = args.out.open("w", encoding="utf-8") if args.out else sys.stdout
        patterns = 0
        try:
            out.write(header)
            for line in lines:
                out.write(line)
                if not line.startswith('{"symbol"'):
                    patterns += 1
                    if patterns % 1000 == 0:
                        progress.update(task, completed=patterns)
        finally:
            if args.out:
                out.close()
        seconds = elapsed()
    where = args.out or "stdout"
    print(
        f"exported {patterns:,} patterns of node {args.node} to {where} in {seconds:.2f} s "
        f"({_rate(patterns, seconds)})",
        file=sys.stderr if args.out is None else sys.stdout,
    )
    return 0


def _read_with_progress(path: Path, progress: Progress) -> Iterator[bytes]:
    task = progress.add_task("reading", total=path.stat().st_size)
    with path.open("rb") as handle:
        for line in handle:
            progress.advance(task, len(line))
            yield line


def import_command(target: DataTarget, args: argparse.Namespace, console: Console) -> int:
    mode = "replace" if args.replace else "merge"
    refusals: tuple[type[KatoError | KatoAPIError], ...] = (KatoError,)
    if target.remote:
        from kato.client.errors import KatoAPIError

        refusals = (KatoError, KatoAPIError)
    with _timed() as elapsed, _progress(console) as progress:
        try:
            imported = target.import_lines(_read_with_progress(args.file, progress), args.replace)
        except refusals as exc:  # embedded / server refusal: nothing changed
            raise CommandError(f"{args.file}: {exc.message}; nothing was imported") from None
        seconds = elapsed()
    print(
        f"imported {imported:,} patterns from {args.file} into node {args.node} ({mode}) in "
        f"{seconds:.2f} s ({_rate(imported, seconds)}); "
        f"patterns in the node: {target.pattern_count():,}"
    )
    return 0


# -- evaluate ---------------------------------------------------------------------------------


def _percentiles(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    if len(seconds) == 1:
        cuts = [seconds[0]] * 99
    else:
        cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return {
        "p50": cuts[49] * 1000,
        "p90": cuts[89] * 1000,
        "p99": cuts[98] * 1000,
        "max": max(seconds) * 1000,
    }


def evaluate_command(target: DataTarget, args: argparse.Namespace, console: Console) -> int:
    if args.k < 1:
        raise CommandError("--k must be at least 1")
    if args.batch < 1:
        raise CommandError("--batch must be at least 1")
    if not isinstance(args.genes, dict):
        raise CommandError('--genes must be a JSON object, e.g. {"recall_threshold": 0.3}')
    genes = Genes.from_mapping(args.genes)
    # Embedded, one prediction a call (its latency); remote, --batch contexts a request.
    per_call = args.batch if target.remote else 1
    scorer = Scorer(args.k)
    latencies: list[float] = []
    sequences = 0
    with _progress(console) as progress:
        total = sum(max(len(s.events) - 1, 0) for s in read_sequences(args.file))
        task = progress.add_task("predicting", total=total)
        with _timed() as elapsed:
            pending: list[tuple[list[list[str]], list[str]]] = []
            for sequence in read_sequences(args.file):
                sequences += 1
                pending.extend(prefixes(sequence.events))
                while len(pending) >= per_call:
                    _score(target, pending[:per_call], genes, scorer, latencies)
                    del pending[:per_call]
                    progress.advance(task, per_call)
            if pending:
                _score(target, pending, genes, scorer, latencies)
                progress.advance(task, len(pending))
            seconds = elapsed()
    report = {
        "node_id": args.node,
        "file": str(args.file),
        "sequences": sequences,
        "prefixes": scorer.prefixes,
        "k": args.k,
        "scores": scorer.figures(),
        "latency_ms": _percentiles(latencies),
        "contexts_per_request": per_call,
        "seconds": seconds,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_report(report)
    return 0


def _score(
    target: DataTarget,
    pending: list[tuple[list[list[str]], list[str]]],
    genes: Genes,
    scorer: Scorer,
    latencies: list[float],
) -> None:
    started = time.perf_counter()
    results = target.predict([context for context, _ in pending], genes)
    latencies.append(time.perf_counter() - started)
    for (_, truth), predictions in zip(pending, results, strict=True):
        scorer.add(predictions, truth)


def _print_report(report: dict[str, Any]) -> None:
    k = report["k"]
    console = Console(highlight=False)
    console.print(
        f"node {report['node_id']}: {report['prefixes']:,} next events of "
        f"{report['sequences']:,} sequences in {report['file']}, {report['seconds']:.2f} s"
    )
    table = Table("metric", "top prediction", "aggregate (future vote)")
    labels = {
        "accuracy_at_1": "accuracy@1",
        f"accuracy_at_{k}": f"accuracy@{k}",
        "mrr": "MRR",
        "coverage": "coverage",
    }
    scores = report["scores"]
    for key, label in labels.items():
        table.add_row(label, *(f"{scores[name][key]:.4f}" for name in SCORINGS))
    console.print(table)
    latency = report["latency_ms"]
    unit = "prediction" if report["contexts_per_request"] == 1 else "request"
    console.print(
        f"latency per {unit} (ms): "
        + "  ".join(f"{name} {value:.3f}" for name, value in latency.items())
    )
