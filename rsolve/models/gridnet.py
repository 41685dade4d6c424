"""A grid-shaped recurrent network for mazes: weight-tied 4-neighbour message
passing whose cost is linear in the number of cells and whose reach grows by one
cell per iteration, so one model serves any maze size given enough iterations.

Each iteration a cell sends a message to its four neighbours, takes the
elementwise max of what it receives (max aggregation lines up with breadth-first
search: a wavefront is a max over neighbours), re-reads its input and updates a
gated state bounded in [-1, 1], so long rollouts stay stable and a finished
computation is a fixed point. Heads read the final state: keep logits for the two
candidates of a cell (free, on the path), from which the value logits used for
branching follow (value_logits), a conflict logit (max over cells) and, for training, the
algorithm's intermediate fields (rsolve.lattice.maze.search_fields): reached from
G, distance to G mod 3, and the trace of shortest-path cells from the chain end.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .layers import MAX_CELLS, MAX_DIM, check_fields, config_from, neighbour_max

AUX = 5  # reached, distance-to-G mod 3 (three logits), trace
MAX_ITERATIONS = 4 * MAX_CELLS
# Engines run grid networks on mazes up to this many cells (128x128): a pass costs
# iterations x cells with iterations about twice the path length.
GRID_MAX_CELLS = 128 * 128
SETTLE_EVERY, SETTLE_TOL = 8, 0.05  # how often a pass checks whether it has settled; a moving wave changes cells by ~1


@dataclass
class GridConfig:
    kind: str = "maze"
    network: str = "grid"
    height: int = 30  # the size it was trained at (it runs on any size)
    width: int = 30
    in_channels: int = 7  # rsolve.lattice.maze: wall, start, goal, free, path, chain prefix, chain end
    values: int = 2
    dim: int = 16
    hidden: int = 32
    iterations: int = 0  # per pass; 0: enough for the maze's size (iterations_for)

    def to_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> "GridConfig":
        check_fields(self, RANGES, CHOICES)
        return self


RANGES = dict(height=(2, MAX_CELLS), width=(2, MAX_CELLS), in_channels=(7, 7), values=(2, 2), dim=(1, MAX_DIM),
              hidden=(1, 4 * MAX_DIM), iterations=(0, MAX_ITERATIONS))
CHOICES = dict(kind=("maze",), network=("grid",))
PRESETS = {"cpu": dict(dim=16, hidden=32)}  # 16 learned the rule as exactly as 32 at twice the steps per second


def value_logits(keep: torch.Tensor, aux: torch.Tensor | None = None) -> torch.Tensor:
    """Branching values (free, path) = (-s, s) with s the path logit (the free bit is
    kept on most cells, so the keep logits themselves would pick "free" for half the
    path), followed, given the aux logits, by the three logits of the distance to G
    mod 3 (rsolve.lattice.maze.PHASE): a walk from the chain end steps to the
    neighbour one step nearer G. A cell beside the chain's end can lie on another
    shortest path one step *behind* it; the path logits cannot tell the two apart,
    the phase can, and its field is exact once the wave has settled."""
    on = keep[..., 1]
    value = torch.stack([-on, on], -1)
    return value if aux is None else torch.cat([value, aux[..., 1:4].to(value.dtype)], -1)


def iterations_for(height: int, width: int) -> int:
    """Enough iterations for the wave from G to reach every open cell and the trace to
    come back (twice the longest shortest path; a maze's open cells bound it), with
    room to settle. Random-wall mazes have paths far shorter than their cell count."""
    return min(MAX_ITERATIONS, 2 * (height * width // 2) + 16)


class GridNet(nn.Module):
    any_size = True  # the engine runs it on mazes of any shape

    def __init__(self, cfg: GridConfig):
        super().__init__()
        self.cfg = cfg
        d, f = cfg.dim, cfg.hidden
        self.input = nn.Linear(cfg.in_channels, d)
        self.message = nn.Linear(d, d)
        self.mix = nn.Linear(3 * d, f + d)  # hidden units and the update gate
        self.out = nn.Linear(f, d)
        self.keep_head = nn.Linear(d, cfg.values)
        self.aux_head = nn.Linear(d, AUX)
        self.conflict_head = nn.Linear(d, 1)
        nn.init.constant_(self.mix.bias[f:], -2.0)  # updates start small: the state changes where it must

    def step(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """One iteration on (B, H, W, dim) tensors; x is the embedded input (see `_reads`)."""
        return self._step(h, self._reads(x))

    def _reads(self, x: torch.Tensor):
        """The mix layer split by what it reads, (state, neighbours, input): the input's
        share is the same every iteration, so a pass computes it once (and no concat)."""
        d = self.cfg.dim
        w = self.mix.weight
        return w[:, :d].contiguous(), w[:, d:2 * d].contiguous(), F.linear(x, w[:, 2 * d:], self.mix.bias)

    def _step(self, h: torch.Tensor, reads) -> torch.Tensor:
        w_state, w_near, from_input = reads
        near = neighbour_max(self.message(h))
        a = torch.addmm(from_input.flatten(0, -2), h.flatten(0, -2), w_state.t()) + F.linear(near, w_near).flatten(0, -2)
        hidden, gate = a.view(*h.shape[:-1], -1).split([self.cfg.hidden, self.cfg.dim], -1)
        z = torch.sigmoid(gate)
        return h + z * (torch.tanh(self.out(F.gelu(hidden))) - h)

    def embed(self, bits: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
        return self.input(bits.view(bits.shape[0], *shape, -1))

    def heads(self, h: torch.Tensor):
        b = h.shape[0]
        keep = self.keep_head(h).view(b, -1, self.cfg.values)
        conflict = self.conflict_head(h).view(b, -1).amax(-1)
        return keep, conflict

    def forward(self, bits: torch.Tensor, loops: int | None = None, shape: tuple[int, int] | None = None):
        """bits: (B, cells, in_channels). Returns one-element lists of keep logits
        (B, cells, 2), value logits (the same) and conflict logits (B,): the LDT
        engine's interface."""
        shape = shape or (self.cfg.height, self.cfg.width)
        x = self.embed(bits, shape)
        fixed = loops or self.cfg.iterations
        h = self.run(x, fixed or iterations_for(*shape), settle=not fixed)
        keep, conflict = self.heads(h)
        return [keep], [value_logits(keep, self.aux_head(h).view(*keep.shape[:2], AUX))], [conflict]

    def run(self, x: torch.Tensor, iterations: int, settle: bool = True) -> torch.Tensor:
        """The final state: up to `iterations` iterations, and with `settle` a row stops
        once its state stops moving (the wave has died out: a maze costs what its
        paths need, not what its size allows) and leaves the batch."""
        h = torch.zeros_like(x)
        out = h.clone()
        reads, rows, t = self._reads(x), torch.arange(x.shape[0], device=x.device), 0
        while len(rows) and t < iterations:
            before = h
            for _ in range(min(SETTLE_EVERY, iterations - t)):
                h = self._step(h, reads)
                t += 1
            out[rows] = h
            if settle:
                moving = (h - before).abs().flatten(1).amax(-1) > SETTLE_TOL
                rows, h = rows[moving], h[moving]
                reads = (*reads[:2], reads[2][moving])
        return out

    def rollout(self, bits: torch.Tensor, shape: tuple[int, int], silent: int, tracked: int):
        """Training: `silent` iterations without gradient, then `tracked` with it.
        Returns per tracked iteration (aux logits (B, cells, AUX), keep logits, conflict)."""
        x = self.embed(bits, shape)
        h = torch.zeros_like(x)
        with torch.no_grad():
            reads = self._reads(x)
            for _ in range(silent):
                h = self._step(h, reads)
        reads = self._reads(x)
        out = []
        for _ in range(tracked):
            h = self._step(h, reads)
            keep, conflict = self.heads(h)
            out.append((self.aux_head(h).view(h.shape[0], -1, AUX), keep, conflict))
        return out


def build(preset: str = "cpu", **overrides) -> GridNet:
    if preset not in PRESETS:
        raise ValueError(f"no grid network preset {preset!r}; presets: {', '.join(PRESETS)}")
    return GridNet(GridConfig(**{**PRESETS[preset], **overrides}).validate())


def from_config(architecture: dict) -> GridNet:
    return GridNet(config_from(GridConfig, architecture))
