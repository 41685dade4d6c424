"""Verifiers and exact engines, on hand-made cases and on the real data sets."""

import random

import pytest

from rsolve import api
from rsolve.puzzles import Maze, Sudoku, parse_text
from rsolve.puzzles.maze import WALL, bfs_path
from rsolve.verify import check, count_shortest_paths, is_unique, sat_for, shortest_distance

PUZZLE = "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79"
SOLUTION = "534678912672195348198342567859761423426853791713924856961537284287419635345286179"


def test_direct_check_accepts_solution_and_names_faults():
    p, s = Sudoku.from_string(PUZZLE), Sudoku.from_string(SOLUTION)
    assert check(p, s).accepted
    swapped = SOLUTION[1] + SOLUTION[0] + SOLUTION[2:]  # breaks the given 5 at r1c1
    assert "given 5 at r1c1" in check(p, Sudoku(9, tuple(int(c) for c in swapped))).reason
    blank = Sudoku(9, (0,) + s.cells[1:])
    assert "blank" in check(Sudoku(9, (0,) * 81), blank).reason
    bad = list(s.cells)
    bad[80] = bad[79]
    assert not check(Sudoku(9, (0,) * 81), Sudoku(9, tuple(bad))).ok


def test_sat_solve_count_unique():
    sat = sat_for(9)
    p = Sudoku.from_string(PUZZLE)
    sol = sat.solve(p)
    assert sol.to_string() == SOLUTION and sat.is_unique(p, sol)
    empty = Sudoku(9, (0,) * 81)
    assert sat.count(empty, 5) == 5
    assert not sat.is_unique(empty, sat.solve(empty))
    assert sat.solve(p).to_string() == SOLUTION  # blocking clauses were retired


@pytest.mark.parametrize("side", [4, 6, 8, 16])
def test_sat_other_sides(side):
    empty = Sudoku(side, (0,) * side * side)
    sol = sat_for(side).solve(empty)
    assert check(empty, sol).accepted


def test_tdoku_test_puzzles_classified(shared_data):
    """All 43 verifier cases: no solution / unique / several, and given solutions match."""
    lines = (shared_data / "sudoku/tdoku-test/test_puzzles").read_text().split()
    assert len(lines) == 43
    sat = sat_for(9)
    for line in lines:
        puzzle, count, *solution = line.split(":")
        p = Sudoku.from_string(puzzle)
        found = sat.solutions(p, 2)
        assert len(found) == min(int(count), 2), line
        if solution:
            assert found[0].to_string() == solution[0]
            assert check(p, found[0]).accepted and is_unique(p, found[0])


@pytest.mark.parametrize("name", ["puzzles6_forum_hardest_1106", "puzzles3_magictour_top1465"])
def test_sat_engine_solves_hard_sets(shared_data, name):
    text = (shared_data / "sudoku/tdoku-datasets" / name).read_text()
    results = api.solve(text, model="sat", check_unique=True)
    assert len(results) == {"puzzles6_forum_hardest_1106": 375, "puzzles3_magictour_top1465": 1465}[name]
    for r in results:
        assert r.status == "solved" and r.verified and r.unique
        assert check(r.puzzle, r.solution).accepted


def test_unsolvable_sudoku_is_proved():
    # r1 needs a 9 but column 9 already has one below: consistent givens, no solution
    text = "12345678." + "........9" + "." * 63
    (r,) = api.solve(text, model="sat")
    assert r.status == "unsolvable" and r.solution is None


MAZE = "#########\n#S..#...#\n#.#.#.#.#\n#.#...#G#\n#########"


def _path_maze(maze, path):
    return maze.with_path(path)


def test_maze_verifier_valid_optimal_and_faults():
    m = Maze.from_rows(MAZE.split("\n"))
    path = bfs_path(m)
    assert len(path) + 1 == shortest_distance(m)
    good = m.with_path(path)
    assert check(m, good).accepted
    assert not check(m, m.with_path(path[:-1])).ok  # broken chain
    assert "crosses a wall" in check(m, Maze(m.height, m.width, good.grid[:1] + "o" + good.grid[2:])).reason


def _longer_path(maze: Maze, rng: random.Random) -> list[int]:
    """A valid but non-optimal path: wall off shortest-path cells (never cutting S
    from G) until the shortest path of what is left is longer than the original."""
    best = shortest_distance(maze)
    grid, needed = list(maze.grid), set()
    path = bfs_path(maze)
    for _ in range(500):
        if len(path) + 1 > best:
            return path
        cell = rng.choice([c for c in path if c not in needed] or [None])
        if cell is None:
            return []
        grid[cell] = WALL
        trial = bfs_path(Maze(maze.height, maze.width, "".join(grid)))
        if trial is None:
            grid[cell], _ = ".", needed.add(cell)
        else:
            path = trial
    return []


def test_maze_hard_labels_accepted_and_corruptions_rejected(shared_data):
    import numpy as np

    root = shared_data / "maze/maze-hard-30x30/train"
    inputs, labels = np.load(root / "all__inputs.npy"), np.load(root / "all__labels.npy")
    rng = random.Random(0)
    longer_found = 0
    for i, (x, y) in enumerate(zip(inputs, labels)):
        puzzle, label = Maze.from_tokens(x, 30), Maze.from_tokens(y, 30)
        v = check(puzzle, label)
        assert v.ok and v.optimal, (i, v)
        if i % 50:
            continue
        cells = sorted(label.path_cells())
        gap = rng.choice(cells)
        broken = label.with_path(c for c in cells if c != gap)
        assert not check(puzzle, broken).ok
        wall = next(j for j, ch in enumerate(puzzle.grid) if ch == WALL)
        crossed = Maze(30, 30, label.grid[:wall] + "o" + label.grid[wall + 1:])
        assert "crosses a wall" in check(puzzle, crossed).reason
        detour = _longer_path(puzzle, rng)
        if detour:
            v = check(puzzle, puzzle.with_path(detour))
            assert v.ok and v.optimal is False and not v.accepted
            longer_found += 1
    assert longer_found >= 10


def test_maze_unique_shortest_path_count():
    corridor = Maze.from_rows(["#####", "#S.G#", "#####"])
    assert count_shortest_paths(corridor) == 1
    room = Maze.from_rows(["#####", "#S..#", "#..G#", "#####"])
    assert count_shortest_paths(room, 10) == 3


def test_bfs_engine_and_unreachable_goal():
    (r,) = api.solve(MAZE, model="bfs")
    assert r.status == "solved" and r.engine == "bfs" and r.verified
    for model in ("bfs", "auto"):  # auto: ldt, which proves it with its sound closure
        (r,) = api.solve("#####\n#S#G#\n#####", model=model)
        assert r.status == "unsolvable", model


def test_wrong_answer_never_reported_solved():
    """The pipeline, not the engine, decides: a lying engine's answers are rejected."""
    from rsolve import engines
    from rsolve.engines import Attempt, EngineSpec

    class Liar:
        name = "liar"

        def __init__(self, kind, **_):
            pass

        def solve_batch(self, puzzles):
            return [Attempt(Sudoku(9, tuple([1] * 81)), "found") for _ in puzzles]

    import sys
    import types

    mod = types.ModuleType("rsolve_test_liar")
    mod.Liar = Liar
    sys.modules["rsolve_test_liar"] = mod
    engines.register(EngineSpec("liar", ("sudoku",), "test", "rsolve_test_liar:Liar"))
    try:
        (r,) = api.solve(PUZZLE, model="liar")
        assert r.status == "abstained" and not r.verified and r.solution is None
        assert "rejected_by_verifier" in r.stats
    finally:
        del engines.REGISTRY["liar"]


def test_parse_then_solve_keeps_order():
    recs = parse_text(f"{PUZZLE}\n{MAZE}\n\nbad\n{PUZZLE}")
    results = api.solve(f"{PUZZLE}\n{MAZE}\n\nbad\n{PUZZLE}")
    assert [r.index for r in results] == [r.index for r in recs] == [0, 1, 2, 3]
    assert [r.status for r in results] == ["solved", "solved", "invalid", "solved"]


def test_maze_graph_matches_networkx_built_graph():
    import networkx as nx

    from rsolve.verify.maze import maze_graph

    m = Maze.from_rows(MAZE.split("\n"))
    fast = maze_graph(m)
    slow = nx.Graph()
    slow.add_nodes_from(i for i, ch in enumerate(m.grid) if ch != WALL)
    slow.add_edges_from((i, j) for i in slow for j in m.neighbours(i) if j in slow)
    assert nx.utils.graphs_equal(fast, slow)
    assert nx.shortest_path_length(fast, m.start, m.goal) == shortest_distance(m) == 12


def test_results_stream_before_input_is_exhausted():
    """Bounded memory: the first results arrive after reading about one batch, not all input."""
    consumed = 0

    def endless():
        nonlocal consumed
        while True:
            consumed += 1
            yield Sudoku.from_string(PUZZLE)

    it = api.solve_iter(endless(), model="sat", batch_size=8)
    first = [next(it) for _ in range(20)]
    assert all(r.status == "solved" for r in first)
    assert consumed <= 40


@pytest.mark.parametrize("solution,kind", [("5", "int"), ("true", "bool"), ("[1, 2]", "list"), ('{"a": 1}', "dict")])
def test_verify_non_string_solution_is_malformed_and_the_run_goes_on(solution, kind):
    import json

    from typer.testing import CliRunner

    from rsolve.cli import app

    lines = ['{"puzzle": "%s", "solution": %s}' % (PUZZLE, solution),
             '{"kind": "maze", "puzzle": "#S.G#", "solution": %s}' % solution,
             f"{PUZZLE}:{SOLUTION}"]
    checks = list(api.check_records(parse_text("\n".join(lines))))
    assert [c.valid for c in checks] == [False, False, True]
    assert all(c.reason == f"answer is malformed: 'solution' must be a string, got {kind}" for c in checks[:2])
    result = CliRunner().invoke(app, ["verify", "-", "-f", "jsonl"], input="\n".join(lines) + "\n")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.exit_code == 1 and [r["valid"] for r in rows] == [False, False, True]


def test_verify_status_of_any_json_type_is_no_crash():
    (c,) = api.check_records(parse_text('{"puzzle": "%s", "status": [[1]]}' % PUZZLE))
    assert c.valid is None and c.reason == "no answer to check"
