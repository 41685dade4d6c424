"""The Sudoku rules as CNF, and python-sat solvers built over them.

Shared by the verifier (which solves and counts with them) and the Sudoku
lattice (whose CPU closure is the solver's unit propagation). Variable
cell * side + value (value 1..side) says "cell holds value".
"""

from __future__ import annotations

import atexit
import itertools

from .sudoku import geometry, segments


def sudoku_clauses(side: int) -> list[list[int]]:
    """Exactly-one per cell and per (unit, value), pairwise at-most-one. Unit
    propagation on these clauses is exactly naked plus hidden singles."""
    geo = geometry(side)

    def var(cell: int, value: int) -> int:
        return cell * side + value

    groups = [[var(c, v) for v in range(1, side + 1)] for c in range(side * side)]
    groups += [[var(c, v) for c in unit] for unit in geo.units for v in range(1, side + 1)]
    out = []
    for group in groups:
        out.append(group)
        out.extend([-a, -b] for a, b in itertools.combinations(group, 2))
    return out


def locked_candidate_clauses(side: int) -> list[list[int]]:
    """Clauses the exactly-one ones imply, on which unit propagation also does locked
    candidates. Per segment S (a box B meeting a line L) and value v: a cell x of L
    outside S holding v means B holds v outside S (x's line excludes S), so
    [-x_v] + [y_v for y in B - S]; when no y may hold v, propagation removes v from
    x: pointing. Symmetrically [-y_v] + [x_v for x in L - S] for y in B - S: claiming."""
    units = geometry(side).units
    out = []
    for seg in segments(side):
        box_rest = [c for c in units[seg.box] if c not in seg.cells]
        line_rest = [c for c in units[seg.line] if c not in seg.cells]
        for v in range(1, side + 1):
            for here, there in ((line_rest, box_rest), (box_rest, line_rest)):
                out.extend([-(x * side + v)] + [y * side + v for y in there] for x in here)
    return out


_LIVE: list = []


def sat_solver(preference: tuple[str, ...], clauses: list[list[int]]):
    """(solver, name): the first solver of `preference` this python-sat has, loaded
    with `clauses` and deleted at exit."""
    from pysat import solvers
    from pysat.solvers import Solver, SolverNames

    # python-sat swaps in its own SIGINT handler around every call it thinks runs on
    # the main thread: Ctrl-C then surfaces as its own error, and where the shell
    # ignores SIGINT the handler swap corrupts the heap (seen: "corrupted double-linked
    # list", exit 134). Our calls take milliseconds, so Python's own handling of
    # Ctrl-C between calls is enough: tell python-sat to leave signals alone.
    solvers.MainThread.check = staticmethod(lambda: False)
    name = next(n for n in preference if hasattr(SolverNames, n))
    solver = Solver(name=name, bootstrap_with=clauses)
    if not _LIVE:
        atexit.register(_delete_all)
    _LIVE.append(solver)
    return solver, name


def _delete_all() -> None:
    # pysat's own finaliser fails noisily if it runs during interpreter teardown
    for solver in _LIVE:
        solver.delete()
    _LIVE.clear()
