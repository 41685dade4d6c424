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

import random
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ..lattice.maze import FREE, GOAL_CH, PATH, START_CH, maze_target
from ..lattice.rounds import SymmetryPool


@dataclass
class LDTTrainConfig:
    kind: str
    data: str
    out: str
    val_data: str | None = None
    val_fraction: float = 0.1  # held back from `data` when no val_data is given
    preset: str = "cpu"
    minutes: float = 100.0
    max_steps: int = 0  # 0: until the time budget ends
    batch: int = 64
    pool_fraction: float = 0.5
    lr: float = 2e-3
    weight_decay: float = 0.1
    keep_weight: float = 8.0  # a wrongly eliminated candidate costs this many wrong keeps
    value_weight: float = 0.2
    conflict_weight: float = 0.5
    threshold: float | None = None  # projection threshold of the pool rounds (default: engine's)
    closure: float = 0.5  # fraction of states closed by the symbolic rules
    max_age: int = 60
    seed: int = 0
    device: str = "auto"
    threads: int = 0
    val_every: float = 10.0  # minutes
    resume: bool = False
    init: str | None = None  # warm start from this checkpoint folder's weights (and architecture)
    command: str = ""
    overrides: dict = field(default_factory=dict)  # architecture overrides


class Samples:
    """Training examples of one kind as tensors, and fresh lattice states made from them."""

    def __init__(self, kind, examples, domain, pool: SymmetryPool, rng: random.Random, closure: float = 0.5):
        self.kind, self.domain, self.pool, self.rng, self.closure = kind, domain, pool, rng, closure
        self.puzzles = [e.puzzle for e in examples]
        if kind == "sudoku":
            self.solutions = torch.tensor([e.solution.cells for e in examples], dtype=torch.long)
        else:
            self.paths = [_ordered_path(e.solution) for e in examples]
            self.distance = torch.tensor([len(p) - 1 for p in self.paths])

    def __len__(self):
        return len(self.puzzles)

    def fresh(self, n: int, mix=(0.2, 0.55, 0.25)):
        """n states: raw puzzles, correct hints, corrupted hints (in that mix), under
        random symmetries. Returns a dict of batch tensors."""
        idx = [self.rng.randrange(len(self)) for _ in range(n)]
        cand, fixed, static = self.domain.encode([self.puzzles[i] for i in idx])
        mode = torch.tensor(self.rng.choices(range(3), weights=mix, k=n))
        if self.kind == "sudoku":
            sol = F.one_hot(self.solutions[idx] - 1, self.domain.values).bool()
            blank = ~fixed
            fill = blank & (torch.rand(blank.shape) < torch.rand(n, 1)) & (mode > 0)[:, None]
            cand = torch.where(fill[..., None], sol, cand)
            wrong = blank & (torch.rand(blank.shape) < 0.03)
            wrong[torch.arange(n), torch.where(blank, torch.rand(blank.shape), -1.0).argmax(-1)] = True
            wrong &= (mode == 2)[:, None]
            shifted = sol.roll(self.rng.randrange(1, self.domain.values), dims=-1)
            cand = torch.where(wrong[..., None], shifted, cand)
            extra = {"solution": sol, "distance": torch.zeros(n, dtype=torch.long)}
        else:
            for row, (i, m) in enumerate(zip(idx, mode.tolist())):
                path = self.paths[i]
                if m == 0:
                    continue
                k = self.rng.randrange(1, len(path) - 1)
                cand[row, path[1:k + 1], FREE] = False  # a forced prefix of the label path
                if m == 2:
                    off = [j for j in _open_neighbours(self.puzzles[i], path[k]) if j not in path]
                    if off:
                        cand[row, self.rng.choice(off), FREE] = False
            extra = {"solution": torch.zeros(n, 1, 1, dtype=torch.bool), "distance": self.distance[idx]}
        closed = self.domain.close(cand, static)
        use = torch.rand(n) < self.closure
        cand = torch.where(use[:, None, None], closed, cand)
        view = self.pool.sample(n)
        perm = self.domain.permute_values
        batch = {"cand": self.pool.to_view(cand, view, perm), "fixed": self.pool.to_view_cells(fixed, view),
                 "static": self.pool.to_view(static, view, False) if static.shape[-1] else static,
                 "distance": extra["distance"], "age": torch.zeros(n, dtype=torch.long)}
        batch["solution"] = self.pool.to_view(extra["solution"], view) if self.kind == "sudoku" else \
            extra["solution"].expand(n, 1, 1)
        return batch


def _ordered_path(solution) -> list[int]:
    """Label path cells in order from S to G."""
    on = set(solution.path_cells()) | {solution.goal}
    order, seen = [solution.start], {solution.start}
    while order[-1] != solution.goal:
        nxt = [j for j in solution.neighbours(order[-1]) if j in on and j not in seen]
        if not nxt:
            raise ValueError("label path is not a chain from S to G")
        order.append(nxt[0])
        seen.add(nxt[0])
    return order


def _open_neighbours(maze, i):
    return [j for j in maze.neighbours(i) if maze.grid[j] == "."]


def targets(kind, domain, batch):
    """(keep target (B,N,V) bool, consistent (B,) bool)."""
    cand = batch["cand"]
    if kind == "sudoku":
        keep = cand & batch["solution"]
        return keep, keep.any(-1).all(-1)
    c = cand.numpy()
    starts = batch["static"][..., START_CH].argmax(-1).tolist()
    goals = batch["static"][..., GOAL_CH].argmax(-1).tolist()
    keep = np.zeros_like(c)
    ok = np.zeros(len(c), dtype=bool)
    for b in range(len(c)):
        t, ok[b] = maze_target(c[b], starts[b], goals[b], int(batch["distance"][b]), domain.height, domain.width)
        if ok[b]:
            keep[b] = t
    return torch.from_numpy(keep), torch.from_numpy(ok)


def loss_fn(cfg, kind, outputs, batch, keep_t, consistent):
    cand, fixed = batch["cand"], batch["fixed"]
    mask = (cand & ~fixed[..., None] & consistent[:, None, None]).float()
    weight = torch.where(keep_t, cfg.keep_weight, 1.0) * mask
    cells = ~fixed & (cand.sum(-1) > 1) & consistent[:, None]
    value_t = keep_t.float().argmax(-1) if kind == "sudoku" else keep_t[..., PATH].long()
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
    drop = keep_logits < torch.logit(torch.tensor(threshold))
    need, removable = alive & keep_t, alive & ~keep_t
    return ((drop & need).sum() / need.sum().clamp(min=1)).item(), \
        ((drop & removable).sum() / removable.sum().clamp(min=1)).item()
