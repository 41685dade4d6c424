"""The shipped maze checkpoints (grid networks) on freshly generated mazes of sizes
they were and were not trained on: every answer verified, a maze without a path
proven unsolvable, never a guess."""

import random

import pytest

from rsolve import verify
from rsolve.engines import create
from rsolve.generate import generate_maze
from rsolve.puzzles import Maze



def _mazes(n, size, min_path, seed):
    rng = random.Random(seed)
    return [generate_maze(rng, size, size, min_path=min_path)[0] for _ in range(n)]


@pytest.fixture(scope="module")
def ldt_engine():
    return create("ldt", "maze", checkpoint="ldt-maze")


@pytest.mark.parametrize("size,min_path", [(8, 8), (12, 17)])
def test_shipped_ldt_solves_fresh_mazes_of_any_size(ldt_engine, size, min_path):
    mazes = _mazes(4, size, min_path, seed=900 + size)
    for maze, attempt in zip(mazes, ldt_engine.solve_batch(mazes)):
        assert attempt.status == "found", attempt.reason
        assert verify.check(maze, attempt.solution).accepted
        assert attempt.stats["network"]


def test_network_alone_is_sound():
    engine = create("ldt", "maze", checkpoint="ldt-maze", propagate="none")
    mazes = _mazes(4, 10, 12, seed=77)
    found = 0
    for maze, attempt in zip(mazes, engine.solve_batch(mazes)):
        assert attempt.status in ("found", "abstained")
        if attempt.status == "found":
            found += 1
            assert verify.check(maze, attempt.solution).accepted
    assert found >= 3


def test_maze_without_a_path_is_proven_unsolvable(ldt_engine):
    rows = ["S..#....",
            "...#.##.",
            ".#.#....",
            "...#..G."]
    attempt = ldt_engine.solve_batch([Maze.from_rows(rows)])[0]
    assert attempt.status == "unsolvable" and attempt.solution is None
