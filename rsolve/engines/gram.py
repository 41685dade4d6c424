"""GRAM as an engine: N trajectories per puzzle sampled from the model's learned
prior (rsolve.models.gram), one picked by the verifier or a rule.

The rollout bookkeeping is PTRM's (rsolve.engines.ptrm): rows shared by all
puzzles of a batch and bounded per pass, per-rollout seeded generators (a
trajectory does not depend on what shares its pass), early stop at the first
verified answer with select=verify. What differs: the noise is GRAM's own
(eps ~ p(eps | u) inside every transition, drawn from each rollout's
generator), nothing is added from outside, and a trajectory's process reward
head gives a fifth rule, `prm` (the largest predicted final accuracy).
"""

from __future__ import annotations

from . import EngineError
from .gram_sampler import per_row_noise
from .ptrm import PTRMEngine, Rows

RULES = ("q", "vote", "prm", "verify")


class GRAMEngine(PTRMEngine):
    name = "gram"
    rules = RULES

    def __init__(self, kind: str, checkpoint: str | None = None, device: str | None = "auto", seed: int = 0,
                 **options):
        super().__init__(kind, checkpoint, device, seed, **options)
        self.sigma = None  # the model samples its own noise
        if self.training.get("unconditional"):
            raise EngineError(f"{self.checkpoint}: a GRAM generator (trained on blank boards) does not solve "
                              "puzzles; sample it with `rsolve generate sudoku --model gram`")

    def _forward(self, carry: tuple, rows: Rows):
        return self.run(carry, rows.tokens, noise=per_row_noise([r.noise for r in rows.rollouts], self.device), h_cycles=self.opt["cycles"])
