"""The TRM/HRM training loop: deep supervision over persistent slots, EMA, a
time-budgeted schedule, rank-0 validation and atomic checkpoints, resumable
state, and DistributedDataParallel under torchrun (see rsolve.train.recursive
for the data, halting and losses)."""

from __future__ import annotations

import inspect
import random
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel

from .. import verify
from ..models.layers import count_parameters
from ..puzzles import Maze
from ..puzzles.sudoku import PuzzleError
from .common import RunLog, format_duration, load_state, lr_at, pick_device, save_state, set_threads
from .recursive import (EMA, RecursiveTrainConfig, Sampler, Slots, TokenSet, empty_slots, halt_decision,
                        q_continue_target, refill, supervision_loss, wants_halt)
from .recursive_io import (NAMES, Record, agree, all_digests, initial_model, load_data, note, run_folder,
                           save_checkpoint, start_distributed, stop_distributed)


def autocast(device: torch.device, precision: str):
    if precision != "bf16":
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


class Stepper:
    """The model, its EMA and optimizer, and one optimizer step = one supervision
    step on every slot (the bench times exactly this)."""

    def __init__(self, model, cfg: RecursiveTrainConfig, device: torch.device, distributed: bool = False):
        self.model, self.cfg, self.device = model, cfg, device
        self.ema = EMA(model, cfg.ema)
        self.opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                                     betas=(cfg.beta1, cfg.beta2))
        fwd = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None,
                                      **_no_buffer_sync()) if distributed else model
        self.fwd = torch.compile(fwd) if cfg.compile else fwd
        # HRM's extra no-grad forward must not go through DDP's gradient bookkeeping
        self.peek = (torch.compile(model) if distributed else self.fwd) if cfg.compile else model
        self.use_continue = cfg.model == "hrm"

    def step(self, slots: Slots, draw, lr: float, generator: torch.Generator) -> tuple[Slots, dict]:
        cfg = self.cfg
        slots = refill(slots, self.model, draw)
        self.model.train()
        for g in self.opt.param_groups:
            g["lr"] = lr
        with autocast(self.device, cfg.precision):
            out = self.fwd(slots.carry, slots.tokens)
        steps = slots.steps + 1
        target = None
        if self.use_continue:
            with torch.no_grad(), autocast(self.device, cfg.precision):
                target = q_continue_target(self.peek(out.carry, slots.tokens), steps >= cfg.max_steps_per_puzzle)
        loss, parts, cell, solved = supervision_loss(out, slots.labels, target, cfg.q_weight)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.opt.step()
        self.ema.update(self.model)
        q_halt, q_cont = out.q_halt.detach(), out.q_continue.detach()
        halted = halt_decision(steps, q_halt, q_cont, cfg.max_steps_per_puzzle, cfg.explore, self.use_continue,
                               generator)
        stats = {"loss": loss.item(), **parts, "halted": int(halted.sum()),
                 "solved_at_halt": int((solved & halted).sum()), "cell_at_halt": float(cell[halted].sum()),
                 # every slot trains the halt head every step, so every slot scores it
                 "halt_right": float(((q_halt >= 0) == solved).float().mean()),
                 "depth": float(steps[halted].float().sum())}
        carry = tuple(c.float() for c in out.carry)  # one dtype across steps (bf16 autocast returns bf16)
        return Slots(slots.tokens, slots.labels, steps, halted, carry), stats


def _no_buffer_sync() -> dict:
    """DDP options that skip the per-step buffer broadcast: the buffers are constants
    (fixed initial states, rope tables), synced once when DDP starts. Newer torch
    renamed the option."""
    params = inspect.signature(DistributedDataParallel.__init__).parameters
    return {"forward_sync_buffers": False} if "forward_sync_buffers" in params else {"broadcast_buffers": False}


class Meter:
    """Count-weighted running averages that forget slowly: halted puzzles are few per
    step, so per-step accuracies would be noise."""

    def __init__(self, keep: float = 0.98):
        self.keep, self.num, self.den = keep, {}, {}

    def add(self, name: str, total: float, count: float) -> None:
        self.num[name] = self.keep * self.num.get(name, 0.0) + total
        self.den[name] = self.keep * self.den.get(name, 0.0) + count

    def __getitem__(self, name: str) -> float:
        return round(self.num.get(name, 0.0) / max(self.den.get(name, 0.0), 1e-9), 4)


def train(cfg: RecursiveTrainConfig) -> Path | None:
    """Train (or resume) and write the checkpoint folder `cfg.out`. Returns its path
    (None on ranks other than 0 under torchrun)."""
    set_threads(cfg.threads)
    rank, world, device = start_distributed(pick_device(cfg.device))
    try:
        return _train(cfg, rank, world, device)
    finally:
        stop_distributed()


def _train(cfg, rank, world, device) -> Path | None:
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    data = load_data(cfg, rank, world)
    model, prior = initial_model(cfg, data.train.cells, data.train.vocab)
    rec = Record(data, world, count_parameters(model), prior["commands"] + [cfg.command], prior["seconds"])
    run = run_folder(cfg.out)
    state_path = run / "state.pt"
    state = load_state(state_path) if cfg.resume and state_path.exists() else None
    if cfg.resume and state is None:
        note(f"nothing to resume in {run}; starting a new run", rank)
    model.to(device)
    stepper = Stepper(model, cfg, device, distributed=world > 1)
    rng, gen = random.Random(f"{cfg.seed}/{rank}"), torch.Generator().manual_seed(cfg.seed * 7919 + rank)
    step, elapsed = 0, 0.0
    if state is not None:
        try:
            model.load_state_dict(state["model"])
            stepper.ema.load_state_dict(state["ema"])
            stepper.opt.load_state_dict(state["optimizer"])
        except (RuntimeError, KeyError, ValueError) as exc:
            raise ValueError(f"{state_path}: saved state does not fit this model "
                             f"({str(exc).splitlines()[0][:160]})") from None
        step, elapsed = int(state["step"]), float(state["elapsed"])
        rec.commands = [c for c in state["commands"].split("\n") if c] + [cfg.command]
        rec.prior_seconds = float(state["prior_seconds"])
        if rank == 0:  # other ranks draw a new stream: their old one was not saved
            rng.setstate(state["rng"])
            gen.set_state(state["generator"])
        else:
            rng.seed(f"{cfg.seed}/{rank}/{step}")
        note(f"resuming at step {step} ({format_duration(elapsed)} done)", rank)
    log = RunLog(run, every=cfg.log_every) if rank == 0 else None
    note(f"training {NAMES[cfg.model]} {cfg.kind} ({cfg.preset} preset, {rec.params:,} parameters, {cfg.precision}"
         f"{', compiled' if cfg.compile else ''}) on {data.n_train} examples"
         f"{f' over {world} processes' if world > 1 else ''}, validating on {min(data.n_val, cfg.val_size)}; "
         f"batch {cfg.batch}, up to {cfg.max_steps_per_puzzle} supervision steps per puzzle; budget "
         f"{cfg.minutes:g} min" + (f" or {cfg.max_steps} steps" if cfg.max_steps else ""), rank)

    sampler = Sampler(data.train, rng, cfg.augment)
    slots = empty_slots(model, cfg.batch, data.train.cells, device)
    meter, budget = Meter(), cfg.minutes * 60
    start, session = time.monotonic() - elapsed, time.monotonic()
    last_val = last_state = elapsed
    first_progress, first_step = None, step
    while True:
        elapsed = time.monotonic() - start
        progress = agree(max(elapsed / budget, step / cfg.max_steps if cfg.max_steps else 0.0), world, device)
        first_progress = progress if first_progress is None else first_progress
        if progress >= 1:
            break
        lr = lr_at(progress, cfg.lr, cfg.warmup, cfg.lr_floor)
        try:
            slots, stats = stepper.step(slots, sampler.draw, lr, gen)
        except Exception as exc:  # compiling happens in the first step: say what to do instead
            if not cfg.compile or step > first_step:
                raise
            raise ValueError(f"torch.compile failed ({type(exc).__name__}: {str(exc).splitlines()[0][:120]}); "
                             "train with --no-compile") from None
        step += 1
        if rank != 0:
            continue
        meter.add("exact", stats["solved_at_halt"], stats["halted"])
        meter.add("cell", stats["cell_at_halt"], stats["halted"])
        meter.add("depth", stats["depth"], stats["halted"])
        meter.add("halt", stats["halt_right"], 1)
        spent = time.monotonic() - session
        now = max((time.monotonic() - start) / budget, step / cfg.max_steps if cfg.max_steps else 0.0)
        rate = max(1e-12, now - first_progress) / max(spent, 1e-9)
        log.log({"step": step, **({"of": cfg.max_steps} if cfg.max_steps else {}),
                 "minutes": round(elapsed / 60, 2), "lr": lr,
                 "loss": round(stats["loss"], 4), "cell_acc": meter["cell"], "exact_acc": meter["exact"],
                 "halt_acc": meter["halt"], "depth": meter["depth"],
                 # a sample is one supervision step of one puzzle; this session only (not a resumed past)
                 "samples_per_s": round((step - first_step) * cfg.batch * world / max(spent, 1e-9), 1),
                 "eta": format_duration(max(0.0, (1 - now) / rate))},
                force=step == first_step + 1)
        if elapsed - last_val >= cfg.val_every * 60:
            last_val = last_state = elapsed
            _save(cfg, stepper, rec, step, elapsed, state_path, log, rng, gen, final=False)
        elif elapsed - last_state >= cfg.save_every * 60:  # so a killed run loses minutes, not a validation period
            last_state = elapsed
            _save_state(stepper, rec, step, elapsed, state_path, rng, gen)
    digests = all_digests(model, world)
    if rank != 0:
        return None
    if world > 1:
        log.log({"step": step, "rank_weights_sha256": digests, "ranks_agree": len(set(digests)) == 1}, force=True)
    path = _save(cfg, stepper, rec, step, time.monotonic() - start, state_path, log, rng, gen, final=True)
    log.close()
    return path


def _save(cfg, stepper: Stepper, rec: Record, step, elapsed, state_path, log, rng, gen, final) -> Path:
    metrics = evaluate(stepper.ema.model, rec.data.val, cfg, stepper.device) if rec.data.val else {}
    log.log({"step": step, "minutes": round(elapsed / 60, 2), **metrics}, force=True)
    _save_state(stepper, rec, step, elapsed, state_path, rng, gen)
    ema = stepper.ema.model
    return save_checkpoint(cfg, ema.state_dict(), ema.cfg.to_dict(), rec, step, elapsed, metrics, final)


def _save_state(stepper: Stepper, rec: Record, step, elapsed, state_path, rng, gen) -> None:
    save_state(state_path, {"model": stepper.model.state_dict(), "ema": stepper.ema.state_dict(),
                            "optimizer": stepper.opt.state_dict(), "step": step, "elapsed": elapsed,
                            "commands": "\n".join(rec.commands), "prior_seconds": rec.prior_seconds,
                            "rng": rng.getstate(), "generator": gen.get_state()})


@torch.no_grad()
def evaluate(model, tokens: TokenSet, cfg: RecursiveTrainConfig, device) -> dict:
    """Exact accuracy of `model` on the first cfg.val_size puzzles, running up to N_sup
    supervision steps; a puzzle's answer is the one it had when its Q head first said
    halt (or the last). Mazes also count answers the verifier accepts as valid and
    shortest, since shortest paths are not unique."""
    model.eval()
    n, steps = min(len(tokens), cfg.val_size), cfg.max_steps_per_puzzle
    use_continue = cfg.model == "hrm"
    exact = exact_last = cell = depth = accepted = 0.0
    for lo in range(0, n, cfg.batch):
        x, y = (t.to(device) for t in tokens.take(list(range(lo, min(n, lo + cfg.batch)))))
        carry = model.initial_carry(len(x))
        answer, done = torch.zeros_like(y), torch.zeros(len(x), dtype=torch.bool, device=device)
        used = torch.zeros(len(x), device=device)
        for s in range(1, steps + 1):
            with autocast(device, cfg.precision):
                out = model(carry, x)
            carry, pred = out.carry, out.logits.argmax(-1)
            stop = ~done & (wants_halt(out.q_halt, out.q_continue, use_continue) | (s == steps))
            answer = torch.where(stop[:, None], pred, answer)
            used[stop], done = float(s), done | stop
        exact += float((answer == y).all(-1).sum())
        exact_last += float((pred == y).all(-1).sum())
        cell += float((answer == y).float().mean(-1).sum())
        depth += float(used.sum())
        if cfg.kind == "maze":
            accepted += sum(_maze_accepted(tokens.puzzles[lo + i], row, tokens.width)
                            for i, row in enumerate(answer.cpu().tolist()))
    metrics = {"val_exact": round(exact / n, 4), "val_exact_all_steps": round(exact_last / n, 4),
               "val_cell": round(cell / n, 4), "val_steps": round(depth / n, 2)}
    if cfg.kind == "maze":
        metrics["val_valid_shortest"] = round(accepted / n, 4)
    return metrics


def _maze_accepted(puzzle: Maze, row: list[int], width: int) -> bool:
    try:
        return verify.check(puzzle, Maze.from_tokens(row, width)).accepted
    except PuzzleError:
        return False
