"""Lattices and their sound transfer functions: closure never loses a solution,
bottom is detected, symmetric views round-trip, training targets are right."""

import functools

import numpy as np
import pytest
import torch

from rsolve.generate import iter_maze, iter_sudoku
from rsolve.lattice import domain_for
from rsolve.lattice.maze import FREE, ON_PATH, maze_target
from rsolve.lattice.rounds import SymmetryPool, project
from rsolve.puzzles import Maze
from rsolve.verify import check


def _solution_inside(cand, solution_cells, side):
    onehot = torch.nn.functional.one_hot(torch.tensor(solution_cells) - 1, side).bool()
    return bool((cand & onehot).any(-1).all())


def test_singles_closure_keeps_the_solution_and_solves_easy_puzzles():
    d = domain_for("sudoku")
    pairs = [(p, s) for p, s, _ in iter_sudoku(seed=3, count=30)]
    cand, fixed, static = d.encode([p for p, _ in pairs])
    closed = d.close(cand, static)
    assert (closed <= cand).all()  # only removes
    for row, (p, s) in zip(closed, pairs):
        assert _solution_inside(row, s.cells, 9)
    solved = d.decided(closed, static) & ~d.bottom(closed, static)
    for row, (p, s) in zip(closed[solved], [pr for pr, ok in zip(pairs, solved) if ok]):
        assert d.decode(row, p) == s
    assert solved.any()  # most generated puzzles fall to singles alone


def test_bottom_detects_contradictions():
    d = domain_for("sudoku")
    p, s, _ = next(iter_sudoku(seed=5, count=1))
    cand, fixed, static = d.encode([p])
    assert not d.bottom(cand, static)[0]
    wrong = list(s.cells)
    blank = next(i for i, v in enumerate(p.cells) if v == 0)
    wrong[blank] = wrong[blank] % 9 + 1
    state = torch.nn.functional.one_hot(torch.tensor(wrong) - 1, 9).bool()[None]
    assert d.bottom(state, static)[0] and d.decided(state, static)[0]
    empty = cand.clone()
    empty[0, blank] = False
    assert d.bottom(empty, static)[0]


@functools.lru_cache(maxsize=None)  # made once per side: 16x16 puzzles take ~30 s to generate
def _random_branch_states(side: int, count: int, seed: int) -> torch.Tensor:
    """States like a search's: a puzzle's closed top after a few branches (mostly
    the solution's value, sometimes a wrong one) and network-like eliminations of
    values that are not the solution's, then closed again or not; some consistent,
    some bottom."""
    from rsolve.lattice.sudoku import SudokuLattice

    lat, g = SudokuLattice(side), torch.Generator().manual_seed(seed)
    pairs = [(p, sol) for p, sol, _ in iter_sudoku(seed=seed, count=count, side=side)]
    cand = lat.settle_matrix(lat.top(torch.tensor([p.cells for p, _ in pairs])))[0]
    solution = torch.nn.functional.one_hot(torch.tensor([sol.cells for _, sol in pairs]) - 1, side).bool()
    rows = torch.arange(count)
    for step in range(3):
        cell = torch.randint(side * side, (count,), generator=g)
        wrong = torch.randint(side, (count,), generator=g)
        value = torch.where(torch.rand(count, generator=g) < 0.8, solution[rows, cell].int().argmax(-1), wrong)
        cand = cand & ~((torch.rand(cand.shape, generator=g) < 0.2) & ~solution)
        cand[rows, cell] = False
        cand[rows, cell, value] = True
        if step < 2:
            cand = torch.where((torch.rand(count, generator=g) < 0.5)[:, None, None], lat.settle_matrix(cand)[0], cand)
    return cand


@pytest.mark.parametrize("locked", [False, True])
@pytest.mark.parametrize("closure", ["unit_propagation", "bitmask_closure"])
@pytest.mark.parametrize("side", [4, 6, 9, 16])
def test_cpu_closures_equal_the_matrix_closure(side, closure, locked):
    """The CPU closures (python-sat unit propagation, numpy bitmasks) and the batched
    matrix closure reach the same states and the same bottom verdicts, with and
    without locked candidates (6x6: boxes that are not square)."""
    from rsolve.lattice import sudoku

    cand = _random_branch_states(side, 24 if side == 16 else 60, seed=side)
    lat = sudoku.SudokuLattice(side)
    want, want_bottom = lat.settle_matrix(cand, locked)
    got, got_bottom = getattr(sudoku, closure)(side, locked).settle(cand)
    assert (got <= cand).all()
    assert torch.equal(got_bottom, want_bottom)
    assert torch.equal(got_bottom, lat.bottom(want))
    assert torch.equal(got[~got_bottom], want[~want_bottom])
    assert 0 < int(got_bottom.sum()) < len(cand)  # both kinds were exercised


@pytest.mark.parametrize("side", [6, 9])  # singles alone solve generated 4x4 puzzles; 16x16 ones take minutes to make
def test_locked_candidates_are_sound_and_stronger_than_singles(side):
    """On states that still hold their solution, the locked closure keeps every
    solution value, removes at least what singles remove, and strictly more on
    some states (so the rule does something)."""
    from rsolve.lattice.sudoku import SudokuLattice

    lat, g = SudokuLattice(side), torch.Generator().manual_seed(side)
    pairs = [(p, sol) for p, sol, _ in iter_sudoku(seed=side, count=40, side=side)]
    solution = torch.nn.functional.one_hot(torch.tensor([sol.cells for _, sol in pairs]) - 1, side).bool()
    top = lat.top(torch.tensor([p.cells for p, _ in pairs]))
    # network-like sound eliminations: drop some non-solution values, keep the solution
    cand = top & ~((torch.rand(top.shape, generator=g) < 0.15) & ~solution)
    from rsolve.lattice.sudoku import unit_propagation

    singles, single_bottom = lat.settle(cand)
    for locked, locked_bottom in (lat.settle(cand, locked=True), unit_propagation(side, True).settle(cand)):
        assert not single_bottom.any() and not locked_bottom.any()
        assert (locked & solution).sum() == solution.sum()
        assert (locked <= singles).all()
        assert (locked.sum() < singles.sum()) and (locked != singles).flatten(1).any(-1).sum() > 0


def test_projection_never_touches_givens_or_revives():
    d = domain_for("sudoku")
    p, _, _ = next(iter_sudoku(seed=1, count=1))
    cand, fixed, _ = d.encode([p])
    cand[0, 0] = False if not fixed[0, 0] else cand[0, 0]
    new, dropped = project(cand, fixed, torch.full(cand.shape, -20.0), 0.1)  # "drop everything"
    assert (new[fixed] == cand[fixed]).all()
    assert not new[~fixed].any()
    assert (new <= cand).all() and dropped[0] == (cand & ~fixed[..., None]).sum()


@pytest.mark.parametrize("kind", ["sudoku", "maze"])
def test_symmetric_views_round_trip_and_keep_validity(kind):
    d = domain_for(kind, height=9, width=9) if kind == "maze" else domain_for(kind)
    pool = SymmetryPool(d, 32, seed=1)
    x = torch.rand(32, d.cells, d.values)
    idx = torch.arange(32)
    assert torch.equal(pool.from_view(pool.to_view(x, idx, d.permute_values), idx, d.permute_values), x)
    if kind == "sudoku":
        _, s, _ = next(iter_sudoku(seed=2, count=1))
        sol = torch.nn.functional.one_hot(torch.tensor(s.cells) - 1, 9).bool()[None].expand(32, -1, -1)
        views = pool.to_view(sol, idx)
        assert not d.bottom(views, None).any() and d.decided(views, None).all()


def test_dead_end_closure_keeps_every_shortest_path():
    for maze, solution in iter_maze(seed=4, count=5, height=12, width=12, min_path=10):
        d = domain_for("maze", height=12, width=12)
        cand, fixed, static = d.encode([maze])
        closed = d.close(cand, static)
        assert (closed[0, list(solution.path_cells()), ON_PATH]).all()
        assert not d.bottom(closed, static)[0]


def test_maze_target_on_real_data(shared_data):
    x = np.load(shared_data / "maze/maze-hard-30x30/train/all__inputs.npy")[:20]
    y = np.load(shared_data / "maze/maze-hard-30x30/train/all__labels.npy")[:20]
    d = domain_for("maze")
    for xi, yi in zip(x, y):
        maze, solved = Maze.from_tokens(xi, 30), Maze.from_tokens(yi, 30)
        cand, fixed, static = d.encode([maze])
        path = sorted(solved.path_cells())
        keep, ok = maze_target(cand[0].numpy(), maze.start, maze.goal, len(path) + 1, 30, 30)
        assert ok
        assert keep[path, ON_PATH].all()  # the label is one of the shortest paths kept
        # forcing a cell off every shortest path makes the state inconsistent
        off = next(i for i in range(900) if maze.grid[i] == "." and not keep[i, ON_PATH])
        bad = cand[0].numpy().copy()
        bad[off, FREE] = False
        assert maze_target(bad, maze.start, maze.goal, len(path) + 1, 30, 30)[1] is False


def test_maze_decode_gives_a_verifiable_answer():
    maze, solution = next(iter_maze(seed=6, count=1, height=10, width=10, min_path=8))
    d = domain_for("maze", height=10, width=10)
    cand, _, static = d.encode([maze])
    on = torch.zeros(100, dtype=torch.bool)
    on[list(solution.path_cells())] = True
    state = cand[0].clone()
    assert not d.decided(state[None], static)[0]
    state[on, FREE] = False  # force the path: the chain from S now reaches G
    assert d.decided(state[None], static)[0]
    assert d.decode(state, maze) == solution and check(maze, d.decode(state, maze)).accepted


def test_maze_target_refuses_overlong_chains():
    """A forced chain longer than the shortest distance (even with G cut off) is inconsistent."""
    maze, solution = next(iter_maze(seed=6, count=1, height=10, width=10, min_path=8))
    d = domain_for("maze", height=10, width=10)
    cand, _, _ = d.encode([maze])
    state = cand[0].numpy().copy()
    first = next(j for j in maze.neighbours(maze.start) if j in solution.path_cells())
    state[first, FREE] = False  # a chain of one step from S
    for j in maze.neighbours(maze.goal):
        state[j, ON_PATH] = False  # G cut off: BFS distance -1
    assert maze_target(state, maze.start, maze.goal, 0, 10, 10) == (None, False)
