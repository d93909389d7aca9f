"""The example data generators (examples/generators.py) are seeded and produce valid data."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

import pytest

from examples import generators, learn_and_evaluate
from examples.generators import Clickstream


def test_reber_is_seeded_and_every_string_is_in_the_embedded_grammar() -> None:
    first = generators.reber_sequences(500, seed=7)
    assert first == generators.reber_sequences(500, seed=7)
    assert first != generators.reber_sequences(500, seed=8)
    assert all(generators.is_embedded_reber(symbols) for symbols in first)
    # Both branches occur, and the symbol before the final E repeats the second symbol.
    assert {symbols[1] for symbols in first} == {"T", "P"}


def test_the_grammar_check_refuses_strings_outside_it() -> None:
    assert generators.is_reber(list("BTXSE"))
    assert generators.is_embedded_reber(list("BTBTXSETE"))
    assert not generators.is_embedded_reber(list("BTBTXSEPE"))  # branches differ
    assert not generators.is_reber(list("BTXXE"))  # X→3 then E: not an end state
    assert not generators.is_reber(list("BTQSE"))


def test_reber_strings_cover_the_grammar() -> None:
    rng = random.Random(3)
    strings = {"".join(generators.reber_string(rng)) for _ in range(2000)}
    # The shortest strings of the grammar all appear.
    assert {"BTXSE", "BPVVE", "BTSXSE", "BPTVVE", "BPVPSE"} <= strings


def test_clickstream_is_seeded_and_follows_its_chain() -> None:
    visits = generators.clickstream_sequences(300, seed=5)
    assert visits == generators.clickstream_sequences(300, seed=5)
    assert visits != generators.clickstream_sequences(300, seed=6)
    chain = Clickstream(5)
    assert all(chain.allows(visit) and len(visit) >= 2 for visit in visits)
    assert not chain.allows(["page00", "page00"])  # no page links to itself
    lengths = {len(visit) for visit in visits}
    assert min(lengths) == 2 and max(lengths) > 5  # visits end at random, not at one length


def test_jsonl_and_csv_writers_give_the_formats_of_kato_learn() -> None:
    sequences = [["B", "T", "E"], ["page01", "page02"]]
    jsonl = io.StringIO()
    generators.write_jsonl(sequences, jsonl)
    assert [json.loads(line) for line in jsonl.getvalue().splitlines()] == [
        {"events": [["B"], ["T"], ["E"]]},
        {"events": [["page01"], ["page02"]]},
    ]
    table = io.StringIO()
    generators.write_csv(sequences, table)
    rows = list(csv.reader(io.StringIO(table.getvalue())))
    assert rows[0] == ["sequence_id", "step", "symbol"]
    assert rows[1:] == [
        ["s0", "0", "B"],
        ["s0", "1", "T"],
        ["s0", "2", "E"],
        ["s1", "0", "page01"],
        ["s1", "1", "page02"],
    ]


def test_split_holds_out_the_last_fraction() -> None:
    train, test = generators.split([["a"]] * 8 + [["b"]] * 2, held_out=0.2)
    assert train == [["a"]] * 8 and test == [["b"]] * 2


def test_the_command_writes_a_file(tmp_path: Path) -> None:
    out = tmp_path / "reber.csv"
    assert (
        generators.main(
            ["reber", "--count", "5", "--seed", "2", "--format", "csv", "--out", str(out)]
        )
        == 0
    )
    rows = out.read_text().splitlines()
    assert rows[0] == "sequence_id,step,symbol"
    assert len({row.split(",")[0] for row in rows[1:]}) == 5


@pytest.mark.slow
@pytest.mark.timeout(900)  # four kato processes on a busy machine
def test_the_example_script_learns_evaluates_and_prints_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert learn_and_evaluate.main(["--out", str(tmp_path), "--count", "30"]) == 0
    output = capsys.readouterr().out
    assert "learned 24 of 24 sequences" in output  # 30 sequences, 20 % held out
    rows = [
        line.split() for line in output.splitlines() if line.startswith(("reber ", "clickstream "))
    ]
    assert [row[:2] for row in rows] == [
        ["reber", "top"],
        ["reber", "aggregate"],
        ["clickstream", "top"],
        ["clickstream", "aggregate"],
    ]
    assert all(0 <= float(value) <= 1 for row in rows for value in row[2:])
