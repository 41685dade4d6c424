"""rsolve.puzzles.dataset: formats, round trips, HRM folders, splits, token arrays."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rsolve.puzzles import Maze, Sudoku
from rsolve.puzzles.dataset import (DatasetError, Example, dataset_hash, detect_format, example_from_json,
                                    example_to_json, iter_examples, load_examples, split_examples,
                                    to_token_arrays, write_examples)

PUZZLE = ".5..83.17...1..4..3.4..56.8....3...9.9.8245....6....7...9....5...729..861.36.72.4"
SOLUTION = "652483917978162435314975628825736149791824563436519872269348751547291386183657294"
PUZZLE2 = "2.6.3......1.65.7..471.8.5.5......29..8.194.6...42...1....428..6.93....5.7.....13"
SOLUTION2 = "256734198891265374347198652514683729728519436963427581135942867689371245472856913"
MAZE = ["#####", "#S..#", "#.#.#", "#..G#", "#####"]
SOLVED = ["#####", "#Soo#", "#.#o#", "#..G#", "#####"]


def sudoku_examples():
    return [Example(Sudoku.from_string(PUZZLE), Sudoku.from_string(SOLUTION), 7, "a:1"),
            Example(Sudoku.from_string(PUZZLE2), Sudoku.from_string(SOLUTION2), 2.5, "a:2"),
            Example(Sudoku.from_string(PUZZLE2), None, None, "a:3")]


def maze_examples():
    return [Example(Maze.from_rows(MAZE), Maze.from_rows(SOLVED), None, "m:1"),
            Example(Maze.from_rows(MAZE), None, 3, "m:2")]


def write_text(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def write_hrm(folder, inputs, labels):
    folder.mkdir()
    np.save(folder / "all__inputs.npy", inputs)
    np.save(folder / "all__labels.npy", labels)
    return folder


def test_import_does_not_load_numpy():
    code = "import sys, rsolve.puzzles.dataset; assert 'numpy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


@pytest.mark.parametrize("make", [sudoku_examples, maze_examples])
def test_round_trip(tmp_path, make):
    path = tmp_path / "data.jsonl"
    examples = make()
    assert write_examples(path, examples) == len(examples)
    assert detect_format(path) == "rsolve"
    back = load_examples(path)
    assert [example_to_json(e) for e in back] == [example_to_json(e) for e in examples]
    assert back[0].puzzle == examples[0].puzzle and back[0].solution == examples[0].solution
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(examples)
    assert list(json.loads(lines[0])) == ["kind", "puzzle", "solution", "rating", "source"]
    assert not [p for p in tmp_path.iterdir() if p.name != "data.jsonl"]  # no temp file left


def test_maze_json_layout():
    obj = example_to_json(maze_examples()[0])
    assert obj["puzzle"] == "\n".join(MAZE) and obj["solution"] == "\n".join(SOLVED)
    assert obj["kind"] == "maze" and example_from_json(obj, "x:1").solution.path_cells()


def test_write_is_atomic_and_one_kind(tmp_path):
    path = tmp_path / "data.jsonl"
    write_examples(path, sudoku_examples())
    before = path.read_bytes()
    with pytest.raises(DatasetError, match="mixed kinds"):
        write_examples(path, sudoku_examples() + maze_examples())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["data.jsonl"]


@pytest.mark.parametrize("line, message", [
    ('{"kind": "sudoku", "puzzle": ', "data.jsonl:2: bad JSON"),
    ('[1, 2]', "data.jsonl:2: expected a JSON object"),
    ('{"kind": "cube", "puzzle": "x"}', "'kind' must be one of"),
    ('{"kind": "sudoku"}', "'puzzle' must be a string"),
    ('{"kind": "sudoku", "puzzle": "%s", "rating": "hard"}' % PUZZLE, "rating must be a finite number"),
    ('{"kind": "sudoku", "puzzle": "%s", "solution": "%s"}' % (PUZZLE, SOLUTION2), "changes a given"),
    ('{"kind": "sudoku", "puzzle": "%s", "solution": "%s"}' % (PUZZLE, PUZZLE), "has blanks"),
    ('{"kind": "sudoku", "puzzle": "1234"}', "not a supported Sudoku size"),
    ('{"kind": "maze", "puzzle": "S.G"}', "mixed kinds"),
])
def test_jsonl_errors(tmp_path, line, message):
    first = json.dumps(example_to_json(sudoku_examples()[0]))
    path = write_text(tmp_path / "data.jsonl", first + "\n" + line + "\n")
    with pytest.raises(DatasetError, match=message) as info:
        load_examples(path)
    assert str(tmp_path / "data.jsonl") in str(info.value) and "\n" not in str(info.value)


def test_maze_solution_must_be_puzzle_plus_path():
    obj = example_to_json(maze_examples()[0])
    bad = dict(obj, solution="\n".join(["####o"] + SOLVED[1:]))  # a path on a wall
    with pytest.raises(DatasetError, match="x:3: solution is not the puzzle plus a path"):
        example_from_json(bad, "x:3")
    with pytest.raises(DatasetError, match="path cells"):
        example_from_json(dict(obj, puzzle=obj["solution"]), "x:3")


def test_missing_source_defaults_to_file_and_line(tmp_path):
    path = write_text(tmp_path / "d.jsonl", '\n{"kind": "sudoku", "puzzle": "%s"}\n' % PUZZLE)
    (ex,) = load_examples(path)
    assert (ex.source, ex.solution, ex.rating, ex.kind) == ("d.jsonl:2", None, None, "sudoku")


def test_detect_format(tmp_path):
    files = {
        "a.jsonl": json.dumps(example_to_json(sudoku_examples()[0])) + "\n",
        "b.csv": f"source,question,answer,rating\nx,{PUZZLE},{SOLUTION},3\n",
        "test_puzzles": f"{PUZZLE}:1:{SOLUTION}\n{PUZZLE2}:0\n",
        "c.txt": f"# comment\n{PUZZLE}\n",
        "d.maze": "\n".join(MAZE) + "\n",
    }
    for name, text in files.items():
        write_text(tmp_path / name, text)
    got = {name: detect_format(tmp_path / name) for name in files}
    assert got == {"a.jsonl": "rsolve", "b.csv": "csv", "test_puzzles": "tdoku-test", "c.txt": "puzzles",
                   "d.maze": "puzzles"}
    inputs, labels = to_token_arrays(maze_examples()[:1])
    hrm = write_hrm(tmp_path / "hrm", inputs, labels)
    assert detect_format(hrm) == detect_format(hrm / "all__inputs.npy") == "hrm"
    assert detect_format(str(hrm / "all__labels.npy")) == "hrm"
    (tmp_path / "empty").mkdir()
    np.save(tmp_path / "stray.npy", inputs)
    for bad in ("empty", "stray.npy", "missing.txt"):
        with pytest.raises(DatasetError, match=bad):
            detect_format(tmp_path / bad)
    with pytest.raises(DatasetError, match="unknown format 'xml'"):
        load_examples(tmp_path / "c.txt", fmt="xml")


def test_tdoku_test_format(tmp_path):
    text = f"# header\n{PUZZLE}:1:{SOLUTION}\n\n{PUZZLE2}:0\n{PUZZLE2}:2:{SOLUTION2}\n{PUZZLE}:847\r\n"
    examples = load_examples(write_text(tmp_path / "test_puzzles", text))
    assert [e.solution.to_string() if e.solution else None for e in examples] == [SOLUTION, None, None, None]
    assert [e.source for e in examples] == ["test_puzzles:2", "test_puzzles:4", "test_puzzles:5",
                                            "test_puzzles:6"]
    assert all(e.rating is None for e in examples)
    bad = write_text(tmp_path / "bad", f"{PUZZLE}:1:{SOLUTION}\n{PUZZLE}\n")
    with pytest.raises(DatasetError, match="bad:2: expected puzzle:count"):
        load_examples(bad, fmt="tdoku-test")


def test_csv_format(tmp_path):
    text = ("\ufeffsource,question,answer,rating\n"
            f"puzzles0_kaggle,{PUZZLE},{SOLUTION},0\n\n"
            f"puzzles2,{PUZZLE2.replace('.', '0')},{SOLUTION2},12.5\n")
    path = write_text(tmp_path / "train.csv", text)
    assert detect_format(path) == "csv"
    a, b = load_examples(path)
    assert (a.source, a.rating, a.solution.to_string()) == ("train.csv:2 (puzzles0_kaggle)", 0, SOLUTION)
    assert (b.source, b.rating, b.puzzle.to_string()) == ("train.csv:4 (puzzles2)", 12.5, PUZZLE2)
    assert type(a.rating) is int
    for body, message in [("question,answer\n", "expected the header"),
                          (f"source,question,answer,rating\nx,{PUZZLE},{SOLUTION}\n", "4 fields"),
                          (f"source,question,answer,rating\nx,{PUZZLE},{SOLUTION},hard\n", "not a number")]:
        with pytest.raises(DatasetError, match=message):
            load_examples(write_text(tmp_path / "bad.csv", body), fmt="csv")


def test_puzzles_format(tmp_path):
    text = f"{PUZZLE}\n\n" + "\n".join(SOLVED) + "\n"
    with pytest.raises(DatasetError, match="mixed kinds"):
        load_examples(write_text(tmp_path / "mixed.txt", text))
    (ex,) = load_examples(write_text(tmp_path / "maze.txt", "\n".join(SOLVED) + "\n"))
    assert ex.puzzle == Maze.from_rows(MAZE) and ex.solution == Maze.from_rows(SOLVED)  # a drawn path
    with pytest.raises(DatasetError, match=r"bad\.txt:2: .*duplicate"):
        load_examples(write_text(tmp_path / "bad.txt", f"{PUZZLE}\n55{PUZZLE[2:]}\n"))


def test_hrm_folder(tmp_path):
    examples = maze_examples()[:1] * 3
    inputs, labels = to_token_arrays(examples)
    folder = write_hrm(tmp_path / "maze-hard", inputs, labels)
    back = load_examples(folder)
    assert [e.source for e in back] == ["all__inputs.npy#0", "all__inputs.npy#1", "all__inputs.npy#2"]
    assert all(e.puzzle == examples[0].puzzle and e.solution == examples[0].solution for e in back)
    assert dataset_hash(folder) == dataset_hash(folder / "all__labels.npy") == hashlib.sha256(
        (folder / "all__inputs.npy").read_bytes() + (folder / "all__labels.npy").read_bytes()).hexdigest()


def test_hrm_errors(tmp_path):
    inputs, labels = to_token_arrays(maze_examples()[:1] * 3)
    bad_shape = write_hrm(tmp_path / "maze-hard", np.ones((10, 7), np.uint8), labels)
    with pytest.raises(DatasetError) as info:
        load_examples(bad_shape)
    assert str(info.value) == (f"{bad_shape / 'all__inputs.npy'}: expected a 2-D array of square grids, "
                               "got shape (10, 7)")
    with pytest.raises(DatasetError, match="does not match"):
        load_examples(write_hrm(tmp_path / "count", inputs, labels[:2]))
    wrong = labels.copy()
    wrong[1, 0] = 5  # a path on a wall
    with pytest.raises(DatasetError, match=r"all__labels\.npy: label 1 is not its input plus a path"):
        load_examples(write_hrm(tmp_path / "label", inputs, wrong))
    wrong = labels.copy()
    wrong[2, 0] = 9
    with pytest.raises(DatasetError, match="token ids 1-5"):
        load_examples(write_hrm(tmp_path / "ids", inputs, wrong))
    no_labels = tmp_path / "no-labels"
    no_labels.mkdir()
    np.save(no_labels / "all__inputs.npy", inputs)
    with pytest.raises(DatasetError, match="all__labels.npy"):
        load_examples(no_labels)


def test_dataset_hash(tmp_path):
    path = tmp_path / "d.jsonl"
    write_examples(path, sudoku_examples())
    digest = dataset_hash(path)
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    write_examples(path, sudoku_examples()[:2])
    assert dataset_hash(path) != digest
    with pytest.raises(DatasetError):
        dataset_hash(tmp_path / "nope.jsonl")


def test_split(tmp_path):
    examples = [Example(Sudoku.from_string(PUZZLE), None, None, f"s:{i}") for i in range(50)]
    train, val = split_examples(examples, 0.2, seed=1)
    assert len(val) == 10 and len(train) == 40
    assert {e.source for e in train}.isdisjoint(e.source for e in val)
    assert {e.source for e in train + val} == {e.source for e in examples}
    assert [e.source for e in train] == [e.source for e in examples if e in train]  # input order kept
    again = split_examples(iter(examples), 0.2, seed=1)
    assert [e.source for e in again[1]] == [e.source for e in val]
    assert [e.source for e in split_examples(examples, 0.2, seed=2)[1]] != [e.source for e in val]
    assert [len(v) for _, v in (split_examples(examples[:2], 0.01, 0), split_examples(examples[:2], 0.99, 0),
                                split_examples(examples, 0, 0), split_examples(examples[:1], 0.9, 0))] == [1, 1, 0, 1]
    with pytest.raises(ValueError):
        split_examples(examples, 1.5, 0)


def test_to_token_arrays():
    inputs, labels = to_token_arrays(sudoku_examples()[:2])
    assert inputs.shape == labels.shape == (2, 81) and inputs.dtype == labels.dtype == np.uint8
    assert inputs[0, 0] == 1 and inputs[0, 1] == 6  # blank -> 1, digit 5 -> 6
    assert labels[0].tolist() == [int(c) + 1 for c in SOLUTION]
    assert ((inputs == 1) | (inputs == labels)).all() and labels.min() == 2 and labels.max() == 10
    m_in, m_lab = to_token_arrays(maze_examples()[:1])
    assert m_in.shape == (1, 25) and m_in[0].tolist() == Maze.from_rows(MAZE).tokens()
    assert m_lab[0].tolist() == Maze.from_rows(SOLVED).tokens() and (m_lab == 5).sum() == 3
    small = Example(Sudoku.from_string("1.3.3.1.2.4.4.2."), Sudoku.from_string("1234341221434321"), None, "4")
    s_in, s_lab = to_token_arrays([small])
    assert s_in.shape == (1, 16) and s_lab.max() == 5
    with pytest.raises(DatasetError, match="a:3: no solution"):
        to_token_arrays(sudoku_examples())
    with pytest.raises(DatasetError, match="another size or kind"):
        to_token_arrays([sudoku_examples()[0], small])
    with pytest.raises(DatasetError):
        to_token_arrays([])


def test_iter_examples_streams(tmp_path):
    path = tmp_path / "big.jsonl"
    write_examples(path, (sudoku_examples()[0] for _ in range(100)))
    it = iter_examples(path)
    assert next(it).source == "a:1"


# Real data sets (../shared/data), skipped when absent.

def test_real_maze_hard(shared_data):
    folder = shared_data / "maze" / "maze-hard-30x30" / "train"
    assert detect_format(folder) == "hrm"
    examples = load_examples(folder)
    assert len(examples) == 1000 and all(e.solution is not None for e in examples)
    assert (examples[0].puzzle.height, examples[0].puzzle.width) == (30, 30)
    inputs, labels = to_token_arrays(examples)
    assert (inputs == np.load(folder / "all__inputs.npy")).all()
    assert (labels == np.load(folder / "all__labels.npy")).all()


def test_real_tdoku_test(shared_data):
    path = shared_data / "sudoku" / "tdoku-test" / "test_puzzles"
    assert detect_format(path) == "tdoku-test"
    examples = load_examples(path)
    assert len(examples) == 43 and sum(e.solution is not None for e in examples) == 18


def test_real_forum_hardest(shared_data):
    path = shared_data / "sudoku" / "tdoku-datasets" / "puzzles6_forum_hardest_1106"
    assert detect_format(path) == "puzzles"
    examples = load_examples(path)
    assert len(examples) == 375 and all(e.solution is None and e.kind == "sudoku" for e in examples)
