"""Puzzle generators: uniqueness, reproducibility, filters, the rating solver and mazes."""

import random

import pytest

from rsolve.generate import (GenerationError, generate_maze, generate_sudoku, iter_maze,
                             iter_sudoku, rate_sudoku)
from rsolve.puzzles import Maze, Sudoku
from rsolve.puzzles.maze import bfs_path
from rsolve.verify import check
from rsolve.verify.sudoku import sat_for

HARD = "........8..3...4...9..2..6.....79.......612...6.5.2.7...8...5...1.....2.4.5.....3"
EASY = "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79"
EASY_SOLUTION = "534678912672195348198342567859761423426853791713924856961537284287419635345286179"


@pytest.mark.parametrize("side", [4, 6, 9])
def test_generated_sudoku_has_one_solution_matching_the_returned_one(side):
    for puzzle, solution, rating in iter_sudoku(side, 3, side=side):
        assert puzzle.side == solution.side == side
        assert solution.is_complete() and check(puzzle, solution).accepted
        assert sat_for(side).count(puzzle, 2) == 1
        assert sat_for(side).solve(puzzle) == solution
        assert rating.solved == solution
        assert 0 < puzzle.clues < side * side


def test_generated_puzzles_are_minimal():
    # every remaining clue is needed: blanking any one of them allows a second solution
    puzzle, _, _ = generate_sudoku(random.Random(3), side=6)
    for i, v in enumerate(puzzle.cells):
        if v:
            cells = list(puzzle.cells)
            cells[i] = 0
            assert sat_for(6).count(Sudoku(6, tuple(cells)), 2) == 2


def test_same_seed_same_puzzles_different_seed_differs():
    a = [(p.to_string(), s.to_string(), r.rating) for p, s, r in iter_sudoku(7, 3)]
    b = [(p.to_string(), s.to_string(), r.rating) for p, s, r in iter_sudoku(7, 3)]
    c = [(p.to_string(), s.to_string(), r.rating) for p, s, r in iter_sudoku(8, 3)]
    assert a == b
    assert len({x[0] for x in a}) == 3  # a stream does not repeat itself
    assert not {x[0] for x in a} & {x[0] for x in c}
    assert [m.grid for m, _ in iter_maze(1, 2, height=12, width=12, min_path=20)] == \
           [m.grid for m, _ in iter_maze(1, 2, height=12, width=12, min_path=20)]
    assert next(iter_maze(1, 1, height=12, width=12, min_path=20))[0] != \
           next(iter_maze(2, 1, height=12, width=12, min_path=20))[0]


def test_clue_filters():
    rng = random.Random(5)
    # a minimal 9x9 puzzle has about 22-26 clues, so a floor of 40 must stop the digging
    puzzle, solution, _ = generate_sudoku(rng, min_clues=40)
    assert puzzle.clues == 40 and sat_for(9).is_unique(puzzle, solution)
    puzzle, _, _ = generate_sudoku(rng, min_clues=30, max_clues=32)
    assert 30 <= puzzle.clues <= 32
    puzzle, _, _ = generate_sudoku(rng, max_clues=24)
    assert puzzle.clues <= 24


def test_rating_filters():
    _, _, rating = generate_sudoku(random.Random(2), min_rating=1, max_rating=50)
    assert 1 <= rating.rating <= 50
    _, _, rating = generate_sudoku(random.Random(2), max_rating=0)
    assert rating.rating == 0


def test_rating_of_singles_puzzle_and_hard_puzzle():
    easy = rate_sudoku(Sudoku.from_string(EASY))
    assert easy.solved.to_string() == EASY_SOLUTION
    assert easy.backtracks == easy.rating == 0 and easy.nodes == 1
    hard_puzzle = Sudoku.from_string(HARD)
    hard = rate_sudoku(hard_puzzle)
    assert hard.backtracks > 0 and hard.rating == hard.backtracks
    assert hard.nodes > hard.backtracks
    assert hard.solved == sat_for(9).solve(hard_puzzle)
    assert rate_sudoku(hard_puzzle) == hard  # deterministic


@pytest.mark.parametrize("side", [8, 12])
def test_rating_solver_other_sides(side):
    solution = sat_for(side).solve(Sudoku(side, (0,) * side * side))
    cells = list(solution.cells)
    for i in range(0, len(cells), 3):
        cells[i] = 0
    rating = rate_sudoku(Sudoku(side, tuple(cells)))
    assert check(Sudoku(side, tuple(cells)), rating.solved).accepted


def test_rating_of_contradictory_puzzle():
    no_solution = Sudoku.from_string("12345678." + "........9" + "." * 63)
    rating = rate_sudoku(no_solution)
    assert rating.solved is None and rating.backtracks >= 1


def _check_maze(puzzle: Maze, solution: Maze, height: int, width: int, min_path: int):
    assert (puzzle.height, puzzle.width) == (solution.height, solution.width) == (height, width)
    assert len(puzzle.grid) == height * width
    assert puzzle.grid.count("S") == puzzle.grid.count("G") == 1
    assert Maze.from_rows(puzzle.rows()) == puzzle
    assert "o" not in puzzle.grid and solution.puzzle() == puzzle
    path = bfs_path(puzzle)
    assert path is not None and len(path) > min_path
    assert solution.path_cells() == frozenset(path)
    walls = puzzle.grid.count("#") / len(puzzle.grid)
    assert 0.15 < walls < 0.6


def test_small_mazes():
    for puzzle, solution in iter_maze(4, 5, height=12, width=12, min_path=20):
        _check_maze(puzzle, solution, 12, 12, 20)
    puzzle, solution = generate_maze(random.Random(0), height=8, width=15, min_path=12)
    _check_maze(puzzle, solution, 8, 15, 12)


def test_maze_hard_size():
    puzzle, solution = generate_maze(random.Random(0))
    _check_maze(puzzle, solution, 30, 30, 110)


def test_impossible_requests_raise():
    with pytest.raises(GenerationError, match="in 3 tries"):
        generate_sudoku(random.Random(0), max_clues=5, max_tries=3)
    with pytest.raises(GenerationError, match="side 7"):
        generate_sudoku(random.Random(0), side=7)
    with pytest.raises(GenerationError, match="clue range"):
        generate_sudoku(random.Random(0), min_clues=30, max_clues=20)
    with pytest.raises(GenerationError, match="in 5 tries"):
        generate_maze(random.Random(0), height=10, width=10, min_path=60, max_tries=5)
    with pytest.raises(GenerationError, match="2x2"):
        generate_maze(random.Random(0), height=1, width=10)
    with pytest.raises(GenerationError, match="wall_min"):
        generate_maze(random.Random(0), wall_min=0.5, wall_max=0.4)
    with pytest.raises(GenerationError, match="wall_min"):
        generate_maze(random.Random(0), wall_max=1.0)
    with pytest.raises(GenerationError, match="min_path"):
        generate_maze(random.Random(0), min_path=-1)
    with pytest.raises(GenerationError, match="no path of more than"):
        generate_maze(random.Random(0), height=3, width=3, min_path=7)
    assert issubclass(GenerationError, ValueError)
