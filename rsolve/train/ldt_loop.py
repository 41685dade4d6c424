"""The LDT family on the training skeleton: an on-policy pool of lattice states,
every tensor on the run's device (see rsolve.train.ldt for the data, targets and
losses, rsolve.train.loop for the schedule, saves and resume)."""

from __future__ import annotations

import random
from pathlib import Path

import torch

from ..lattice import domain_for
from ..lattice.rounds import SymmetryPool, assign, choose_branch, project
from ..models import ldt as ldt_model
from ..models.layers import count_parameters
from . import loop, runfiles
from .ldt import LDTTrainConfig, Samples, elimination_quality, loss_fn, targets


def train(cfg: LDTTrainConfig) -> Path:
    """Train (or resume) and write the checkpoint folder `cfg.out`; returns its path."""
    return loop.train(cfg)


def advance(domain, batch, outputs, threshold, closure, generator):
    """Every row's next state under the model's own solve round (no extra pass)."""
    keep, value, _ = outputs[-1]
    cand, static = batch["cand"], batch["static"]
    cand, _ = project(cand, batch["fixed"], keep.detach(), threshold)
    use = torch.rand(cand.shape[0], generator=generator, device=cand.device) < closure
    cand = torch.where(use[:, None, None], domain.close(cand, static), cand)
    live = ~domain.bottom(cand, static) & ~domain.decided(cand, static)
    if live.any():
        rows = live.nonzero().flatten()
        cell, val = choose_branch(domain, cand[rows], static[rows], value.detach()[rows], 1.0, generator)
        cand = assign(cand, rows, cell, val)
        cand = torch.where(use[:, None, None], domain.close(cand, static), cand)
    return {**batch, "cand": cand, "age": batch["age"] + 1}, live


def _cat(a, b):
    return {k: torch.cat([a[k], b[k]]) for k in a}


def _take(batch, rows):
    return {k: v[rows] for k, v in batch.items()}


def _shape(kind, puzzle):
    """(domain shape, architecture shape) of a puzzle."""
    if kind == "sudoku":
        s = puzzle.side
        return dict(side=s), dict(height=s, width=s, in_channels=s, values=s)
    return dict(height=puzzle.height, width=puzzle.width), dict(height=puzzle.height, width=puzzle.width)


class LDT(loop.Family):
    name, engine = "LDT", "ldt"

    def load_data(self, train_examples, val_examples) -> None:
        cfg, device = self.cfg, self.device
        domain_shape, self.arch_shape = _shape(cfg.kind, train_examples[0].puzzle)
        self.domain = domain_for(cfg.kind, device, **domain_shape)
        self.threshold = cfg.threshold if cfg.threshold is not None else (0.1 if cfg.kind == "sudoku" else 0.5)
        self.rng, self.gen = random.Random(cfg.seed), torch.Generator(device=device).manual_seed(cfg.seed)
        self.rngs = {"rows": self.rng, "tensors": self.gen}
        syms = SymmetryPool(self.domain, 512, cfg.seed)
        self.samples = Samples(cfg.kind, train_examples, self.domain, syms, self.rng, cfg.closure, self.gen)
        val = Samples(cfg.kind, val_examples, self.domain, syms, random.Random(1), cfg.closure,
                      torch.Generator(device=device).manual_seed(1))
        # fixed, for comparisons (a grid network pass is hundreds of iterations: fewer states)
        val_rows = 64 if cfg.kind == "maze" and cfg.preset == "cpu" else 256
        self.val_batch = val.fresh(min(val_rows, 4 * len(val_examples)), mix=(0.3, 0.7, 0.0))
        self.n_train, self.n_val = len(train_examples), len(val_examples)
        self.n_pool = int(cfg.batch * cfg.pool_fraction)
        self.stages = self._stages(syms)
        self.stage = None  # which samples the pool holds: a curriculum size, or -1 for the data

    def _stages(self, data_syms) -> dict:
        """{size: (domain, Samples)} for each curriculum size, -1 for the data."""
        cfg, device = self.cfg, self.device
        stages = {-1: (self.domain, self.samples)}
        if cfg.sizes:
            from .ldt_grid import curriculum_examples

            for size, examples in curriculum_examples(cfg.sizes, cfg.curriculum_mazes, cfg.seed).items():
                domain = domain_for("maze", device, height=size, width=size)
                syms = SymmetryPool(domain, 512, cfg.seed)
                stages[size] = (domain, Samples("maze", examples, domain, syms, self.rng, cfg.closure, self.gen))
        return stages

    def build(self, init) -> None:
        cfg = self.cfg
        if init is None:
            model = ldt_model.build(cfg.kind, cfg.preset, **{**self.arch_shape, **cfg.overrides})
        else:
            model = runfiles.init_model(init, ldt_model.from_config, cfg.overrides)
        self.model = model.to(self.device)
        self.grid = getattr(model, "any_size", False)
        if cfg.sizes and not self.grid:
            raise ValueError("--curriculum trains the grid network (the maze cpu preset) only")
        self.opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.95))
        self._enter_stage()

    def _enter_stage(self) -> None:
        """Follow the curriculum: a new size starts a fresh pool (states of one size per batch)."""
        size = self._stage_size()
        if size != self.stage:
            self.stage = size
            self.pool = self.stages[size][1].fresh(self.n_pool)

    def _stage_size(self) -> int:
        if not self.cfg.sizes:
            return -1
        from .ldt_grid import stage

        i = stage(self.progress, self.cfg.sizes, self.cfg.curriculum_share)
        return -1 if i < 0 else self.cfg.sizes[i]

    def summary(self) -> str:
        cfg = self.cfg
        return (f"training LDT {cfg.kind} ({cfg.preset} preset, {count_parameters(self.model):,} parameters) on "
                f"{self.n_train} examples, validating on {self.n_val}; {self.device.type}, budget {cfg.minutes:g} min"
                + (f" or {cfg.max_steps} steps" if cfg.max_steps else ""))

    def step(self, lr: float) -> dict:
        cfg = self.cfg
        for g in self.opt.param_groups:
            g["lr"] = lr
        self._enter_stage()
        domain, samples = self.stages[self.stage]
        batch = _cat(self.pool, samples.fresh(cfg.batch - self.n_pool))
        keep_t, consistent = targets(cfg.kind, domain, batch)
        self.model.train()
        if self.grid:
            from .ldt_grid import grid_loss

            loss, parts, last, finished = grid_loss(cfg, self.model, domain, batch, keep_t, consistent, self.rng)
            outputs = [last]
        else:
            outputs = list(zip(*self.model(domain.inputs(batch["cand"], batch["static"]))))
            loss, parts = loss_fn(cfg, cfg.kind, outputs, batch, keep_t, consistent)
            finished = torch.ones_like(consistent)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        self._refill_pool(domain, samples, batch, outputs, consistent, finished)
        unsound, recall = elimination_quality(outputs[-1][0].detach()[finished], _take(batch, finished),
                                              keep_t[finished], consistent[finished], self.threshold) \
            if finished.any() else (0.0, 0.0)
        return {"loss": loss.item(), **parts, "unsound": unsound, "recall": recall,
                "conflict_rows": int((~consistent).sum()), **({"size": domain.height} if cfg.sizes else {})}

    def _refill_pool(self, domain, samples, batch, outputs, consistent, finished) -> None:
        """The pool: live descendants of rows that still held a solution, topped up fresh.
        Rows whose pass had not finished (the grid network's window ended early) stay as they were."""
        done, waiting = finished.nonzero().flatten(), (~finished).nonzero().flatten()
        nxt = _take(batch, waiting)
        if len(done):
            sub = [(k[done], v[done], c[done]) for k, v, c in outputs]
            moved, live = advance(domain, _take(batch, done), sub, self.threshold, self.cfg.closure, self.gen)
            keepers = (live & consistent[done] & (moved["age"] < self.cfg.max_age)).nonzero().flatten()
            nxt = _cat(_take(moved, keepers), nxt)
        order = torch.randperm(len(nxt["cand"]), generator=self.gen, device=done.device)
        self.pool = _take(nxt, order[:self.n_pool])
        if len(self.pool["cand"]) < self.n_pool:
            self.pool = _cat(self.pool, samples.fresh(self.n_pool - len(self.pool["cand"])))

    @torch.no_grad()
    def validate(self) -> dict:
        cfg, domain, batch = self.cfg, self.domain, self.val_batch
        self.model.eval()
        keep_t, consistent = targets(cfg.kind, domain, batch)
        if self.grid:
            bits = domain.inputs(batch["cand"], batch["static"], channels=self.model.cfg.in_channels)
            outputs = list(zip(*self.model(bits, shape=(domain.height, domain.width))))
        else:
            outputs = list(zip(*self.model(domain.inputs(batch["cand"], batch["static"]))))
        _, parts = loss_fn(cfg, cfg.kind, outputs, batch, keep_t, consistent)
        unsound, recall = elimination_quality(outputs[-1][0], batch, keep_t, consistent, self.threshold)
        return {"val_keep_loss": round(parts["keep"], 5), "val_unsound": round(unsound, 6),
                "val_recall": round(recall, 4)}

    def state(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(), "pool": self.pool,
                "stage": self.stage}

    def load_state(self, state: dict, stream: bool = True) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.pool = {k: v.to(self.device) for k, v in state["pool"].items()}
        self.stage = state.get("stage", -1)

    def weights(self) -> tuple[dict, dict]:
        return self.model.state_dict(), self.model.cfg.to_dict()

    def card_lines(self, step: int) -> list[str]:
        return [f"- Model: {count_parameters(self.model):,} parameters; {step} steps x batch {self.cfg.batch}"]

    def validation_note(self) -> str:
        return f"one network pass on held-back raw and hinted states, threshold {self.threshold}"

    def samples_per_step(self) -> int:
        return self.cfg.batch

    def extra(self) -> dict:
        return {"threshold": self.threshold}
