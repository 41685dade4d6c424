"""Reading records: shapes, kinds, comments, sources and malformed input."""

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rsolve.puzzles import Maze, Sudoku, parse_text, read_records

GRID = """\
[Puzzle]
# a 9x9 with separators
5 3 . | . 7 . | . . .
6 . . | 1 9 5 | . . .
. 9 8 | . . . | . 6 .
------+-------+------
8 . . | . 6 . | . . 3
4 . . | 8 . 3 | . . 1
7 . . | . 2 . | . . 6
------+-------+------
. 6 . | . . . | 2 8 .
. . . | 4 1 9 | . . 5
. . . | . 8 . | . 7 9
"""
LINE = "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79"
MAZE = "#######\n#S..#G#\n#.#...#\n#######"


def test_multiline_grid_equals_one_line():
    (rec,) = parse_text(GRID)
    assert rec.puzzle == Sudoku.from_string(LINE)
    assert rec.source == "<text>:3"


def test_sdk_grid_without_separators_and_crlf():
    text = "\r\n".join(LINE[i:i + 9] for i in range(0, 81, 9)) + "\r\n"
    (rec,) = parse_text(text)
    assert rec.puzzle.to_string() == LINE


def test_zero_blanks_and_comments():
    recs = parse_text("# header\n#\n" + LINE.replace(".", "0") + "\n\n" + LINE + "\n")
    assert [r.puzzle.to_string() for r in recs] == [LINE, LINE]
    assert [r.source for r in recs] == ["<text>:3", "<text>:5"]


@pytest.mark.parametrize("text,side,box", [
    ("1.3.....2..4.1..", 4, (2, 2)),
    ("1..4.." + "." * 30, 6, (2, 3)),
    ("1" + "." * 255, 16, (4, 4)),
])
def test_other_sizes(text, side, box):
    (rec,) = parse_text(text)
    assert rec.error is None and rec.puzzle.side == side
    g = rec.puzzle.geometry
    assert (g.box_rows, g.box_cols) == box and len(g.units) == 3 * side


def test_sixteen_symbols():
    row = "123456789ABCDEFG"
    (rec,) = parse_text(row + "." * 240)
    assert rec.puzzle.cells[:16] == tuple(range(1, 17))
    assert rec.puzzle.to_string().startswith(row)


def test_dataset_rows_first_grid_is_puzzle_second_is_solution():
    sol = "5" * 81  # not checked at read time
    (rec,) = parse_text(f"{LINE}:1:{sol}\n")
    assert rec.puzzle.to_string() == LINE and rec.extra["solution"] == sol
    recs = parse_text(f"source,question,answer,rating\nsrc,{LINE},{sol},3\n")
    assert len(recs) == 1 and recs[0].puzzle.to_string() == LINE


def test_mazes_and_mixed_stream():
    recs = parse_text(f"{LINE}\n{MAZE}\n\n{MAZE.replace('.', ' ')}\n")
    assert [r.kind for r in recs] == ["sudoku", "maze", "maze"]
    assert isinstance(recs[1].puzzle, Maze) and recs[1].puzzle.height == 4
    assert recs[2].puzzle == recs[1].puzzle  # space is open
    assert recs[1].source == "<text>:2"


def test_forced_kind():
    (rec,) = parse_text("......\n.S..G.\n", kind="maze")
    assert rec.kind == "maze" and rec.puzzle.width == 6
    (rec,) = parse_text(LINE, kind="sudoku")
    assert rec.kind == "sudoku"
    with pytest.raises(ValueError):
        parse_text(LINE, kind="kakuro")


def test_json_records_round_trip():
    line = '{"puzzle": "%s", "solution": null, "status": "abstained"}' % LINE
    (rec,) = parse_text(line)
    assert rec.puzzle.to_string() == LINE and rec.extra == {"status": "abstained"}
    (rec,) = parse_text('{"kind": "maze", "puzzle": "%s"}' % MAZE.replace("\n", "\\n"))
    assert rec.kind == "maze"


@pytest.mark.parametrize("text,reason", [
    (LINE[:80], "wrong length: 80 cells"),
    (LINE[:80] + "x", "unexpected character 'x'"),
    ("55" + LINE[2:], "duplicate 5 in row 1"),
    (LINE[:72] + "4" + LINE[73:], "duplicate 4 in column 1"),
    ("#####\n#...#\n#..G#\n#####", "maze has no start S"),
    ("#####\n#S..#\n#...#\n#####", "maze has no goal G"),
    ("#####\n#S.G#\n#..#\n#####", "ragged maze: row 3"),
    ("#S#\n#S#\n#G#", "maze has 2 start S"),
    ("", "empty input"),
    ("\x00\x01\x02 binary\n", "binary data"),
    ('{"nopuzzle": 1}', "JSON record without a 'puzzle'"),
    ("5 3 . | . 7 . | . . .\n6 . . | 1 9 5 | . . .\n", "incomplete 9x9 Sudoku grid: 2 of 9 rows"),
])
def test_malformed_records_name_the_reason(text, reason):
    recs = parse_text(text)
    assert recs[0].puzzle is None and reason in recs[0].error


def test_bad_record_does_not_stop_the_batch():
    recs = parse_text(f"{LINE}\nnonsense!\n{LINE}\n")
    assert [r.error is None for r in recs] == [True, False, True]
    assert [r.index for r in recs] == [0, 1, 2]
    assert recs[1].source == "<text>:2"


def test_huge_line_is_rejected_in_bounded_memory():
    big = b"1" * (10 << 20)
    stream = io.BytesIO(big + b"\n" + LINE.encode() + b"\n")
    recs = list(read_records([("big", stream)]))
    assert "longer than" in recs[0].error and recs[1].puzzle.to_string() == LINE


def test_indices_run_across_sources():
    recs = list(read_records([("a", io.BytesIO(LINE.encode())), ("b", io.BytesIO((LINE + "\n" + LINE).encode()))]))
    assert [(r.index, r.source) for r in recs] == [(0, "a:1"), (1, "b:1"), (2, "b:2")]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_any_bytes_give_records_not_exceptions(data):
    recs = list(read_records([("fuzz", io.BytesIO(data))]))
    assert recs, "every input yields at least one record"
    for r in recs:
        assert (r.puzzle is None) != (r.error is None)
        assert r.source.startswith("fuzz:")


_cell = st.sampled_from(list("123456789.0"))


@settings(max_examples=200, deadline=None)
@given(st.lists(_cell, min_size=81, max_size=81), st.sampled_from(["\n", "\r\n"]))
def test_fuzz_sudoku_lines_parse_or_explain(cells, eol):
    text = "".join(cells)
    recs = parse_text(text + eol + text + eol)
    assert len(recs) == 2
    for r in recs:
        if r.puzzle is not None:
            assert r.puzzle.to_string() == text.replace("0", ".")
        else:
            assert r.error.startswith("duplicate")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="#.SGo ", min_size=1, max_size=12), min_size=1, max_size=8))
def test_fuzz_maze_blocks(rows):
    rows = [r if r.strip() else "#" + r for r in rows]  # a blank row would end the block
    recs = parse_text("\n".join(rows), kind="maze")
    assert len(recs) >= 1
    for r in recs:
        assert (r.puzzle is None) != (r.error is None)
        if r.puzzle is not None:
            assert r.puzzle.grid.count("S") == 1 and r.puzzle.grid.count("G") == 1
