"""The LDT training loop: on-policy pool, time-budgeted schedule, atomic
checkpoints with a card, and resumable state (see rsolve.train.ldt for the data,
targets and losses)."""

from __future__ import annotations

import random
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from .. import checkpoints
from ..lattice import domain_for
from ..lattice.rounds import SymmetryPool, assign, choose_branch, project
from ..models import ldt as ldt_model
from ..models.layers import count_parameters
from ..puzzles.dataset import dataset_hash, load_examples, split_examples
from .common import RunLog, format_duration, load_state, lr_at, machine, pick_device, save_state, set_threads
from .ldt import LDTTrainConfig, Samples, elimination_quality, loss_fn, targets


def advance(domain, batch, outputs, threshold, closure, generator):
    """Every row's next state under the model's own solve round (no extra pass)."""
    keep, value, _ = outputs[-1]
    cand, static = batch["cand"], batch["static"]
    cand, _ = project(cand, batch["fixed"], keep.detach(), threshold)
    use = torch.rand(cand.shape[0], generator=generator) < closure
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
    if kind == "sudoku":
        s = puzzle.side
        return dict(side=s), dict(height=s, width=s, in_channels=s, values=s)
    return dict(height=puzzle.height, width=puzzle.width), dict(height=puzzle.height, width=puzzle.width)


def train(cfg: LDTTrainConfig) -> Path:
    """Train (or resume) and write the checkpoint folder `cfg.out`; returns its path."""
    set_threads(cfg.threads)
    if pick_device(cfg.device).type != "cpu":
        print("note: LDT training runs its rounds on the CPU; using the CPU", file=sys.stderr)
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    examples = load_examples(cfg.data)
    if not examples or any(e.solution is None or e.puzzle.kind != cfg.kind for e in examples):
        raise ValueError(f"{cfg.data}: training needs {cfg.kind} puzzles with solutions")
    if cfg.val_data:
        train_ex, val_ex = examples, load_examples(cfg.val_data)
    else:
        train_ex, val_ex = split_examples(examples, cfg.val_fraction, cfg.seed)
    domain_shape, arch_shape = _shape(cfg.kind, train_ex[0].puzzle)
    domain = domain_for(cfg.kind, "cpu", **domain_shape)
    model, prior = _initial_model(cfg, arch_shape)
    threshold = cfg.threshold if cfg.threshold is not None else (0.1 if cfg.kind == "sudoku" else 0.5)
    syms = SymmetryPool(domain, 512, cfg.seed)
    samples = Samples(cfg.kind, train_ex, domain, syms, rng, cfg.closure)
    val_batch = Samples(cfg.kind, val_ex, domain, syms, random.Random(1), cfg.closure).fresh(
        min(256, 4 * len(val_ex)), mix=(0.3, 0.7, 0.0))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.95))
    run = Path(cfg.out).with_name(Path(cfg.out).name + ".run")
    state_path = run / "state.pt"
    step, elapsed, commands = 0, 0.0, prior["commands"] + [cfg.command]
    if cfg.resume and state_path.exists():
        state = load_state(state_path)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, elapsed = int(state["step"]), float(state["elapsed"])
        commands = [c for c in state.get("commands", "").split("\n") if c] + [cfg.command]
        prior["seconds"] = float(state.get("prior_seconds", prior["seconds"]))
        print(f"resuming at step {step} ({format_duration(elapsed)} done)", file=sys.stderr)
    log = RunLog(run)
    budget, n_pool = cfg.minutes * 60, int(cfg.batch * cfg.pool_fraction)
    pool = samples.fresh(n_pool)
    gen = torch.Generator().manual_seed(cfg.seed + step)
    start, last_val, seen = time.monotonic() - elapsed, elapsed, 0
    session = time.monotonic()
    print(f"training LDT {cfg.kind} ({cfg.preset} preset, {count_parameters(model):,} parameters) on "
          f"{len(train_ex)} examples, validating on {len(val_ex)}; budget {cfg.minutes:g} min", file=sys.stderr)
    while True:
        elapsed = time.monotonic() - start
        progress = max(elapsed / budget, step / cfg.max_steps if cfg.max_steps else 0.0)
        if progress >= 1:
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(progress, cfg.lr)
        batch = _cat(pool, samples.fresh(cfg.batch - n_pool))
        keep_t, consistent = targets(cfg.kind, domain, batch)
        model.train()
        outputs = list(zip(*model(domain.inputs(batch["cand"], batch["static"]))))
        loss, parts = loss_fn(cfg, cfg.kind, outputs, batch, keep_t, consistent)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step, seen = step + 1, seen + cfg.batch
        # the pool: live descendants of rows that still held a solution
        nxt, live = advance(domain, batch, outputs, threshold, cfg.closure, gen)
        keepers = (live & consistent & (nxt["age"] < cfg.max_age)).nonzero().flatten()
        pool = _take(nxt, keepers[torch.randperm(len(keepers), generator=gen)[:n_pool]])
        if len(pool["cand"]) < n_pool:
            pool = _cat(pool, samples.fresh(n_pool - len(pool["cand"])))
        unsound, recall = elimination_quality(outputs[-1][0].detach(), batch, keep_t, consistent, threshold)
        log.log({"step": step, "minutes": round(elapsed / 60, 2), "lr": opt.param_groups[0]["lr"],
                 "loss": loss.item(), **parts, "unsound": unsound, "recall": recall,
                 "conflict_rows": int((~consistent).sum()),
                 "samples_per_s": round(seen / max(1e-9, time.monotonic() - session), 2)})
        if elapsed - last_val >= cfg.val_every * 60:
            last_val = elapsed
            _save(cfg, model, opt, step, elapsed, state_path, log, val_batch, domain, threshold, train_ex, val_ex,
                  commands=commands, prior=prior["seconds"])
    elapsed = time.monotonic() - start
    path = _save(cfg, model, opt, step, elapsed, state_path, log, val_batch, domain, threshold, train_ex, val_ex,
                 final=True, commands=commands, prior=prior["seconds"])
    log.close()
    return path


@torch.no_grad()
def validate(cfg, model, domain, batch, threshold) -> dict:
    model.eval()
    keep_t, consistent = targets(cfg.kind, domain, batch)
    outputs = list(zip(*model(domain.inputs(batch["cand"], batch["static"]))))
    _, parts = loss_fn(cfg, cfg.kind, outputs, batch, keep_t, consistent)
    unsound, recall = elimination_quality(outputs[-1][0], batch, keep_t, consistent, threshold)
    return {"val_keep_loss": round(parts["keep"], 5), "val_unsound": round(unsound, 6),
            "val_recall": round(recall, 4)}


def _initial_model(cfg, arch_shape):
    """A fresh model from the preset, or (--init) the weights and architecture of a
    checkpoint, with that checkpoint's training history (commands, seconds)."""
    if not cfg.init:
        return ldt_model.build(cfg.kind, cfg.preset, **{**arch_shape, **cfg.overrides}), \
            {"commands": [], "seconds": 0.0}
    try:
        ckpt = checkpoints.validate(cfg.init, engine="ldt", kind=cfg.kind)
        model = ldt_model.from_config({**ckpt.architecture, **cfg.overrides})
        model.load_state_dict(checkpoints.load_state_dict(ckpt))
    except checkpoints.CheckpointError as exc:
        raise ValueError(f"--init: {exc}") from None
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"--init {cfg.init}: weights do not fit ({str(exc).splitlines()[0][:160]})") from None
    training = ckpt.config.get("training", {})
    history = ckpt.config.get("history") or {  # checkpoints written before "history" existed
        "commands": str(training.get("commands") or training.get("command", "")).split("\n"),
        "seconds": training.get("seconds_total", training.get("seconds", 0))}
    commands, seconds = [c for c in history["commands"] if c], float(history["seconds"])
    print(f"warm start from {cfg.init} ({format_duration(seconds)} of training)", file=sys.stderr)
    return model, {"commands": commands, "seconds": seconds}


def _save(cfg, model, opt, step, elapsed, state_path, log, val_batch, domain, threshold, train_ex, val_ex,
          final=False, commands=(), prior=0.0):
    metrics = validate(cfg, model, domain, val_batch, threshold)
    log.log({"step": step, "minutes": round(elapsed / 60, 2), **metrics}, force=True)
    save_state(state_path, {"model": model.state_dict(), "optimizer": opt.state_dict(),
                            "step": step, "elapsed": elapsed, "commands": "\n".join(commands),
                            "prior_seconds": prior})
    card = _card(cfg, step, elapsed, metrics, len(train_ex), len(val_ex), count_parameters(model), threshold, final,
                 commands, prior)
    training = {**asdict(cfg), "steps": step, "seconds": round(elapsed)}
    history = {"commands": list(commands), "seconds": round(elapsed + prior)}  # with any --init checkpoint's
    return checkpoints.save(cfg.out, model.state_dict(), engine="ldt", kind=cfg.kind,
                            architecture=model.cfg.to_dict(), card=card,
                            extra={"training": training, "history": history, "threshold": threshold}).path


def _card(cfg, step, elapsed, metrics, n_train, n_val, params, threshold, final, commands=(), prior=0.0) -> str:
    data = f"`{cfg.data}` (sha256 {dataset_hash(cfg.data)[:16]})"
    split = (f"validation set `{cfg.val_data}` ({n_val} examples)" if cfg.val_data else
             f"{n_train} examples trained, {n_val} held back for validation "
             f"(--val-fraction {cfg.val_fraction}, seed {cfg.seed})")
    lines = [f"# LDT {cfg.kind} checkpoint ({cfg.preset} preset)", ""]
    if not final:
        lines += ["**Intermediate checkpoint: training was still running.**", ""]
    runs = [c for c in commands if c] or [cfg.command or "(Python API)"]
    lines += ["- Command" + ("s, in order" if len(runs) > 1 else "") + ": " + " then ".join(f"`{c}`" for c in runs),
              f"- Data: {data}; {split}",
              f"- Model: {params:,} parameters; {step} steps x batch {cfg.batch}",
              f"- Wall time: {format_duration(elapsed)}" + (f" (this run) + {format_duration(prior)} (the --init "
                                                            f"checkpoint) = {format_duration(prior + elapsed)}"
                                                            if cfg.init else ""),
              f"- Machine: {machine()}",
              f"- Validation (one network pass on held-back raw and hinted states, threshold {threshold}): "
              + ", ".join(f"{k} {v}" for k, v in metrics.items()),
              ""]
    return "\n".join(lines)
