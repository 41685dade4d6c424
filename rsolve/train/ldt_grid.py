"""Training the grid network (the LDT maze cpu preset, rsolve.models.gridnet).

Its passes are long (a wave from G and a trace back: about twice the path length
in iterations), so a step does not backpropagate through a whole pass: it runs a
random number of iterations without gradient, then a short tracked window, and
supervises every tracked iteration with what breadth-first search holds at that
moment (rsolve.lattice.maze.search_fields): which cells the wave from G has
reached, their distance to G mod 3, and how far the trace of shortest-path cells
has come from the chain end. Those targets are local rules, so a window of a few
iterations teaches them, and a rule learned on small mazes runs on any size.
Rows whose pass has finished by the window also train the keep and conflict
heads on the LDT targets (rsolve.train.ldt.targets).

The curriculum: generated mazes of growing size for the first part of the
budget, then the training data.
"""

from __future__ import annotations

import random

import numpy as np
import torch
import torch.nn.functional as F

from ..generate import generate_maze
from ..lattice.maze import GOAL_CH, START_CH, search_fields
from ..models.gridnet import value_logits
from ..puzzles.dataset import Example

WINDOW = 8  # tracked iterations per step
MAZE_HARD = (30, 110)  # Maze-Hard: 30x30, shortest paths longer than 110 cells


def curriculum_examples(sizes: list[int], count: int, seed: int) -> dict[int, list[Example]]:
    """Maze-Hard-style generated mazes per size, the minimum path scaled with the area."""
    rng = random.Random(seed)
    out = {}
    for s in sizes:
        min_path = max(2, int(MAZE_HARD[1] * (s / MAZE_HARD[0]) ** 2))
        out[s] = [Example(p, q, None, f"curriculum:{s}x{s}:{i}")
                  for i, (p, q) in enumerate(generate_maze(rng, s, s, min_path=min_path) for _ in range(count))]
    return out


def stage(progress: float, sizes: list[int], share: float) -> int:
    """Which curriculum stage a run is in: sizes[i] for equal parts of the first
    `share` of the budget, then -1 (the data)."""
    if not sizes or progress >= share:
        return -1
    return min(len(sizes) - 1, int(progress / share * len(sizes)))


def fields(domain, batch) -> dict:
    """Per-row BFS fields of a batch's states, as tensors on its device."""
    cand = batch["cand"].cpu().numpy()
    starts = batch["static"][..., START_CH].argmax(-1).tolist()
    goals = batch["static"][..., GOAL_CH].argmax(-1).tolist()
    rows = [search_fields(c, s, g, domain.height, domain.width) for c, s, g in zip(cand, starts, goals)]
    dev = batch["cand"].device
    return {"to_goal": torch.tensor(np.stack([r["to_goal"] for r in rows]), device=dev),
            "from_end": torch.tensor(np.stack([r["from_end"] for r in rows]), device=dev),
            "on": torch.tensor(np.stack([r["on"] for r in rows]), device=dev),
            "rest": torch.tensor([r["rest"] for r in rows], device=dev)}


def finish_time(rest: torch.Tensor) -> torch.Tensor:
    """Iterations after which the trace has reached G (a row whose G is cut off from
    the chain end is finished once nothing more can reach it: at once)."""
    return torch.where(rest >= 0, 2 * rest + 2, 0)


def aux_loss(aux: torch.Tensor, f: dict, t: int) -> torch.Tensor:
    """The BFS state after t iterations: G is reached at the first, a cell at distance
    d at the (d+1)-th; the chain end E is marked one iteration after it is reached,
    a shortest-path cell at distance k from E, k iterations later."""
    to_goal, rest = f["to_goal"], f["rest"][:, None]
    reached = (to_goal >= 0) & (to_goal <= t - 1)
    loss = F.binary_cross_entropy_with_logits(aux[..., 0], reached.float())
    if reached.any():
        loss = loss + F.cross_entropy(aux[..., 1:4][reached].float(), (to_goal % 3)[reached])
    trace = f["on"] & (rest >= 0) & (t >= rest + 2 + f["from_end"])
    return loss + F.binary_cross_entropy_with_logits(aux[..., 4], trace.float())


def grid_loss(cfg, model, domain, batch, keep_t, consistent, rng: random.Random):
    """(loss, parts, last tracked (keep, value, conflict), rows finished by then)."""
    f = fields(domain, batch)
    done_at = finish_time(f["rest"])
    top = int(done_at.max()) + WINDOW
    silent = rng.randrange(2 * top)  # past the finish too: a finished pass must stay put
    bits = domain.inputs(batch["cand"], batch["static"], channels=model.cfg.in_channels)
    out = model.rollout(bits, (domain.height, domain.width), silent, WINDOW)
    cand, fixed = batch["cand"], batch["fixed"]
    mask = (cand & ~fixed[..., None] & consistent[:, None, None]).float()
    weight = torch.where(keep_t, cfg.keep_weight, 1.0) * mask
    total, keep_sum, conflict_sum, finished = 0.0, 0.0, 0.0, None
    for i, (aux, keep, conflict) in enumerate(out):
        t = silent + i + 1
        total = total + aux_loss(aux, f, t)
        finished = done_at <= t
        if finished.any():
            w = weight[finished]
            k = F.binary_cross_entropy_with_logits(keep[finished], keep_t[finished].float(), weight=w,
                                                   reduction="sum") / w.sum().clamp(min=1)
            c = F.binary_cross_entropy_with_logits(conflict[finished], (~consistent[finished]).float())
            total = total + k + cfg.conflict_weight * c
            keep_sum, conflict_sum = keep_sum + k.item(), conflict_sum + c.item()
    aux, keep, conflict = out[-1]
    parts = {"keep": keep_sum / WINDOW, "conflict": conflict_sum / WINDOW, "silent": silent}
    keep = keep.detach()
    return total / WINDOW, parts, (keep, value_logits(keep, aux.detach()), conflict.detach()), finished
