"""The one training skeleton every model family runs on.

A family (rsolve.train.ldt_loop.LDT, rsolve.train.recursive_loop.Recursive, ...)
supplies the model and what one optimizer step, a validation and its resumable
state are; `train` owns the rest: device and threads, torchrun process groups,
the --init checkpoint, refusing to clobber a run, generated data, the wall-time
learning-rate schedule, progress lines with an ETA, validations and atomic saves
(the first state save within a minute), resume with every random stream, stopping
cleanly on SIGINT/SIGTERM, and the checkpoint's card and config.json.
"""

from __future__ import annotations

import importlib
import signal
import threading
import time
from pathlib import Path

import torch

from ..devices import resolve_device
from ..puzzles.dataset import dataset_hash
from . import datagen, distributed, runfiles
from .common import RunLog, format_duration, load_state, lr_at, note, save_state, set_threads


class Family:
    """What a model family supplies. Subclasses set the class attributes and
    implement every method; `rngs` names the random streams they draw from (Python
    `random.Random`s and torch generators), which resumable state saves."""

    name = "?"  # for the card and messages, e.g. "LDT"
    engine = "?"  # the checkpoint's engine (rsolve solve -m ENGINE)
    distributed = False  # whether it runs under torchrun (DistributedDataParallel)

    def __init__(self, cfg, device: torch.device, rank: int = 0, world: int = 1):
        self.cfg, self.device, self.rank, self.world = cfg, device, rank, world
        self.rngs: dict = {}
        self.model = None
        self.progress = 0.0  # share of the budget spent, set by the loop before each step

    def load_data(self, train_examples: list, val_examples: list) -> None: ...
    def build(self, init) -> None: ...  # the model (fresh, or from the --init Checkpoint), optimizer, ...
    def summary(self) -> str: ...  # the line that starts training
    def step(self, lr: float) -> dict: ...  # one optimizer step; what the progress line shows
    def validate(self) -> dict: ...  # validation metrics (rank 0 only)
    def state(self) -> dict: ...  # resumable state: weights, optimizer, pools, ...
    def load_state(self, state: dict, stream: bool = True) -> None: ...  # stream: also this rank's data stream
    def weights(self) -> tuple[dict, dict]: ...  # (tensors, architecture) for the checkpoint
    def card_lines(self, step: int) -> list[str]: ...  # the card's model and recipe lines
    def validation_note(self) -> str: ...  # what the card's validation figures measure
    def samples_per_step(self) -> int: ...

    def extra(self) -> dict:  # more config.json entries
        return {}


class Stopped(Exception):
    """Training stopped on a signal after saving; `step` is where it resumes."""

    def __init__(self, signum: int, step: int):
        super().__init__(f"stopped at step {step}")
        self.signum, self.step = signum, step


def train(cfg) -> Path | None:
    """Train (or resume) and write the checkpoint folder `cfg.out`; returns its path
    (None on ranks other than 0 under torchrun). Raises ValueError on bad input and
    Stopped after a signal."""
    set_threads(cfg.threads)
    rank, world, device = distributed.start(resolve_device(cfg.device))
    if world > 1 and getattr(cfg, "precision", None) in ("fp32", "bf16"):
        # `auto` timed bf16 on each rank under the others' load: all ranks take rank 0's choice
        bf16, = distributed.agree([float(cfg.precision == "bf16")], world, device)
        cfg.precision = "bf16" if bf16 else "fp32"
    try:
        return Run(cfg, rank, world, device).run()
    finally:
        distributed.stop()


def family_class(cfg) -> type[Family]:
    module, name = type(cfg).family.split(":")
    return getattr(importlib.import_module(module), name)


class Run:
    """One training run: the family plus everything the skeleton keeps."""

    def __init__(self, cfg, rank: int, world: int, device: torch.device):
        self.cfg, self.rank, self.world, self.device = cfg, rank, world, device
        self.family = family = family_class(cfg)(cfg, device, rank, world)
        if world > 1 and not family.distributed:
            raise ValueError(f"{family.name} training runs in one process: start it without torchrun")
        init, history = runfiles.open_init(cfg, family.engine)
        runfiles.default_out(cfg, family.engine)
        runfiles.check_out(cfg)
        datagen.ensure(cfg, rank)
        distributed.barrier(world)  # the others wait while rank 0 generates
        train_ex, val_ex = runfiles.load_split(cfg)
        if rank == 0:  # once the data is known good (bad data is one line, and --overwrite keeps the old run)
            runfiles.start_fresh(cfg)
            runfiles.announce(cfg, family.engine)
        self.n_train, self.n_val, self.data_sha256 = len(train_ex), len(val_ex), dataset_hash(cfg.data)
        torch.manual_seed(cfg.seed)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
        family.load_data(train_ex, val_ex)
        family.build(init)
        self.step, self.elapsed = 0, 0.0
        self.commands, self.prior_seconds = history["commands"] + [cfg.command], history["seconds"]
        self.metrics, self.metrics_step = {}, None
        self.state_path = runfiles.run_folder(cfg.out) / "state.pt"
        if cfg.resume:
            self._resume()
        self.log = RunLog(self.state_path.parent, every=cfg.log_every) if rank == 0 else None

    def run(self) -> Path | None:
        note(self.family.summary(), self.rank)
        self._loop()
        digests = distributed.all_digests(self.family.model, self.world) if self.world > 1 else []
        path = None
        if self.rank == 0:
            if digests:
                self.log.log({"step": self.step, "rank_weights_sha256": digests,
                              "ranks_agree": len(set(digests)) == 1}, force=True)
            path = self._save(final=True)
            self.log.close()
        # every rank leaves together: a gloo group torn down while rank 0 still saves aborts the process
        distributed.barrier(self.world)
        return path

    def _loop(self) -> None:
        cfg, budget = self.cfg, self.cfg.minutes * 60
        start, first = time.monotonic() - self.elapsed, None
        next_val = self.elapsed + cfg.val_every * 60
        next_state = self.elapsed + min(60.0, cfg.save_every * 60)  # a short run leaves something to resume
        with Signals() as signals:
            while True:
                self.elapsed = time.monotonic() - start
                progress, signum = distributed.agree([self._progress(budget), signals.signum], self.world,
                                                     self.device)
                if signum:
                    self._stop(int(signum))
                if progress >= 1:
                    return
                first = first or (time.monotonic(), self.step)  # where this session's rates start
                lr = lr_at(progress, cfg.lr, cfg.warmup, cfg.lr_floor)
                self.family.progress = progress  # for families with a curriculum
                stats = {"lr": lr, **self.family.step(lr)}
                self.step += 1
                if self.rank != 0:
                    continue
                self._progress_line(stats, budget, first)
                if self.elapsed >= next_val:
                    next_val, next_state = self.elapsed + cfg.val_every * 60, self.elapsed + cfg.save_every * 60
                    self._save(final=False)
                elif self.elapsed >= next_state:
                    next_state = self.elapsed + cfg.save_every * 60
                    self._save_state()

    def _progress(self, budget: float) -> float:
        return max(self.elapsed / budget, self.step / self.cfg.max_steps if self.cfg.max_steps else 0.0)

    def _progress_line(self, stats: dict, budget: float, first: tuple) -> None:
        time0, step0 = first
        spent = max(time.monotonic() - time0, 1e-9)  # this session: a resumed past ran at another speed
        eta = budget - self.elapsed  # the time budget ends the run, unless the step limit comes first
        if self.cfg.max_steps:
            eta = min(eta, (self.cfg.max_steps - self.step) * spent / (self.step - step0))
        samples = (self.step - step0) * self.family.samples_per_step()
        record = {"step": self.step, **({"of": self.cfg.max_steps} if self.cfg.max_steps else {}),
                  "minutes": round(self.elapsed / 60, 2), **stats,
                  "samples_per_s": round(samples / spent, 1), "eta": format_duration(max(0.0, eta))}
        self.log.log(record, force=self.step == step0 + 1)

    # ------------------------------------------------------------------ saving and resuming

    def _save(self, final: bool, validate: bool = True) -> Path:
        if validate:
            devices = [self.device] if self.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices):  # validating draws nothing from training's streams
                self.metrics, self.metrics_step = self.family.validate(), self.step
            self.log.log({"step": self.step, "minutes": round(self.elapsed / 60, 2), **self.metrics}, force=True)
        self._save_state()
        return runfiles.write_checkpoint(self, final)

    def _save_state(self) -> None:
        save_state(self.state_path, {
            "family": self.family.state(), "step": self.step, "elapsed": self.elapsed,
            "commands": "\n".join(self.commands), "prior_seconds": self.prior_seconds,
            "metrics": self.metrics, "metrics_step": self.metrics_step, "data_sha256": self.data_sha256,
            "rng": runfiles.rng_state(self.family.rngs, self.device)})

    def _resume(self) -> None:
        state = load_state(self.state_path)
        if "family" not in state:
            raise ValueError(f"{self.state_path}: written by an older rsolve trainer; start over with --overwrite, "
                             f"or continue from the checkpoint's weights with --init {self.cfg.out} --out NEW")
        try:
            self.family.load_state(state["family"], stream=self.rank == 0)
        except (RuntimeError, KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"{self.state_path}: saved state does not fit this model "
                             f"({str(exc).splitlines()[0][:160]})") from None
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        self.commands = [c for c in state["commands"].split("\n") if c] + [self.cfg.command]
        self.prior_seconds = float(state["prior_seconds"])
        self.metrics, self.metrics_step = dict(state["metrics"]), state["metrics_step"]
        if self.rank == 0:
            runfiles.restore_rngs(self.family.rngs, state["rng"], self.device)
        else:  # only rank 0's streams were saved
            runfiles.reseed(self.family.rngs, self.cfg.seed, self.rank, self.step)
        if state["data_sha256"] != self.data_sha256:
            note(f"warning: {self.cfg.data} is not the data the run started on", self.rank)
        note(f"resuming at step {self.step} ({format_duration(self.elapsed)} done)", self.rank)

    def _stop(self, signum: int) -> None:
        """Save what there is (no validation: a stop should be quick) and raise Stopped."""
        if self.rank == 0:
            note(f"rsolve: {signal.Signals(signum).name}: saving the run at step {self.step}"
                 + (" (Ctrl-C again quits without saving)" if signum == signal.SIGINT else ""))
            self._save(final=False, validate=False)
            self.log.close()
        distributed.barrier(self.world)
        raise Stopped(signum, self.step)


class Signals:
    """SIGINT and SIGTERM ask the loop to save and stop after the current step;
    a second Ctrl-C quits at once, without saving. (Handlers can only be set from
    the main thread; elsewhere signals keep their usual effect.)"""

    def __enter__(self):
        self.signum, self.previous = 0, {}
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self.previous[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        # no printing here: the main thread may be in the middle of a write to stderr
        if signum == self.signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = self.signum or signum

    def __exit__(self, *exc) -> None:
        for s, handler in self.previous.items():
            signal.signal(s, handler)
