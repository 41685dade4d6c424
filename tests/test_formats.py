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


# ---------------------------------------------------------------- record boundaries (rsolve issue 9)
def _cli(*args, stdin: str | bytes):
    from typer.testing import CliRunner

    from rsolve.cli import app

    return CliRunner().invoke(app, list(args), input=stdin)


def test_maze_whose_first_row_is_open_is_one_maze():
    rows = ["............", ".....S......", "....G......."]
    (rec,) = parse_text("\n".join(rows) + "\n")
    assert rec.puzzle == Maze.from_rows(rows) and rec.source == "<text>:1"
    (rec,) = parse_text(".\nS\n.\nG\n")  # one column wide
    assert rec.puzzle.height == 4 and rec.puzzle.width == 1
    (rec,) = parse_text("#\nS\n.\nG\n#\n")  # one column: its lone `#` rows are walls, not comments
    assert rec.puzzle.height == 5


def test_maze_with_open_first_row_solved_as_given():
    import json

    result = _cli("solve", "-", "-m", "bfs", "-f", "jsonl", stdin=".....\nS###G\n.###.\n.....\n")
    (row,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.exit_code == 0 and row["puzzle"] == ".....\nS###G\n.###.\n....."
    assert row["stats"]["steps"] == 6 and row["solution"].count("o") == 5


def test_dot_rows_that_are_no_maze_are_read_again_as_sudoku():
    grid = ["." * 9] * 3 + [LINE[27 + 9 * i:36 + 9 * i] for i in range(6)]
    (rec,) = parse_text("\n".join(grid))
    assert rec.puzzle.to_string() == "." * 27 + LINE[27:]
    recs = parse_text(("." * 81 + "\n") * 1500)  # more rows than a maze may have: each a Sudoku
    assert len(recs) == 1500 and all(r.puzzle.blanks == 81 for r in recs)
    assert [r.source for r in recs[998:1002]] == [f"<text>:{n}" for n in range(999, 1003)]


def test_leading_lone_hash_is_a_comment_above_a_maze():
    (rec,) = parse_text("#\n# maze one\n#\n" + MAZE)
    assert rec.puzzle == Maze.from_rows(MAZE.split("\n")) and rec.source == "<text>:4"


def test_oversized_maze_is_one_record_and_reading_goes_on():
    rows = ["#S" + "." * 8 + "G#"] + ["#" + "." * 10 + "#"] * 1200
    recs = parse_text("\n".join(rows) + f"\n\n{LINE}\n")
    assert len(recs) == 2 and "maze too large" in recs[0].error and recs[1].puzzle.to_string() == LINE


@pytest.mark.parametrize("nested", ["[" * 1500 + "]" * 1500, '{"a":' * 1500 + "1" + "}" * 1500,
                                    '{"puzzle": ' + "[" * 1500 + "]" * 1500 + "}"])
def test_deeply_nested_json_costs_only_its_record(nested):
    recs = parse_text(f"{LINE}\n{nested}\n{LINE}\n")
    assert [r.error for r in recs] == [None, "invalid JSON: nested too deeply", None]
    result = _cli("solve", "-", "-m", "sat", "-f", "text", stdin=f"{LINE}\n{nested}\n{LINE}\n")
    assert result.exit_code == 2 and len(result.stdout.splitlines()) == 3
    assert "nested too deeply" in result.stdout.splitlines()[1]


@pytest.mark.parametrize("line,reason", [
    ("{broken json", "invalid JSON: Expecting property name enclosed in double quotes (column 2)"),
    ('{"puzzle": "%s", "kind": "kakuro"}' % LINE, "unknown kind 'kakuro'"),
    ('{"puzzle": "%s", "kind": 3}' % LINE, "'kind' must be a string, got int"),
    ('{"puzzle": 81}', "JSON 'puzzle' must be a string, got int"),
    ('{"puzzle": ["#S.G#"]}', "JSON 'puzzle' must be a string, got list"),
    ("[1, 2", "invalid JSON: Expecting"),
    ('["%s"]' % LINE, "JSON record is a list, not an object"),
    ('{"puzzle": 1' + "0" * 5000 + "}", "invalid JSON: "),
])
def test_json_record_errors(line, reason):
    (rec,) = parse_text(line)
    assert rec.puzzle is None and reason in rec.error


def test_json_maze_puzzle_is_rows_joined_by_newline():
    (rec,) = parse_text('{"puzzle": "#S.G#"}')  # the S says maze
    assert rec.puzzle == Maze.from_rows(["#S.G#"])
    (rec,) = parse_text('{"kind": "maze", "puzzle": "..\\nSG"}')
    assert rec.puzzle.height == 2 and rec.puzzle.grid == "..SG"


def test_bom_and_every_line_end():
    (rec,) = parse_text("\ufeff" + LINE + "\n")
    assert rec.puzzle.to_string() == LINE
    for eol in ("\r", "\r\n", "\n"):
        recs = parse_text(eol.join([LINE, "", MAZE.replace("\n", eol), "", LINE]) + eol)
        assert [r.kind for r in recs] == ["sudoku", "maze", "sudoku"] and all(r.error is None for r in recs)
        assert [r.source for r in recs] == ["<text>:1", "<text>:3", "<text>:8"]


def test_crlf_split_between_two_reads_is_one_line_end():
    from rsolve.puzzles.formats import iter_lines

    class Trickle(io.BytesIO):  # hands out 5 bytes at a time, like a slow pipe
        def read1(self, n=-1):
            return super().read1(5)

    data = b"abcd\r\nefgh\r\r\nij\n\rk"
    assert list(iter_lines(Trickle(data))) == [(1, "abcd"), (2, "efgh"), (3, ""), (4, "ij"), (5, ""), (6, "k")]
    assert list(iter_lines(Trickle(b"x" * 40 + b"\r\nok"), max_len=30)) == [(1, None), (2, "ok")]


@pytest.mark.parametrize("text,reasons", [
    (f"[junk\n{LINE}", ["invalid JSON", None]),
    (f"[Puzzle]\n\n{LINE}", ["not a puzzle line (a header", None]),
    (f"{LINE}\n------+------\n{LINE}", [None, "not a puzzle line (a separator", None]),
    (f"{LINE}\n|\n", [None, "not a puzzle line"]),
    (f"[Puzzle]\n{LINE}\n[Puzzle]\n# note\n{LINE}", [None, None]),
])
def test_every_line_but_comments_and_headers_gives_a_record(text, reasons):
    recs = parse_text(text)
    assert len(recs) == len(reasons)
    for rec, reason in zip(recs, reasons):
        assert rec.error is None if reason is None else reason in rec.error


def test_bordered_grid_and_16x16_grid():
    border = "+-------+-------+-------+"
    rows = [f"| {' '.join(LINE[i:i + 3])} | {' '.join(LINE[i + 3:i + 6])} | {' '.join(LINE[i + 6:i + 9])} |"
            for i in range(0, 81, 9)]
    framed = [border] + rows[:3] + [border] + rows[3:6] + [border] + rows[6:] + [border]
    recs = parse_text("\n".join(framed + framed) + "\n")  # two grids sharing no blank line
    assert [r.puzzle.to_string() for r in recs] == [LINE, LINE] and recs[1].source == "<text>:15"
    sixteen = "123456789ABCDEFG"
    grid = [sixteen[i:] + sixteen[:i] for i in (0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15)]
    (rec,) = parse_text("\n".join(grid))
    assert rec.puzzle.side == 16 and rec.puzzle.is_complete()
    recs = parse_text("1.3.....2..4.1..\n.2..............\n")  # 4x4 one-liners stay one per line
    assert [r.puzzle.side for r in recs] == [4, 4]


@pytest.mark.parametrize("stray", ["1", "12", "1234", "123456789", "123456789ABC", "1" * 15, "123456789ABCDEFG",
                                   "1" * 17, "5 3 .", "12:34"])
@pytest.mark.parametrize("neighbour", [LINE, f"{LINE}:1:{LINE}", '{"puzzle": "%s"}' % LINE])
def test_stray_short_line_keeps_its_place(stray, neighbour):
    recs = parse_text(f"{neighbour}\n{stray}\n{neighbour}\n{stray}\n")
    assert [r.source for r in recs] == [f"<text>:{n}" for n in (1, 2, 3, 4)]
    assert [r.index for r in recs] == [0, 1, 2, 3]
    assert [r.error is None for r in recs] == [True, False, True, False]


def test_stray_line_order_through_the_cli():
    result = _cli("solve", "-", "-m", "sat", "-f", "text", stdin=f"{LINE}\n123456789\n{LINE}:1\n")
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and "<stdin>:2" in lines[1] and lines[0] == lines[2] and result.exit_code == 2


def test_bom_and_cr_line_ends_through_the_cli():
    result = _cli("solve", "-", "-m", "sat", "-f", "text", stdin=b"\xef\xbb\xbf" + f"{LINE}\r{LINE}\r".encode())
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 2


def test_forced_kind_still_reads_json_records():
    (rec,) = parse_text('{"puzzle": "#S.G#"}', kind="maze")
    assert rec.puzzle == Maze.from_rows(["#S.G#"])
    recs = parse_text(f"{LINE}\n#S.G#\n", kind="sudoku")
    assert recs[0].error is None and "unexpected character '#'" in recs[1].error


def test_reading_is_streamed_for_an_endless_block():
    consumed = 0

    class Endless(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, buf):
            nonlocal consumed
            data = ((LINE + "\n") * (len(buf) // 82))[:len(buf)].encode()
            buf[:len(data)] = data
            consumed += len(data)
            return len(data)

    it = read_records([("endless", io.BufferedReader(Endless()))])
    first = [next(it) for _ in range(5000)]
    assert all(r.puzzle is not None for r in first) and consumed < 2 << 20


# ---------------------------------------------------------------- fuzz: mixed streams keep every record
_SOLVED = "534678912672195348198342567859761423426853791713924856961537284287419635345286179"


@st.composite
def _sudoku_text(draw):
    keep = draw(st.lists(st.booleans(), min_size=81, max_size=81))
    text = "".join(ch if k else draw(st.sampled_from(".0")) for ch, k in zip(_SOLVED, keep))
    return text if set(text) - set(".0") else "5" + text[1:]  # a digit: an all-blank line could join a maze


@st.composite
def _maze_rows(draw):
    w = draw(st.integers(1, 8))
    h = draw(st.integers(1 if w > 1 else 2, 6))
    cells = draw(st.lists(st.sampled_from("#. "), min_size=h * w, max_size=h * w))
    s, g = draw(st.lists(st.integers(0, h * w - 1), min_size=2, max_size=2, unique=True))
    cells[s], cells[g] = "S", "G"
    rows = ["".join(cells[r * w:(r + 1) * w]) for r in range(h)]
    return ["." + row[1:] if row.isspace() else row for row in rows]  # an all-space row is a blank line


@st.composite
def _item(draw):
    """(lines, expected puzzle or None for an invalid record, index of the record's first line,
    whether the item stands alone as one line and so may touch its neighbours)."""
    choice = draw(st.sampled_from(["line", "tdoku", "json", "grid", "maze", "json_maze", "short", "junk", "deep"]))
    if choice in ("line", "tdoku", "json", "grid"):
        text = draw(_sudoku_text())
        want = Sudoku.from_string(text)
        if choice == "grid":
            rows = [text[i:i + 9] for i in range(0, 81, 9)]
            if draw(st.booleans()):
                rows = [" ".join(r[:3]) + " | " + " ".join(r[3:6]) + " | " + " ".join(r[6:]) for r in rows]
                rows[3:3], rows[7:7] = ["------+-------+------"], ["------+-------+------"]
            header = ["[Puzzle]"] if draw(st.booleans()) else []
            return header + rows, want, len(header), False
        line = {"line": text, "tdoku": f"{text}:1:{_SOLVED}", "json": '{"puzzle": "%s"}' % text}[choice]
        return [line], want, 0, True
    if choice in ("maze", "json_maze"):
        rows = draw(_maze_rows())
        want = Maze.from_rows(rows)
        if choice == "json_maze":
            return ['{"kind": "maze", "puzzle": "%s"}' % "\\n".join(rows)], want, 0, True
        return rows, want, 0, False
    if choice == "short":
        n = draw(st.sampled_from([1, 2, 5, 9, 12, 17, 40, 80]))
        return ["".join(draw(st.lists(st.sampled_from("123456789."), min_size=n, max_size=n)))], None, 0, False
    if choice == "deep":
        return ["[" * 1200 + "]" * 1200], None, 0, True
    return [draw(st.sampled_from(["hello!", "x", "[junk", "{", "1,2,3", "S G ?", "---", "£€"]))], None, 0, False


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_item(), st.integers(0, 2), st.booleans()), max_size=12),
       st.sampled_from(["\n", "\r\n", "\r", "mixed"]), st.booleans())
def test_fuzz_mixed_streams_give_one_record_per_record_in_order(items, eol, bom):
    """Multi-line records are set off by blank lines (as documented); one-line records may
    touch; comments and blank lines in between give nothing."""
    lines, expected = [], []
    prev_alone = True
    for (rows, want, first, alone), blanks, comment in items:
        if lines and not (alone and prev_alone):
            blanks = max(blanks, 1)
        lines += [""] * blanks + (["# a comment"] if comment else [])
        expected.append((want, len(lines) + first + 1))
        lines += rows
        prev_alone = alone
    if eol == "mixed":
        text = "".join(line + ("\r\n" if i % 3 else "\n") for i, line in enumerate(lines))
    else:
        text = eol.join(lines) + eol
    recs = list(read_records([("f", io.BytesIO(("\ufeff" if bom else "").encode() + text.encode()))]))
    if not expected:
        assert len(recs) == 1 and recs[0].error.startswith("empty input")
        return
    assert len(recs) == len(expected)
    assert [r.index for r in recs] == list(range(len(recs)))
    for rec, (want, lineno) in zip(recs, expected):
        assert rec.source == f"f:{lineno}"
        assert (rec.puzzle == want) if want is not None else rec.error is not None, (rec, want)


@pytest.mark.parametrize("text,bad,row", [("#####\n#SxG#\n#####\n", "x", 2),
                                          ("#####\n#S.G#\n#xx.#\n#####\n", "x", 3),
                                          ("#######\n#S...G#\n#.?.!.#\n#######\n", "!", 3)])
def test_a_maze_with_a_stray_character_stays_one_record(text, bad, row):
    records = parse_text(text + "\n" + "#####\n#S.G#\n#####\n")
    assert len(records) == 2 and records[1].puzzle is not None
    assert records[0].error == f"bad maze character {bad!r} in row {row}"
