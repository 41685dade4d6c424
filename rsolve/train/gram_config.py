"""The GRAM trainer's options (no torch at import: the CLI reads them). GRAM trains
on the TRM/HRM loop (deep supervision over slots, EMA, the cpu/paper presets)
with its own loss and monitoring: rsolve.train.gram_loop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .config import opt
from .recursive_config import RecursiveTrainConfig


CELLS = {"sudoku": 81}  # a generator's grid: its KL weight is 1/cells (the evidence bound)


@dataclass
class GRAMTrainConfig(RecursiveTrainConfig):
    model: str = "gram"
    beta: float | None = opt(None, "GRAM: weight of KL(posterior || prior), in nats per puzzle, against the "
                                   "cross-entropy per cell (default: 0.1 as the paper's Sudoku runs; generators "
                                   "1/cells, the plain evidence bound, since they must pass a whole grid).")
    kl_balance: float = opt(0.8, "GRAM: share of the KL's gradient that trains the prior (KL balancing).")
    prm_weight: float = opt(0.5, "GRAM: weight of the process reward head's loss (it reads detached latents, so "
                                 "this only sets how fast the head learns).")
    probe_every: int = opt(4, "GRAM: optimizer steps between rollouts from the PRIOR (they train the process "
                              "reward head and measure the prior's accuracy against the posterior's).")
    probe_batch: int = opt(8, "GRAM: puzzles per prior rollout.")
    from_trm: str | None = opt(None, "GRAM: start from a trained TRM checkpoint (folder or name): both of GRAM's "
                                     "stacks begin as its net, so the CPU hours go to learning the noise.")
    unconditional: bool = opt(False, "GRAM: train a generator: blank boards in, the complete grids as targets "
                                     "(rsolve generate sudoku --model gram samples it).",
                              flag="--unconditional/--conditional")

    family: ClassVar[str] = "rsolve.train.gram_loop:GRAM"
    models: ClassVar[tuple] = ("gram",)

    def architecture_fields(self) -> list[str]:
        from dataclasses import fields

        from ..models import gram

        return [f.name for f in fields(gram.GRAMConfig)]

    def __post_init__(self):
        super().__post_init__()
        if self.beta is None:
            self.beta = round(1 / CELLS.get(self.kind, 81), 5) if self.unconditional else 0.1
        for name, ok in (("--beta", 0 <= self.beta <= 100), ("--kl-balance", 0 <= self.kl_balance <= 1),
                         ("--prm-weight", 0 <= self.prm_weight <= 100), ("--probe-every", self.probe_every >= 1),
                         ("--probe-batch", self.probe_batch >= 1)):
            if not ok:
                raise ValueError(f"{name} is out of range")
        if self.from_trm and self.init:
            raise ValueError("--from-trm and --init both choose the starting weights: give one of them")
        if self.unconditional and self.kind != "sudoku":
            raise ValueError("--unconditional trains a Sudoku grid generator; mazes have no blank board")
