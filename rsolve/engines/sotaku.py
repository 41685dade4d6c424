"""Sotaku-style baseline: the LDT backbone with no lattice.

The network reads its own value predictions back as input a few times and the
last prediction is the answer: no projection, no closure, no search, no
abstention of its own. The pipeline's verifier still rejects a wrong answer
(it is then reported `abstained` with the verifier's reason), so this engine
shows what the lattice and the search add on top of the same weights.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from ..lattice import domain_for
from . import Attempt
from .neural import device_for, load_model


class SotakuEngine:
    name = "sotaku"

    def __init__(self, kind: str, checkpoint: str | None = None, device: str | None = "auto", seed: int = 0,
                 **options):
        self.opt = dict(options)
        self.kind, self.device = kind, device_for(device)
        self.model, ckpt = load_model(self.name, kind, checkpoint, self.device)
        self.checkpoint = str(ckpt.path)
        cfg = self.model.cfg
        shape = dict(side=cfg.height) if kind == "sudoku" else dict(height=cfg.height, width=cfg.width)
        self.domain = domain_for(kind, self.device, **shape)

    def _fits(self, p) -> bool:
        cfg = self.model.cfg
        return (p.side, p.side) == (cfg.height, cfg.width) if self.kind == "sudoku" else \
            (p.height, p.width) == (cfg.height, cfg.width)

    @torch.inference_mode()
    def solve_batch(self, puzzles: list) -> list[Attempt]:
        out = [Attempt(None, "abstained", {"steps": 0}, reason="no sotaku network for this puzzle's shape")
               for _ in puzzles]
        idx = [i for i, p in enumerate(puzzles) if self._fits(p)]
        if not idx:
            return out
        d = self.domain
        top, fixed, static = d.encode([puzzles[i] for i in idx])
        state = top
        steps, t0 = self.opt["steps"], time.perf_counter()
        for _ in range(steps):
            if getattr(self.model, "any_size", False):  # the maze grid network: it also reads the forced chain
                _, value, _ = self.model(d.inputs(state, static, channels=self.model.cfg.in_channels),
                                         loops=self.opt["loops"], shape=(d.height, d.width))
            else:
                _, value, _ = self.model(d.inputs(state, static), loops=self.opt["loops"])
            guess = F.one_hot(value[-1][..., :d.values].argmax(-1), d.values).bool()
            state = torch.where(fixed[..., None], top, guess)  # givens stay, every other cell is re-guessed
        share = (time.perf_counter() - t0) / len(idx)  # every puzzle does the same work
        for j, i in enumerate(idx):
            out[i] = Attempt(d.decode(state[j], puzzles[i]), "found", {"steps": steps, "passes": steps,
                                                                      "seconds": share})
        return out
