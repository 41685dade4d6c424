"""Sudoku checking: a direct rule check for answers, and a SAT encoding for proofs.

`check_sudoku` is what decides whether an answer is reported as solved. The SAT
side (python-sat) solves, proves uniqueness and counts solutions; one solver per
grid side is built once and reused, with each puzzle's givens passed as
assumptions (rebuilding the clause set per puzzle is ~40x slower).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ..puzzles.cnf import sat_solver, sudoku_clauses
from ..puzzles.sudoku import Sudoku, geometry, symbol, unit_getters

# Fastest incremental solvers first, measured on puzzles6_forum_hardest_1106
# (cadical300 ~740 puzzles/s, cadical153 ~500/s on one core).
SOLVER_PREFERENCE = ("cadical300", "cadical195", "cadical153", "minisat22")


@dataclass(frozen=True)
class Verdict:
    """What a verifier found. `optimal` is only meaningful for mazes."""

    ok: bool
    reason: str | None = None
    optimal: bool | None = None

    @property
    def accepted(self) -> bool:
        """Good enough to report as solved: valid, and optimal where that applies."""
        return self.ok and self.optimal is not False


def check_sudoku(puzzle: Sudoku, answer: Sudoku) -> Verdict:
    """Accept `answer` only if it is complete, keeps every given and breaks no rule."""
    if answer.side != puzzle.side:
        return Verdict(False, f"answer is {answer.side}x{answer.side}, puzzle is {puzzle.side}x{puzzle.side}")
    cells = answer.cells
    changed = [i for i, g in enumerate(puzzle.cells) if g and g != cells[i]]
    if changed:
        r, c = divmod(changed[0], puzzle.side)
        g, v = puzzle.cells[changed[0]], cells[changed[0]]
        return Verdict(False, f"given {symbol(g)} at r{r + 1}c{c + 1} changed to {symbol(v)}")
    if 0 in cells:
        return Verdict(False, f"{cells.count(0)} cells left blank")
    n = puzzle.side
    for u, get in enumerate(unit_getters(n)):
        if len(set(get(cells))) != n:
            return Verdict(False, f"{geometry(n).unit_name(u)} repeats a value")
    return Verdict(True)


class SudokuSAT:
    """One reusable SAT solver for all puzzles of one side."""

    def __init__(self, side: int):
        self.side = side
        self.solver, self.solver_name = sat_solver(SOLVER_PREFERENCE, sudoku_clauses(side))
        self._next_var = side ** 3 + 1  # fresh activation literals for blocking clauses

    def _assumptions(self, puzzle: Sudoku) -> list[int]:
        s = self.side
        return [i * s + v for i, v in enumerate(puzzle.cells) if v]

    def _decode(self, model: list[int]) -> tuple[int, ...]:
        # exactly one true literal per cell, and the model lists variables in order
        s = self.side
        return tuple((lit - 1) % s + 1 for lit in model[: s ** 3] if lit > 0)

    def solve(self, puzzle: Sudoku) -> Sudoku | None:
        """A solution, or None when the givens admit none (a proof, not a timeout)."""
        if not self.solver.solve(assumptions=self._assumptions(puzzle)):
            return None
        return puzzle.with_cells(self._decode(self.solver.get_model()))

    def solutions(self, puzzle: Sudoku, limit: int) -> list[Sudoku]:
        """Up to `limit` distinct solutions (fewer means that is all there are)."""
        found: list[Sudoku] = []
        act = self._next_var
        self._next_var += 1
        assumptions = self._assumptions(puzzle) + [act]
        blanks = [i for i, v in enumerate(puzzle.cells) if not v]
        while len(found) < limit and self.solver.solve(assumptions=assumptions):
            sol = puzzle.with_cells(self._decode(self.solver.get_model()))
            found.append(sol)
            # block this solution, only while `act` is assumed
            self.solver.add_clause([-act] + [-(i * self.side + sol.cells[i]) for i in blanks])
        self.solver.add_clause([-act])  # retire the blocking clauses for good
        return found

    def count(self, puzzle: Sudoku, limit: int = 2) -> int:
        return len(self.solutions(puzzle, limit))

    def is_unique(self, puzzle: Sudoku, solution: Sudoku) -> bool:
        """True when `solution` is the only one: the givens plus 'differs somewhere' is UNSAT."""
        act = self._next_var
        self._next_var += 1
        blanks = [i for i, v in enumerate(puzzle.cells) if not v]
        self.solver.add_clause([-act] + [-(i * self.side + solution.cells[i]) for i in blanks])
        other = self.solver.solve(assumptions=self._assumptions(puzzle) + [act])
        self.solver.add_clause([-act])
        return not other


@lru_cache(maxsize=None)
def sat_for(side: int) -> SudokuSAT:
    """The shared solver for one side, built on first use."""
    return SudokuSAT(side)
