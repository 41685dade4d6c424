"""Training the LDT network (`rsolve train sudoku|maze --model ldt`).

Each step trains on a batch that is half an on-policy pool of lattice states
and half fresh samples. After the step, every row is advanced by the model's
own solve round (projection, optional closure, a sampled branch) using the
outputs of the training forward itself, so the pool costs no extra passes;
live rows refill the pool. Targets: keep the candidates of the state that some
solution inside it uses (Sudoku: state AND solution; mazes: the cells of
shortest paths extending the forced chain from S); a state with no solution
left trains the conflict head only. The learning-rate schedule runs on the
time budget, so a run of N minutes anneals fully within N minutes.
"""

from __future__ import annotations

import math
import random

import numpy as np
import torch
import torch.nn.functional as F

from ..lattice.maze import FREE, GOAL_CH, ON_PATH, START_CH, maze_target
from ..lattice.rounds import SymmetryPool
from ..puzzles.maze import OPEN
from .ldt_config import LDTTrainConfig  # noqa: F401  (its home before the options moved)


class Samples:
    """Training examples of one kind as tensors on the domain's device, and fresh
    lattice states made from them. Every random draw comes from `rng` (which rows,
    which hints) or `generator` (a torch generator on the same device), so a run's
    resumable state holds all of its randomness."""

    def __init__(self, kind, examples, domain, pool: SymmetryPool, rng: random.Random, closure: float = 0.5,
                 generator: torch.Generator | None = None):
        self.kind, self.domain, self.pool, self.rng, self.closure = kind, domain, pool, rng, closure
        self.device, self.generator = domain.device, generator
        self.puzzles = [e.puzzle for e in examples]
        if kind == "sudoku":
            self.solutions = torch.tensor([e.solution.cells for e in examples], dtype=torch.long, device=self.device)
        else:
            self.paths = [e.solution.ordered_path() for e in examples]
            self.distance = torch.tensor([len(p) - 1 for p in self.paths], device=self.device)

    def __len__(self):
        return len(self.puzzles)

    def _rand(self, *shape):
        return torch.rand(shape, generator=self.generator, device=self.device)

    def fresh(self, n: int, mix=(0.2, 0.55, 0.25)):
        """n states: raw puzzles, correct hints, corrupted hints (in that mix), under
        random symmetries. Returns a dict of batch tensors."""
        idx = [self.rng.randrange(len(self)) for _ in range(n)]
        cand, fixed, static = self.domain.encode([self.puzzles[i] for i in idx])
        mode = self.rng.choices(range(3), weights=mix, k=n)
        hint = self._sudoku_hints if self.kind == "sudoku" else self._maze_hints
        cand, solution, distance = hint(cand, fixed, idx, mode)
        closed = self.domain.close(cand, static)
        cand = torch.where((self._rand(n) < self.closure)[:, None, None], closed, cand)
        view = self.pool.sample(n, self.generator)
        perm = self.domain.permute_values
        return {"cand": self.pool.to_view(cand, view, perm), "fixed": self.pool.to_view_cells(fixed, view),
                "static": self.pool.to_view(static, view, False) if static.shape[-1] else static,
                "distance": distance, "age": torch.zeros(n, dtype=torch.long, device=self.device),
                "solution": self.pool.to_view(solution, view) if self.kind == "sudoku" else solution}

    def _sudoku_hints(self, cand, fixed, idx, mode):
        """Mode 1 fills a random share of blanks from the solution; mode 2 also sets a
        few blanks (at least one) to a wrong value."""
        n, mode = len(idx), torch.tensor(mode, device=self.device)
        sol = F.one_hot(self.solutions[idx] - 1, self.domain.values).bool()
        blank = ~fixed
        fill = blank & (self._rand(*blank.shape) < self._rand(n, 1)) & (mode > 0)[:, None]
        cand = torch.where(fill[..., None], sol, cand)
        wrong = blank & (self._rand(*blank.shape) < 0.03)
        some_blank = torch.where(blank, self._rand(*blank.shape), -1.0).argmax(-1)
        wrong[torch.arange(n, device=self.device), some_blank] = True
        wrong &= (mode == 2)[:, None]
        shifted = sol.roll(self.rng.randrange(1, self.domain.values), dims=-1)
        cand = torch.where(wrong[..., None], shifted, cand)
        return cand, sol, torch.zeros(n, dtype=torch.long, device=self.device)

    def _maze_hints(self, cand, fixed, idx, mode):
        """Mode 1 forces a prefix of the label path; mode 2 also closes an open cell
        beside the prefix's end that the label path does not use."""
        for row, (i, m) in enumerate(zip(idx, mode)):
            path = self.paths[i]
            if m == 0:
                continue
            k = self.rng.randrange(1, len(path) - 1)
            cand[row, path[1:k + 1], FREE] = False  # a forced prefix of the label path
            if m == 2:
                maze = self.puzzles[i]
                off = [j for j in maze.neighbours(path[k]) if maze.grid[j] == OPEN and j not in path]
                if off:
                    cand[row, self.rng.choice(off), FREE] = False
        no_solution = torch.zeros(len(idx), 1, 1, dtype=torch.bool, device=self.device)
        return cand, no_solution, self.distance[idx]


def targets(kind, domain, batch):
    """(keep target (B,N,V) bool, consistent (B,) bool)."""
    cand = batch["cand"]
    if kind == "sudoku":
        keep = cand & batch["solution"]
        return keep, keep.any(-1).all(-1)
    c = cand.cpu().numpy()  # the maze targets are breadth-first searches on the host
    starts = batch["static"][..., START_CH].argmax(-1).tolist()
    goals = batch["static"][..., GOAL_CH].argmax(-1).tolist()
    distance = batch["distance"].tolist()
    keep = np.zeros_like(c)
    ok = np.zeros(len(c), dtype=bool)
    for b in range(len(c)):
        t, ok[b] = maze_target(c[b], starts[b], goals[b], distance[b], domain.height, domain.width)
        if ok[b]:
            keep[b] = t
    return torch.from_numpy(keep).to(cand.device), torch.from_numpy(ok).to(cand.device)


def loss_fn(cfg, kind, outputs, batch, keep_t, consistent):
    cand, fixed = batch["cand"], batch["fixed"]
    mask = (cand & ~fixed[..., None] & consistent[:, None, None]).float()
    weight = torch.where(keep_t, cfg.keep_weight, 1.0) * mask
    cells = ~fixed & (cand.sum(-1) > 1) & consistent[:, None]
    value_t = keep_t.float().argmax(-1) if kind == "sudoku" else keep_t[..., ON_PATH].long()
    total, parts = 0.0, {}
    for keep, value, conflict in outputs:
        k = F.binary_cross_entropy_with_logits(keep, keep_t.float(), weight=weight, reduction="sum") \
            / weight.sum().clamp(min=1)
        v = F.cross_entropy(value[cells], value_t[cells]) if cells.any() else keep.sum() * 0
        c = F.binary_cross_entropy_with_logits(conflict, (~consistent).float())
        total = total + k + cfg.value_weight * v + cfg.conflict_weight * c
        parts = {"keep": k.item(), "value": v.item(), "conflict": c.item()}
    return total / len(outputs), parts


def elimination_quality(keep_logits, batch, keep_t, consistent, threshold):
    """(unsound: share of needed candidates the projection would drop,
    recall: share of removable candidates it drops) over consistent rows."""
    alive = batch["cand"] & ~batch["fixed"][..., None] & consistent[:, None, None]
    drop = keep_logits < math.log(threshold / (1 - threshold))  # a Python float: no host tensor
    need, removable = alive & keep_t, alive & ~keep_t
    return ((drop & need).sum() / need.sum().clamp(min=1)).item(), \
        ((drop & removable).sum() / removable.sum().clamp(min=1)).item()
