"""Reading sequence files (kato/sequence_files.py): both formats, errors with line numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from kato.sequence_files import SequenceFileError, read_sequences


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_jsonl_sequences_with_emotives_and_metadata(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "s.jsonl",
        '{"events": [["a", "b"], ["c"]]}\n\n'
        '{"events": [["d"]], "emotives": [{"joy": 1}], "metadata": {"user": "u1"}}\n',
    )
    first, second = read_sequences(path)
    assert (first.events, first.line, first.to_json()) == (
        [["a", "b"], ["c"]],
        1,
        {"events": [["a", "b"], ["c"]]},
    )
    assert second.line == 3
    assert second.to_json() == {
        "events": [["d"]],
        "emotives": [{"joy": 1}],
        "metadata": {"user": "u1"},
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"events": [["a"]]}\n{"events": [["a"]]\n', "s.jsonl:2: not JSON"),
        # json.loads's own words, though lines are parsed by its decoder without its checks.
        ('\ufeff{"events": [["a", "b"]]}\n', "s.jsonl:1: not JSON: Unexpected UTF-8 BOM"),
        ('{"events": [["a"]] x}\n', "s.jsonl:1: not JSON: Expecting ',' delimiter"),
        ('[["a"]]\n', "s.jsonl:1: a line must be an object"),
        ('{"event": [["a"]]}\n', "s.jsonl:1: unknown key(s) event"),
        ('{"emotives": []}\n', 's.jsonl:1: missing "events"'),
        ('{"events": ["a"]}\n', "s.jsonl:1: events[0] must be a list of symbols"),
        ('{"events": [["a", 1]]}\n', "s.jsonl:1: events[0]: strings[1] must be a string"),
        ('{"events": [["a"]], "emotives": [{"joy": "x"}]}\n', "s.jsonl:1: emotives[0]: emotive"),
        ('{"events": [["a"]], "metadata": [1]}\n', 's.jsonl:1: "metadata" must be an object'),
    ],
)
def test_bad_jsonl_lines_name_their_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "s.jsonl", text)
    with pytest.raises(SequenceFileError) as caught:
        list(read_sequences(path))
    assert str(caught.value).startswith(f"{tmp_path}/{message}")


def test_csv_groups_rows_by_sequence_and_step(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "s.csv",
        "sequence_id,step,symbol\nA,0,x\nA,0,y\nA,2,z\nB,1,p\nB,2,q\n",
    )
    assert [(s.events, s.line) for s in read_sequences(path)] == [
        ([["x", "y"], ["z"]], 2),
        ([["p"], ["q"]], 5),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,step,symbol\nA,0,x\n", "s.csv:1: the header must be sequence_id,step,symbol"),
        ("sequence_id,step,symbol\nA,0,x\nA,one,y\n", "s.csv:3: step 'one' is not an integer"),
        ("sequence_id,step,symbol\nA,1,x\nA,0,y\n", "s.csv:3: step 0 comes after step 1"),
        ("sequence_id,step,symbol\nA,0,x\nB,0,y\nA,1,z\n", "s.csv:4: rows of sequence 'A' are"),
        ("sequence_id,step,symbol\nA,0\n", "s.csv:2: expected 3 fields, got 2"),
    ],
)
def test_bad_csv_rows_name_their_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "s.csv", text)
    with pytest.raises(SequenceFileError) as caught:
        list(read_sequences(path))
    assert str(caught.value).startswith(f"{tmp_path}/{message}")


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(b'{"events": [["\xff"]]}\n')
    with pytest.raises(SequenceFileError, match="not UTF-8"):
        list(read_sequences(path))
