"""The LDT trainer's options (no torch: the CLI reads them for its flags and help)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .config import TrainConfig, opt


@dataclass
class LDTTrainConfig(TrainConfig):
    batch: int | None = opt(None, "Lattice states per step, half of them from the on-policy pool (default: Sudoku "
                                  "64; mazes 16, as the shipped maze checkpoint: a 30x30 state has 900 cells, a "
                                  "Sudoku 81).", flag="--batch-size", short="-b")
    lr: float = opt(2e-3, "Peak learning rate.")
    weight_decay: float = opt(0.1, "AdamW weight decay.")
    pool_fraction: float = opt(0.5, "Share of each batch taken from the on-policy pool of states.")
    keep_weight: float = opt(8.0, "Loss weight of a candidate that must be kept (a wrong elimination costs "
                                  "this many wrong keeps).")
    value_weight: float = opt(0.2, "Loss weight of the value head.")
    conflict_weight: float = opt(0.5, "Loss weight of the conflict head.")
    threshold: float | None = opt(None, "Projection threshold of the pool rounds (default: the engine's, "
                                        "sudoku 0.1, maze 0.5).")
    closure: float = opt(0.5, "Share of states closed by the symbolic rules.")
    max_age: int = opt(60, "Rounds a state may stay in the pool.")
    curriculum: str = opt("auto", "Maze sizes to train on first, smallest first (e.g. 10,20): generated "
                                  "Maze-Hard-style mazes, each for an equal part of the first --curriculum-share "
                                  "of the budget, then the data; 'none' for the data only (default: 10,20 for "
                                  "the maze grid network).")
    curriculum_share: float = opt(0.5, "Share of the budget the curriculum sizes take.")
    curriculum_mazes: int = opt(2000, "Generated mazes per curriculum size.")

    family: ClassVar[str] = "rsolve.train.ldt_loop:LDT"

    def architecture_fields(self) -> list[str]:
        from ..models.ldt import config_fields

        return config_fields(self.kind, "cpu" if self.preset == "auto" else self.preset)

    def __post_init__(self):
        super().__post_init__()
        if self.preset == "auto":
            self.preset = "cpu"
        if self.batch is None:
            self.batch = 16 if self.kind == "maze" else 64
        self.sizes = self._sizes()
        for name, ok in (("--batch-size", self.batch >= 2), ("--lr", self.lr >= 0),
                         ("--pool-fraction", 0 <= self.pool_fraction < 1), ("--closure", 0 <= self.closure <= 1),
                         ("--threshold", self.threshold is None or 0 < self.threshold < 1),
                         ("--max-age", self.max_age >= 1), ("--curriculum-share", 0 <= self.curriculum_share < 1),
                         ("--curriculum-mazes", self.curriculum_mazes >= 1)):
            if not ok:
                raise ValueError(f"{name} is out of range")

    def _sizes(self) -> list[int]:
        if self.curriculum == "auto":
            return [10, 20] if self.kind == "maze" and self.preset == "cpu" and self.init is None else []
        if self.curriculum == "none":
            return []
        if self.kind != "maze":
            raise ValueError("--curriculum: only maze training has one (Sudoku has one size)")
        try:
            sizes = [int(s) for s in self.curriculum.split(",")]
        except ValueError:
            raise ValueError(f"--curriculum {self.curriculum!r}: give sizes like 10,20, or none") from None
        if any(not 4 <= s <= 64 for s in sizes):
            raise ValueError("--curriculum: sizes from 4 to 64")
        return sorted(sizes)
