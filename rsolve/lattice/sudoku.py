"""The Sudoku candidate lattice, batched in torch.

An element is a boolean tensor (B, cells, side): the values each cell may still
take. Order is pointwise inclusion; meet is AND. A state is *bottom* (no
solution inside it) when a cell has no value left, a unit has lost every place
for some value, or two fixed cells of a unit share a value. It is *solved* when
every cell is a singleton and it is not bottom.

`settle` (and `close`, its states only) is a sound transfer function: naked and
hidden singles to a fixed point, with `locked` also locked candidates (a value a
box holds only where it meets one line leaves the rest of that line, and the
converse: rsolve.puzzles.sudoku.segments). It only removes values that no
solution inside the state can take, so it never loses a solution; it is not a
solver (it does no search).
"""

from __future__ import annotations

from functools import lru_cache

import torch

from ..puzzles.sudoku import geometry, segments
from ..puzzles.symmetry import sudoku_symmetry
from .sudoku_bits import BitmaskClosure
from .sudoku_units import UnitPropagation


class SudokuLattice:
    """Unit and peer matrices for one side, on one device."""

    def __init__(self, side: int, device: str | torch.device = "cpu"):
        geo = geometry(side)
        self.side, self.cells = side, side * side
        units = torch.zeros(len(geo.units), self.cells, device="cpu")  # built on the host, then moved
        for u, unit in enumerate(geo.units):
            units[u, list(unit)] = 1.0
        self.units = units.to(device)  # (3n, N)
        self.units_t = self.units.t().contiguous()
        peers = (units.T @ units > 0).float()
        peers.fill_diagonal_(0)
        self.peers = peers.to(device)  # (N, N)
        segs = segments(side)
        cells = torch.zeros(len(segs), self.cells)
        for k, seg in enumerate(segs):
            cells[k, list(seg.cells)] = 1.0
        box = torch.tensor([s.box for s in segs])
        line = torch.tensor([s.line for s in segs])
        across = line < side  # row segments (else column segments)
        other = 1.0 - torch.eye(len(segs))
        # per segment: the other segments of its box in its direction, and of its line
        self.seg_box = (((box[:, None] == box) & (across[:, None] == across)).float() * other).to(device)
        self.seg_line = ((line[:, None] == line).float() * other).to(device)
        self.seg_cells, self.cell_segs = cells.to(device), cells.t().contiguous().to(device)  # (S, N), (N, S)

    def top(self, cells: torch.Tensor) -> torch.Tensor:
        """The state of a puzzle: givens are singletons, blanks allow every value.
        `cells`: (B, N) long, 0 blank, 1..side given."""
        full = torch.ones(*cells.shape, self.side, dtype=torch.bool, device=cells.device)
        onehot = torch.nn.functional.one_hot((cells - 1).clamp(min=0), self.side).bool()
        return torch.where((cells > 0).unsqueeze(-1), onehot, full)

    def unit_counts(self, cand: torch.Tensor) -> torch.Tensor:
        """(B, 3n, side): how many cells of each unit still allow each value."""
        return torch.einsum("un,bnv->buv", self.units, cand.float())

    def bottom(self, cand: torch.Tensor) -> torch.Tensor:
        """(B,) True where the state holds no solution."""
        counts = cand.sum(-1)
        empty_cell = (counts == 0).any(-1)
        fixed = cand & (counts == 1).unsqueeze(-1)
        fixed_twice = (torch.einsum("un,bnv->buv", self.units, fixed.float()) > 1).flatten(1).any(-1)
        lost_value = (self.unit_counts(cand) == 0).flatten(1).any(-1)
        return empty_cell | fixed_twice | lost_value

    def solved(self, cand: torch.Tensor) -> torch.Tensor:
        return (cand.sum(-1) == 1).all(-1) & ~self.bottom(cand)

    def close(self, cand: torch.Tensor, locked: bool = False) -> torch.Tensor:
        return self.settle(cand, locked)[0]

    def settle(self, cand: torch.Tensor, locked: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Naked and hidden singles (and with `locked` locked candidates) to a fixed
        point (sound: never removes a solution), and which rows came out bottom. On
        the CPU small batches go row by row to unit propagation
        (rsolve.lattice.sudoku_units), larger ones to the bitmask closure
        (rsolve.lattice.sudoku_bits); elsewhere batched matrix products. All three
        give the same states."""
        if cand.device.type == "cpu":
            closure = bitmask_closure if len(cand) >= BITMASK_FROM.get(self.side, 1) else unit_propagation
            return closure(self.side, locked).settle(cand.contiguous())
        return self.settle_matrix(cand, locked)

    def settle_matrix(self, cand: torch.Tensor, locked: bool = False,
                      max_rounds: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
        """The batched closure: the state is laid out (N, B*side) while it runs, so each
        rule is one matrix product over the whole batch, and the bottom check reuses
        that layout instead of a second pass over the batch."""
        b, n, v = cand.shape
        c = cand.transpose(0, 1).reshape(n, b * v)
        for _ in range(max_rounds):
            cells = c.view(n, b, v)
            single = (cells & (cells.sum(-1, keepdim=True) == 1)).view(n, b * v)
            # naked single: a fixed value leaves every peer
            new = c & ~((self.peers @ single.float() > 0) & ~single)
            # hidden single: the only place for a value in a unit takes it
            only_place = (self.units @ new.float() == 1).float()
            hidden = (new & (self.units_t @ only_place > 0)).view(n, b, v)
            new = torch.where(hidden.any(-1, keepdim=True), hidden, new.view(n, b, v))
            # a cell that is the only place for two values is a contradiction
            new = (new & ~(hidden.sum(-1, keepdim=True) > 1)).view(n, b * v)
            if locked:
                new = new & ~self._locked_out(new)
            if torch.equal(new, c):
                break
            c = new
        cells = c.view(n, b, v)
        counts = cells.sum(-1)  # (N, B)
        fixed = (cells & (counts == 1).unsqueeze(-1)).view(n, b * v).float()
        unit_bad = (self.units @ fixed > 1) | (self.units @ c.float() == 0)  # (3n, B*side)
        bottom = (counts == 0).any(0) | unit_bad.view(-1, b, v).any(-1).any(0)
        return cells.transpose(0, 1).contiguous(), bottom

    def _locked_out(self, c: torch.Tensor) -> torch.Tensor:
        """(N, B*side): what locked candidates remove from c (laid out as in settle_matrix)."""
        seg = self.seg_cells @ c.float() > 0  # the values each segment may hold
        pointing = seg & ~(self.seg_box @ seg.float() > 0)  # its box holds these only here
        claiming = seg & ~(self.seg_line @ seg.float() > 0)  # its line holds these only here
        lose = (self.seg_line @ pointing.float() > 0) | (self.seg_box @ claiming.float() > 0)
        return self.cell_segs @ lose.float() > 0

    def decode(self, cand: torch.Tensor) -> torch.Tensor:
        """(B, N) values of singleton cells (0 elsewhere)."""
        fixed = cand.sum(-1) == 1
        return torch.where(fixed, cand.float().argmax(-1) + 1, torch.zeros_like(fixed, dtype=torch.long))


# rows from which the bitmask closure beats unit propagation on this CPU (bench/closure.py);
# at other sides it always does (16x16: 0.24 against 0.56 ms for one state, 1.1 against 3.2 for 8)
BITMASK_FROM = {9: 8}


@lru_cache(maxsize=None)
def unit_propagation(side: int, locked: bool = False) -> UnitPropagation:
    return UnitPropagation(side, locked)


@lru_cache(maxsize=None)
def bitmask_closure(side: int, locked: bool = False) -> BitmaskClosure:
    return BitmaskClosure(side, locked)


@lru_cache(maxsize=None)
def lattice_for(side: int, device: str = "cpu") -> SudokuLattice:
    return SudokuLattice(side, device)


class SudokuDomain:
    """The Sudoku lattice behind the LDT engine and trainer (see rsolve.lattice)."""

    kind = "sudoku"
    permute_values = True  # whether symmetries relabel values

    RULES = ("singles", "locked")  # the sound closures, weakest first

    def __init__(self, side: int = 9, device: str | torch.device = "cpu", rules: str = "singles"):
        if rules not in self.RULES:
            raise ValueError(f"no Sudoku rules {rules!r}; choose from {', '.join(self.RULES)}")
        self.side, self.device, self.rules = side, torch.device(device), rules
        self.locked = rules == "locked"
        self.lattice = SudokuLattice(side, device)
        self.cells, self.values, self.in_channels = side * side, side, side

    def encode(self, puzzles) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(candidates, fixed mask, static channels) for a list of Sudoku."""
        cells = torch.tensor([p.cells for p in puzzles], dtype=torch.long, device=self.device)
        return self.lattice.top(cells), cells > 0, torch.zeros(len(puzzles), self.cells, 0, device=self.device)

    def inputs(self, cand: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
        return cand.float()

    def close(self, cand: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
        return self.lattice.close(cand, self.locked)

    def settle(self, cand: torch.Tensor, static: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(closed states, bottom per row) in one go."""
        return self.lattice.settle(cand, self.locked)

    def bottom(self, cand: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
        return self.lattice.bottom(cand)

    def decided(self, cand: torch.Tensor, static: torch.Tensor | None = None) -> torch.Tensor:
        return (cand.sum(-1) == 1).all(-1)

    def branch_cells(self, cand: torch.Tensor, static: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """Cells a branch may pick, scored: fewest candidates first (MRV), ties at random."""
        counts = cand.sum(-1).float()
        score = counts + 0.5 * torch.rand_like(counts)
        return torch.where(counts > 1, score, torch.full_like(score, float("inf")))

    def decode(self, cand: torch.Tensor, puzzle):
        return puzzle.with_cells(tuple(self.lattice.decode(cand[None])[0].tolist()))

    def symmetry(self, rng) -> tuple[list[int], list[int]]:
        s = sudoku_symmetry(self.side, rng)
        return list(s.cells), [v - 1 for v in s.values]
