"""The TRM/HRM trainer's options and presets (no torch at import: the CLI reads them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .config import TrainConfig, opt

MODELS = ("trm", "hrm")
KINDS = ("sudoku", "maze")
PRECISIONS = ("fp32", "bf16")

# What a preset changes besides the architecture. paper: the published recipes
# (batch 768, lr 1e-4, weight decay 1.0, N_sup 16), with activation recomputation
# where the batch runs in one pass (a GPU): at hidden 512 the gradient recursion
# keeps ~2.2 GB per net call at batch 256, and 768 keeps 3x that. On a CPU the
# batch runs in pieces instead (CPU_MICRO_BATCH), which keeps less for 3% of the
# speed, where recomputation cost 7-22%. cpu: small batches and fewer supervision steps so a CPU hour sees many
# updates; its activations are small, so nothing is recomputed.
TRAIN_PRESETS = {
    "paper": dict(batch=768, lr=1e-4, weight_decay=1.0, max_steps_per_puzzle=16, recompute=True),
    "cpu": dict(batch=32, lr=1e-3, weight_decay=0.1, max_steps_per_puzzle=8, recompute=False),
}
# A maze sample costs ~40x a Sudoku one here (900 positions, attention), so the
# cpu recipe halves the batch to keep the optimizer steps per hour up.
KIND_OVERRIDES = {("cpu", "maze"): dict(batch=16)}
# On a CPU a step runs in pieces of this many slots, whose gradients add up to the
# batch's: at hidden 512 one piece's activations are ~1/8 of batch 256's, so the
# paper recipe needs no recomputation there (README "Training speed"). A GPU wants
# the whole batch in one pass.
CPU_MICRO_BATCH = 32
# EqR (Huang, Geng, Kolter 2026): damped noisy latent updates and a random start
EQR = dict(latent_noise=0.01, start_noise=1.0, damping=0.95)


@dataclass
class RecursiveTrainConfig(TrainConfig):
    model: str = "trm"  # trm | hrm (chosen by --model)
    # None: the preset's value (TRAIN_PRESETS)
    batch: int | None = opt(None, "Slots per process (default: the preset's: cpu 32, mazes 16; paper 768).",
                            flag="--batch-size", short="-b")
    lr: float | None = opt(None, "Peak learning rate (default: the preset's: cpu 1e-3, paper 1e-4).")
    weight_decay: float | None = opt(None, "AdamW weight decay (default: the preset's: cpu 0.1, paper 1.0).")
    max_steps_per_puzzle: int | None = opt(None, "Supervision steps per puzzle, N_sup (default: the preset's: "
                                                 "cpu 8, paper 16).")
    precision: str = opt("auto", "fp32 | bf16 (autocast; weights and optimizer stay fp32) | auto: bf16 on a GPU, "
                                 "with AMX, or where a bf16 matmul measures 1.2x fp32's speed, else fp32.")
    compile: bool | None = opt(None, "torch.compile the model (default: on when a C++ compiler is found and the "
                                     "run has >= 10 minutes and no --steps below 500: compiling takes ~1 min on "
                                     "a CPU).", flag="--compile/--no-compile")
    ema: float = opt(0.999, "Weight EMA decay; 0 disables it (the checkpoint then holds the raw weights).")
    beta1: float = opt(0.9, "AdamW beta1.")
    beta2: float = opt(0.95, "AdamW beta2.")
    grad_clip: float = opt(1.0, "Gradient norm clip (0: none).")
    explore: float = opt(0.1, "Share of new slots forced to run a random 2..N_sup steps.")
    q_weight: float = opt(0.5, "Loss weight of the Q (halting) heads.")
    augment: bool = opt(True, "Train on random symmetric views of the puzzles.", flag="--augment/--no-augment")
    latent_noise: float = opt(0.0, "TRM: add N(0, s^2) noise to every latent update while training (EqR: 0.01), "
                                   "so the model learns to use PTRM's test-time noise.")
    start_noise: float = opt(0.0, "TRM: each puzzle's latent starts at the fixed initial vector plus N(0, s^2) "
                                  "noise (EqR's random start: 1).")
    eqr: bool = opt(False, "TRM: EqR's recipe, short for --latent-noise 0.01 --start-noise 1 --arch damping=0.95 "
                           "(each given value wins).", flag="--eqr/--no-eqr")
    micro_batch: int | None = opt(None, "Slots per forward and backward pass: a step runs the batch in pieces "
                                        "whose gradients add up to the batch's, the same update in less memory "
                                        "(0: the whole batch in one pass; default: 32 on a CPU, 0 on a GPU).")
    val_limit: int = opt(256, "Validation puzzles per evaluation, at most (each runs every supervision step).")
    recompute: bool | None = opt(None, "Keep only each net call's inputs for the backward pass and recompute the "
                                       "rest there: a fraction of the activation memory for one more forward pass "
                                       "of the gradient recursion (default: the preset's, paper on and cpu off, "
                                       "and off while --micro-batch splits the batch).",
                          flag="--recompute/--no-recompute")

    family: ClassVar[str] = "rsolve.train.recursive_loop:Recursive"
    models: ClassVar[tuple] = MODELS

    def architecture_fields(self) -> list[str]:
        from dataclasses import fields

        from ..models import hrm, trm

        return [f.name for f in fields(hrm.HRMConfig if self.model == "hrm" else trm.TRMConfig)]

    def __post_init__(self):
        super().__post_init__()
        if self.model not in self.models:
            raise ValueError(f"no recursive trainer for {self.model!r}; choose from {', '.join(self.models)}")
        if self.kind not in KINDS:
            raise ValueError(f"unknown puzzle kind {self.kind!r}")
        self._fill_recipe()
        if self.model != "trm" and (self.eqr or self.latent_noise or self.start_noise):
            raise ValueError("--eqr, --latent-noise and --start-noise are for --model trm")
        if self.eqr:
            self.latent_noise = self.latent_noise or EQR["latent_noise"]
            self.start_noise = self.start_noise or EQR["start_noise"]
            self.overrides = {"damping": EQR["damping"], **self.overrides}
        for name, ok in (("--batch-size", self.batch >= 1), ("--micro-batch", self.micro_batch >= 0),
                         ("--max-steps-per-puzzle", self.max_steps_per_puzzle >= 1),
                         ("--ema", 0 <= self.ema < 1), ("--latent-noise", 0 <= self.latent_noise <= 10),
                         ("--start-noise", 0 <= self.start_noise <= 10), ("--lr", self.lr > 0), ("--val-limit", self.val_limit >= 1),
                         ("--precision", self.precision in PRECISIONS)):
            if not ok:
                raise ValueError(f"{name} is out of range" if name != "--precision" else
                                 f"unknown precision {self.precision!r}; choose from auto, {', '.join(PRECISIONS)}")

    def _fill_recipe(self) -> None:
        """Resolve the auto settings: preset by device, the preset's recipe for what is
        unset, precision by the hardware, compile by the run's length."""
        from ..devices import bf16_pays, can_compile, resolve_device

        device = resolve_device(self.device)
        if self.preset == "auto":
            self.preset = "paper" if device.type == "cuda" else "cpu"
        if self.preset not in TRAIN_PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; choose from auto, {', '.join(TRAIN_PRESETS)}")
        recipe = {**TRAIN_PRESETS[self.preset], **KIND_OVERRIDES.get((self.preset, self.kind), {})}
        for key, value in recipe.items():
            if getattr(self, key) is None and key != "recompute":
                setattr(self, key, value)
        if self.micro_batch is None:
            self.micro_batch = CPU_MICRO_BATCH if device.type == "cpu" else 0
        if self.recompute is None:  # pieces of the batch keep little for the backward pass already
            self.recompute = recipe["recompute"] and not 0 < self.micro_batch < self.batch
        if self.precision == "auto":
            self.precision = "bf16" if bf16_pays(device) else "fp32"
        if self.compile is None:
            # compiling took about a minute on a 2-core CPU and then ran 1.3-1.6x faster
            long_run = self.minutes >= 10 and (self.max_steps == 0 or self.max_steps >= 500)
            self.compile = long_run and can_compile(device)
