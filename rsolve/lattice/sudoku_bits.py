"""The Sudoku closure on bitmasks, for large batches on the CPU.

A cell is one integer whose bit v says value v is still allowed; a round of
naked and hidden singles is a few dozen numpy operations on (cells, rows)
integers: a unit's fixed values by OR-ing its cells, "exactly one place in the
unit" by the once/twice trick (OR along the unit: a value seen again where it
was already seen is there twice). Rows that reached their fixed point leave the
loop. The rules are the matrix closure's, round for round, so the states are the
same (tests hold all three closures to that).

The layout is cells first, rows last: every gather then copies whole contiguous
rows of the batch and the OR along a unit is a handful of slab operations; with
rows first, numpy's accumulate and reduce along a 9-long axis cost more than the
rest of the round (bench/closure.py). "Exactly one bit" is a table lookup
(sides go up to 16: rsolve.puzzles.sudoku.MAX_SIDE).

Against unit propagation (rsolve.lattice.sudoku_units) its per-row cost is lower
and its per-call cost higher (every round pays numpy's per-operation overhead
whatever the batch): see BITMASK_FROM in rsolve.lattice.sudoku.
"""

from __future__ import annotations

import numpy as np
import torch

from ..puzzles.sudoku import geometry, segments


def _padded(lists: list[list[int]], pad: int) -> np.ndarray:
    """(longest, len(lists)) index array, short lists padded with `pad` (a zero row)."""
    width = max(len(x) for x in lists)
    return np.array([x + [pad] * (width - len(x)) for x in lists], dtype=np.intp).T.copy()


class BitmaskClosure:
    def __init__(self, side: int, locked: bool = False):
        """`locked`: each round also does locked candidates (pointing and claiming)."""
        geo = geometry(side)
        self.side, self.cells = side, side * side
        if side > 16:
            raise ValueError(f"a bitmask closure holds sides up to 16, not {side}")
        self.dtype = np.dtype("<u2")  # little-endian: _unpack reads its bytes in bit order
        self.full = self.dtype.type((1 << side) - 1)
        self.positions = np.array(geo.units, dtype=np.intp).T.copy()  # (side, U): k-th cell of every unit
        per_cell = [[u for u, unit in enumerate(geo.units) if c in unit] for c in range(self.cells)]
        self.cell_units = [np.array(col, dtype=np.intp) for col in zip(*per_cell)]  # row, column, box of each cell
        self.bits = (1 << np.arange(side)).astype(self.dtype)
        masks = np.arange(1 << side)
        self.lookup = np.where(np.bitwise_count(masks) == 1, masks, 0).astype(self.dtype)
        self.locked = locked
        if locked:  # per segment: its cells; the other segments of its box, and of its line, in its direction
            segs = segments(side)
            pad = len(segs)  # index of the zero row appended to per-segment masks (cells: N)
            same_box = [[t for t, o in enumerate(segs) if t != k and o.box == s.box and
                         (o.line < side) == (s.line < side)] for k, s in enumerate(segs)]
            same_line = [[t for t, o in enumerate(segs) if t != k and o.line == s.line] for k, s in enumerate(segs)]
            self.seg_cells = _padded([list(s.cells) for s in segs], self.cells)
            self.seg_box, self.seg_line = _padded(same_box, pad), _padded(same_line, pad)
            self.ragged = len({len(x) for x in same_box + same_line}) > 1 or len({len(s.cells) for s in segs}) > 1
            of = {(c, s.line < side): k for k, s in enumerate(segs) for c in s.cells}
            self.cell_segs = [np.array([of[c, True] for c in range(self.cells)], dtype=np.intp),
                              np.array([of[c, False] for c in range(self.cells)], dtype=np.intp)]

    def _single(self, m: np.ndarray) -> np.ndarray:
        """m where it has exactly one bit (a fixed cell), else 0."""
        return self.lookup[m]

    def _per_cell(self, per_unit: np.ndarray) -> np.ndarray:
        """(U, B) unit masks -> (N, B): the OR over each cell's row, column and box."""
        out = per_unit[self.cell_units[0]]
        for idx in self.cell_units[1:]:
            out |= per_unit[idx]
        return out

    def _once_twice(self, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per unit: the values allowed in at least one of its cells, and in two or more."""
        g = m[self.positions]  # (side, U, B)
        once, twice = g[0].copy(), np.zeros_like(g[0])
        for x in g[1:]:
            twice |= once & x
            once |= x
        return once, twice

    def _round(self, m: np.ndarray) -> np.ndarray:
        fixed = self._single(m)
        taken = np.bitwise_or.reduce(fixed[self.positions], axis=0)
        # naked single: a fixed value leaves every peer (a fixed cell keeps its own)
        new = m & (~self._per_cell(taken) | fixed)
        # hidden single: the only place for a value in a unit takes it; a cell that
        # is the only place for two values is a contradiction, emptied
        once, twice = self._once_twice(new)
        hidden = new & self._per_cell(once & ~twice)
        new = np.where(hidden != 0, self._single(hidden), new)
        return self._locked(new) if self.locked else new

    @staticmethod
    def _or_rows(x: np.ndarray, index: np.ndarray) -> np.ndarray:
        """(width, K) row indices into x -> (K, B): the OR of each column's rows."""
        out = x[index[0]]
        for idx in index[1:]:
            out |= x[idx]
        return out

    def _locked(self, m: np.ndarray) -> np.ndarray:
        zero = np.zeros((1, m.shape[1]), m.dtype)

        def pad(x):  # padded index entries (boxes that are not square) read a zero row
            return np.concatenate([x, zero]) if self.ragged else x

        seg = self._or_rows(pad(m), self.seg_cells)  # the values each segment may hold
        pointing = seg & ~self._or_rows(pad(seg), self.seg_box)  # its box holds these only here
        claiming = seg & ~self._or_rows(pad(seg), self.seg_line)  # its line holds these only here
        # a cell loses what another segment of its line points, or another of its box claims
        lose_line = self._or_rows(pad(pointing), self.seg_line)
        lose_box = self._or_rows(pad(claiming), self.seg_box)
        rows, cols = self.cell_segs
        return m & ~(lose_line[rows] | lose_line[cols] | lose_box[rows] | lose_box[cols])

    def _close(self, m: np.ndarray, max_rounds: int = 100) -> np.ndarray:
        out, active, sub = m.copy(), np.arange(m.shape[1]), m
        for _ in range(max_rounds):
            new = self._round(sub)
            changed = (new != sub).any(0)
            out[:, active] = new
            if not changed.any():
                break
            if not changed.all():
                active, new = active[changed], new[:, changed]
            sub = new
        return out

    def _bottom(self, m: np.ndarray) -> np.ndarray:
        """An empty cell, a value fixed twice in a unit, or a unit with no place for a value."""
        _, twice = self._once_twice(self._single(m))
        lost = np.bitwise_or.reduce(m[self.positions], axis=0) != self.full
        return (m == 0).any(0) | (twice != 0).any(0) | lost.any(0)

    def _pack(self, cand: np.ndarray) -> np.ndarray:
        """(B, N, side) bool -> (N, B) masks (a small integer matrix product: cheaper
        here than packbits or an OR-reduce along the 9-long axis)."""
        return np.ascontiguousarray((cand.view(np.uint8).astype(self.dtype) @ self.bits).T)

    def _unpack(self, m: np.ndarray) -> np.ndarray:
        """(N, B) masks -> (B, N, side) bool."""
        raw = np.ascontiguousarray(m.T).view(np.uint8).reshape(m.shape[1], m.shape[0], self.dtype.itemsize)
        return np.unpackbits(raw, axis=-1, count=self.side, bitorder="little").view(bool)

    def settle(self, cand: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(closed states, bottom per row) for a (B, N, side) bool CPU tensor."""
        m = self._close(self._pack(cand.numpy()))
        return torch.from_numpy(self._unpack(m)), torch.from_numpy(self._bottom(m))
