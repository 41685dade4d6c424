"""Easier tiers (`rsolve data easier`): K blanks filled from the solution, seeded, Sudoku only."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rsolve import verify
from rsolve.puzzles import Maze, Sudoku
from rsolve.puzzles.dataset import DatasetError, Example, load_examples, write_examples
from rsolve.puzzles.tiers import easier_examples, fill_blanks

RSOLVE = str(Path(sys.executable).parent / "rsolve")
PUZZLE = "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79"
SOLUTION = "534678912672195348198342567859761423426853791713924856961537284287419635345286179"
MAZE = "#########\n#S..#...#\n#.#.#.#.#\n#.#...#G#\n#########"
FORUM = "sudoku/tdoku-datasets/puzzles6_forum_hardest_1106"


def example(puzzle=PUZZLE, solution=SOLUTION, source="t:1"):
    return Example(Sudoku.from_string(puzzle), solution and Sudoku.from_string(solution), 7, source)


def run(*args):
    p = subprocess.run([RSOLVE, *args], capture_output=True, timeout=120)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def check_tier(orig: Example, tier: Example, k: int):
    """Every given kept, exactly min(k, blanks) more clues, filled digits from the solution, still solved by it."""
    assert all(g in (0, t) for g, t in zip(orig.puzzle.cells, tier.puzzle.cells))
    assert tier.puzzle.clues == orig.puzzle.clues + min(k, orig.puzzle.blanks)
    assert all(t == s for g, t, s in zip(orig.puzzle.cells, tier.puzzle.cells, orig.solution.cells) if t and not g)
    assert tier.solution == orig.solution and verify.check(tier.puzzle, tier.solution).ok


@pytest.mark.parametrize("k", [0, 1, 10, 20, 30])
def test_fill_keeps_givens_adds_k_clues_from_the_solution(k):
    orig = example()
    tier = fill_blanks(orig, k, seed=3)
    check_tier(orig, tier, k)
    assert tier.source == f"t:1+fill{k}" and tier.rating is None


def test_k_beyond_the_blanks_fills_them_all():
    orig = example()
    tier = fill_blanks(orig, 500)
    check_tier(orig, tier, 500)
    assert tier.puzzle == orig.solution


def test_reproducible_by_seed_and_seeds_differ():
    orig = example()
    assert fill_blanks(orig, 10, seed=1).puzzle == fill_blanks(orig, 10, seed=1).puzzle
    tiers = {fill_blanks(orig, 10, seed=s).puzzle.to_string() for s in range(5)}
    assert len(tiers) == 5
    # the choice depends on the puzzle, not on its position in a file
    first, second = easier_examples([example(source="a"), orig], 10, seed=1)
    assert first.puzzle == second.puzzle


def test_errors_for_mazes_and_unlabelled_input():
    maze = Maze.from_rows(MAZE.split("\n"))
    with pytest.raises(DatasetError, match="maze"):
        fill_blanks(Example(maze, None, None, "m:1"), 3)
    with pytest.raises(DatasetError, match=r"t:1: no solution.*--label"):
        list(easier_examples([example(solution=None)], 10))


def test_label_fills_missing_solutions_with_the_exact_solver():
    from rsolve.verify.label import labelled  # what `rsolve data import --label` uses

    orig = example(solution=None)
    (tier,) = easier_examples([orig], 20, seed=0, label=labelled)
    check_tier(example(), tier, 20)
    no_unique = example(puzzle="." * 81, solution=None)
    with pytest.raises(DatasetError, match="no unique solution"):
        list(easier_examples([no_unique], 20, label=labelled))


def test_cli_easier(tmp_path):
    src = tmp_path / "set.jsonl"
    write_examples(src, [example(source="a:1"), example(puzzle=PUZZLE.replace("5", ".", 1), source="a:2")])
    out = tmp_path / "fill10.jsonl"
    code, stdout, err = run("data", "easier", str(src), str(out), "--fill", "10", "--seed", "4")
    assert code == 0 and stdout == "" and "wrote 2 examples" in err and "20 cells filled" in err
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["source"] for r in rows] == ["a:1+fill10", "a:2+fill10"] and rows[0]["rating"] is None
    for orig, tier in zip(load_examples(src), load_examples(out)):
        check_tier(orig, tier, 10)
    again = tmp_path / "again.jsonl"
    assert run("data", "easier", str(src), str(again), "--fill", "10", "--seed", "4")[0] == 0
    assert again.read_bytes() == out.read_bytes()


def test_cli_errors_are_one_line_exit_2(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text(PUZZLE + "\n")
    code, _, err = run("data", "easier", str(plain), str(tmp_path / "o.jsonl"), "--fill", "10")
    assert code == 2 and "plain.txt:1" in err and "--label" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.jsonl").exists()
    maze = tmp_path / "maze.txt"
    maze.write_text(MAZE + "\n")
    code, _, err = run("data", "easier", str(maze), str(tmp_path / "m.jsonl"), "--fill", "10")
    assert code == 2 and "maze" in err and len(err.strip().splitlines()) == 1


def test_real_set_with_label(shared_data, tmp_path):
    """The first puzzles of forum_hardest_1106 (no solutions stored), labelled by the exact solver."""
    lines = (shared_data / FORUM).read_text().splitlines()
    head = tmp_path / "forum_head.txt"
    head.write_text("\n".join(lines[:8]) + "\n")  # `#` comment lines, then the first puzzles
    originals = load_examples(head)
    assert originals and all(ex.solution is None for ex in originals)
    out = tmp_path / "forum.fill30.jsonl"
    code, _, err = run("data", "easier", str(head), str(out), "--fill", "30", "--label")
    assert code == 0, err
    tiers = load_examples(out)
    assert len(tiers) == len(originals)
    for orig, tier in zip(originals, tiers):
        assert tier.source == f"{orig.source}+fill30"
        check_tier(Example(orig.puzzle, tier.solution, None, orig.source), tier, 30)
