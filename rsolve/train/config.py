"""What every trainer is configured with, and how a trainer declares its options.

A model family's config is a dataclass deriving from TrainConfig; each field made
with `opt(default, help)` is one of its command-line options (name, type, default,
help), so `rsolve train` derives its flags, their help and their "only for --model
X" checks from the declarations. No torch here: `rsolve --help` stays light.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from typing import ClassVar

# model name -> "module:ConfigClass"; adding a family is one line here
FAMILIES = {"ldt": "rsolve.train.ldt_config:LDTTrainConfig",
            "trm": "rsolve.train.recursive_config:RecursiveTrainConfig",
            "hrm": "rsolve.train.recursive_config:RecursiveTrainConfig",
            "gram": "rsolve.train.gram_config:GRAMTrainConfig"}

# (train, val) puzzles generated when no --data is given: each set takes about a
# minute on a 2-core CPU (one process: 9x9 Sudoku ~105/s, 30x30 mazes ~15/s)
GENERATED_SIZES = {"sudoku": (6000, 500), "maze": (800, 64)}


def _sizes(part: int) -> str:
    return ", ".join(f"{kind} {sizes[part]}" for kind, sizes in GENERATED_SIZES.items())


def opt(default, help: str, flag: str | None = None, short: str | None = None, flag_only: bool = False):
    """A config field that is also a CLI option (`--name-with-dashes` unless `flag`
    is given; `flag_only`: a bool that is only ever switched on, like --resume)."""
    meta = {"help": help, "flag": flag, "short": short, "flag_only": flag_only}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    """The options every family has; families add their own fields (and may redeclare
    a field here to change its default or help)."""

    kind: str
    data: str | None = opt(None, "Training dataset (rsolve JSONL or any importable format); default: "
                                 "generate one (see --train-size) and cache it under "
                                 "$XDG_CACHE_HOME/rsolve/data.", short="-d")
    out: str | None = opt(None, "Checkpoint folder (default: the user checkpoint folder's MODEL-KIND-trained, "
                                "found by `--checkpoint MODEL-KIND-trained`).", short="-o")
    val_data: str | None = opt(None, "Validation set (default: the generated one, or a split of --data).")
    val_fraction: float = opt(0.1, "Share of --data held back for validation when no --val-data is given.")
    train_size: int | None = opt(None, f"Puzzles to generate for training when no --data is given "
                                       f"(default: {_sizes(0)}: about a minute on 2 CPU cores).")
    val_size: int | None = opt(None, f"Puzzles to generate for validation when no --data is given "
                                     f"(default: {_sizes(1)}).")
    preset: str = opt("auto", "cpu (small, for this kind of machine) | paper | auto (trm/hrm: paper on a GPU, "
                              "else cpu; ldt: cpu).")
    minutes: float = opt(100.0, "Wall-time budget; the learning-rate schedule fits it.")
    max_steps: int = opt(0, "Stop after this many steps (0: the time budget only).", flag="--steps")
    batch: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    warmup: float = opt(0.05, "Share of the run spent warming the learning rate up.")
    lr_floor: float = opt(0.1, "The cosine schedule decays to this times --lr (1.0: constant).")
    seed: int = opt(0, "Seed of the weights, the sampling and the generated data.")
    device: str = opt("auto", "auto | cpu | cuda.")
    threads: int = opt(0, "Torch CPU threads (0: torch's default).")
    val_every: float = opt(10.0, "Minutes between validations (each also saves the checkpoint).")
    save_every: float = opt(5.0, "Minutes between saves of the resumable state (the first within a minute).")
    log_every: float = opt(30.0, "Seconds between progress lines.")
    resume: bool = opt(False, "Continue the run in OUT.run where it stopped.", flag_only=True)
    overwrite: bool = opt(False, "Start over, deleting the checkpoint and run already in OUT.", flag_only=True)
    init: str | None = opt(None, "Warm start from this checkpoint's weights and architecture (folder or name).")
    command: str = ""  # the command line, for the card
    overrides: dict = field(default_factory=dict)  # architecture overrides (--arch KEY=VALUE)

    family: ClassVar[str] = ""  # "module:Class" of the trainer (a rsolve.train.loop.Family)

    def __post_init__(self):
        for name, ok in (("--minutes", self.minutes > 0), ("--steps", self.max_steps >= 0),
                         ("--train-size", self.train_size is None or self.train_size >= 1),
                         ("--val-size", self.val_size is None or self.val_size >= 1),
                         ("--val-fraction", 0 <= self.val_fraction < 1), ("--warmup", 0 <= self.warmup < 1),
                         ("--save-every", self.save_every > 0), ("--val-every", self.val_every > 0),
                         ("--threads", self.threads >= 0)):
            if not ok:
                raise ValueError(f"{name} {getattr(self, name[2:].replace('-', '_'), '')} is out of range")
        if self.preset not in ("auto", "cpu", "paper"):
            raise ValueError(f"unknown preset {self.preset!r}; choose from auto, cpu, paper")
        self._check_arch()
        if self.resume and self.overwrite:
            raise ValueError("--resume continues the run in OUT and --overwrite deletes it: give one of them")

    def architecture_fields(self) -> list[str]:
        """The settings `--arch KEY=VALUE` may change (the family's model config fields)."""
        return []

    def _check_arch(self) -> None:
        """Unknown `--arch` keys are refused before any data is generated."""
        known = self.architecture_fields()
        unknown = sorted(set(self.overrides) - set(known)) if known else []
        if unknown:
            raise ValueError(f"--arch: no setting {unknown[0]!r} (settings: {', '.join(known)})")


@dataclass(frozen=True)
class Option:
    """One declared option: the config field, its flag(s), type, default and help."""
    name: str
    flags: tuple
    type: type
    default: object
    help: str
    flag_only: bool


def config_class(model: str) -> type[TrainConfig]:
    if model not in FAMILIES:
        raise ValueError(f"no trainer for model {model!r}; trainable: {', '.join(FAMILIES)}")
    module, name = FAMILIES[model].split(":")
    return getattr(importlib.import_module(module), name)


def options(cls: type[TrainConfig]) -> list[Option]:
    """The CLI options a config class declares, in declaration order."""
    import typing

    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if "help" not in f.metadata:
            continue
        kind = hints[f.name]
        kind = next((a for a in typing.get_args(kind) if a is not type(None)), kind)  # X | None -> X
        flag = f.metadata["flag"] or "--" + f.name.replace("_", "-")
        flags = (flag,) + ((f.metadata["short"],) if f.metadata["short"] else ())
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        out.append(Option(f.name, flags, kind, default, f.metadata["help"], f.metadata["flag_only"]))
    return out
