"""The Sudoku closure on the CPU: unit propagation by python-sat, one row at a time.

Naked and hidden singles to a fixed point are exactly unit propagation on the
exactly-one clauses of rsolve.puzzles.cnf: a cell left with one value fixes it
(its at-least-one clause is unit), a value left with one place in a unit takes it
(the unit's at-least-one clause), and a fixed value leaves the cell's other
values and its peers (the pairwise at-most-one clauses). A state goes in as
assumptions (a fixed cell as its one true literal, any other cell as its removed
values' false literals) and comes back as the literals propagation assigned, or
as a conflict, which is a bottom state. With the locked-candidate clauses
(rsolve.puzzles.cnf) the same propagation also does pointing and claiming.

On this CPU the batched matrix closure (SudokuLattice) pays a few microseconds of
dispatch for each of ~20 tensor operations per round, and a batch runs as many
rounds as its slowest row; MiniSat's propagation is C++ and stops each row at
its own fixed point. Large batches go to the bitmask closure instead
(rsolve.lattice.sudoku_bits); bench/closure.py measures all three on the batches a
search settles.
"""

from __future__ import annotations

import numpy as np
import torch

from ..puzzles.cnf import locked_candidate_clauses, sat_solver, sudoku_clauses
from ..puzzles.sudoku import geometry

# MiniSat-like solvers are the ones python-sat can ask to propagate only
PROPAGATING = ("minisat22", "glucose4", "minicard")


class UnitPropagation:
    def __init__(self, side: int, locked: bool = False):
        """`locked`: also locked candidates, by clauses the rules imply (rsolve.puzzles.cnf)."""
        self.side, self.cells = side, side * side
        clauses = sudoku_clauses(side) + (locked_candidate_clauses(side) if locked else [])
        self.solver, self.solver_name = sat_solver(PROPAGATING, clauses)
        self.var = np.arange(1, self.cells * side + 1, dtype=np.int64).reshape(self.cells, side)
        self.peers = np.zeros((self.cells, self.cells), dtype=np.float32)
        for cell, peers in enumerate(geometry(side).peers):
            self.peers[cell, list(peers)] = 1.0

    def settle(self, cand: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(closed states, bottom per row) for a (B, N, side) bool CPU tensor. A bottom
        row comes back as it went in: its contents no longer matter."""
        state = cand.numpy()
        fixed = state.sum(-1) == 1
        # one literal per fixed cell, the removed values elsewhere except those a fixed
        # peer removes anyway (fewer assumptions: a shorter list, less to propagate)
        taken = (self.peers @ (state & fixed[..., None]).astype(np.float32)) > 0
        lits = np.where(fixed[..., None], np.where(state, self.var, 0), np.where(state | taken, 0, -self.var))
        lits = lits.reshape(len(state), -1)
        keep = lits != 0
        flat, ends = lits[keep], np.cumsum(keep.sum(1))
        bottom = np.zeros(len(state), dtype=bool)
        propagate, found, start = self.solver.propagate, [], 0
        for i, end in enumerate(ends.tolist()):
            ok, assigned = propagate(assumptions=flat[start:end].tolist())
            start = end
            if ok:
                found.append(np.fromiter(assigned, dtype=np.int64, count=len(assigned)))
            else:
                bottom[i] = True
        # every literal propagation set, as (row, variable) pairs; the false ones are removed
        out = np.ones_like(lits, dtype=bool)
        if found:
            assigned = np.concatenate(found)
            rows = np.repeat(np.flatnonzero(~bottom), [len(f) for f in found])
            false = assigned < 0
            out[rows[false], -assigned[false] - 1] = False
        out[bottom] = state.reshape(len(state), -1)[bottom]
        return torch.from_numpy(out.reshape(state.shape)), torch.from_numpy(bottom)
