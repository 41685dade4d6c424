"""Unconditional Sudoku grids from a GRAM generator checkpoint (one trained with
`rsolve train sudoku --model gram --unconditional`): blank boards in, N_sup
supervision steps of prior samples, the decoded digits out. Every grid is
checked by the symbolic verifier; the caller decides what to do with invalid ones.

Sample i draws its noise from its own generator (seed, i), so the grids do not
depend on the batch size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch

from .. import checkpoints, verify
from ..puzzles import Sudoku
from ..puzzles.grid import SUDOKU_BLANK_TOKEN
from . import EngineError
from .neural import device_for, load_model


@dataclass
class Sample:
    index: int
    grid: Sudoku
    valid: bool
    reason: str | None  # the verifier's, when not valid
    steps: int = 0  # supervision steps it took


def load_generator(checkpoint: str | None, device: str | None = "auto"):
    """(model, checkpoint path) of a GRAM generator; an EngineError naming the reason."""
    dev = device_for(device)
    if checkpoint is None:
        found = checkpoints.find_default("gram", "sudoku", generator=True)
        if found is None:
            raise EngineError("no GRAM Sudoku generator is installed (train one with `rsolve train sudoku --model "
                              "gram --unconditional` or pass --checkpoint)")
        checkpoint = str(found)
    model, ckpt = load_model("gram", "sudoku", checkpoint, dev)
    if not checkpoints.is_generator(ckpt.config):
        raise EngineError(f"{ckpt.path}: a GRAM solver, not a generator (trained with --unconditional); "
                          "it needs puzzles: rsolve solve PUZZLES -m gram")
    return model, ckpt.path


def per_row_noise(generators: list, device):
    """noise(like) for GRAM's forward: row i's standard normal draws come from generators[i],
    so a trajectory does not depend on which rows share its pass."""
    def noise(like: torch.Tensor) -> torch.Tensor:
        return torch.stack([torch.randn(like.shape[1:], generator=g, device=device) for g in generators]).to(like.dtype)
    return noise


@torch.inference_mode()
def sample_grids(model, count: int, seed: int = 0, steps: int | None = None, batch: int = 128,
                 stop_when_valid: bool = True) -> Iterator[Sample]:
    """`count` grids, in order, each with the verifier's verdict. A sample ends at the first
    supervision step whose decoded grid the verifier accepts (`stop_when_valid`), else after
    `steps` (default 16); its rows leave the batch, so easy grids cost a few steps, not 16.
    A row's trajectory draws only on its own generator, so stopping one changes no other."""
    device = next(model.parameters()).device
    side = int(round(model.cfg.seq_len ** 0.5))
    steps = steps or 16
    blank = Sudoku(side, (0,) * (side * side))
    for lo in range(0, count, batch):
        idx = list(range(lo, min(count, lo + batch)))
        gens = [torch.Generator(device=device).manual_seed(seed * 1_000_003 + i) for i in idx]
        live = list(range(len(idx)))  # positions in idx of the rows still sampling
        tokens = torch.full((len(idx), model.cfg.seq_len), SUDOKU_BLANK_TOKEN, dtype=torch.long, device=device)
        carry = model.initial_carry(len(idx))
        done: dict[int, Sample] = {}
        for step in range(1, steps + 1):
            out = model(carry, tokens, noise=per_row_noise([gens[r] for r in live], device))
            carry = out.carry
            if not stop_when_valid and step < steps:
                continue
            digits = (out.logits[..., 2:side + 2].argmax(-1) + 1).cpu().tolist()
            keep = []
            for row, (r, cells) in enumerate(zip(live, digits)):
                grid = blank.with_cells(cells)
                verdict = verify.check(blank, grid)
                if verdict.accepted or step == steps:
                    done[r] = Sample(idx[r], grid, verdict.accepted, None if verdict.accepted else verdict.reason, step)
                else:
                    keep.append(row)
            if not keep:
                break
            if len(keep) < len(live):
                rows = torch.tensor(keep, device=device)
                carry = tuple(c.index_select(0, rows) for c in carry)
                tokens = tokens.index_select(0, rows)
                live = [live[k] for k in keep]
        for r in range(len(idx)):
            yield done[r]
