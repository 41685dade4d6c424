"""What a training run reads and writes besides its loop: the output folder and
its run folder (OUT.run: metrics, resumable state), the --init checkpoint and its
history, the data split, the saved random streams, and the checkpoint with its
card and config.json."""

from __future__ import annotations

import random
import shutil
from dataclasses import asdict
from pathlib import Path

import torch

from .. import checkpoints
from ..puzzles.dataset import load_examples, split_examples
from . import datagen
from .common import format_duration, machine, note


def run_folder(out) -> Path:
    return Path(out).with_name(Path(out).name + ".run")


def default_out(cfg, engine: str) -> None:
    """Without --out, train into the user checkpoint folder (where --checkpoint NAME finds it)."""
    if cfg.out is None:
        cfg.out = str(checkpoints.user_dir() / f"{engine}-{cfg.kind}-trained")


def check_out(cfg) -> None:
    """Refuse to mix runs: OUT holding a run needs --resume or --overwrite, --resume
    needs a saved state, and OUT must be a checkpoint folder (or new)."""
    out, run = Path(cfg.out), run_folder(cfg.out)
    is_checkpoint = (out / checkpoints.CONFIG).is_file()
    if out.exists() and not is_checkpoint and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out}: exists and is not a checkpoint folder; choose another --out")
    if cfg.init and checkpoints.resolve(cfg.init).resolve() == out.resolve():  # init: a path or a name
        raise ValueError("--init and --out name the same folder; write the new checkpoint elsewhere")
    state = run / "state.pt"
    if cfg.resume and not state.is_file():
        hint = f" (to continue from its weights: --init {out} with another --out)" if is_checkpoint else ""
        raise ValueError(f"--resume: nothing to resume in {run} (no state.pt){hint}")
    if cfg.resume:
        return
    if (is_checkpoint or state.is_file()) and not cfg.overwrite:
        raise ValueError(f"{out} already holds a run: pass --resume to continue it, --overwrite to start over, "
                         "or another --out")


def start_fresh(cfg) -> None:
    """A new run (after check_out, once the data is known good): no stale checkpoint,
    metrics or state of an earlier one."""
    if cfg.resume:
        return
    out = Path(cfg.out)
    if (out / checkpoints.CONFIG).is_file():
        shutil.rmtree(out)
    shutil.rmtree(run_folder(out), ignore_errors=True)


def announce(cfg, engine: str) -> None:
    """Where the run writes, and how the checkpoint is used (by name when --checkpoint finds it)."""
    out = Path(cfg.out).resolve()
    name = out.name if out.parent == checkpoints.user_dir().resolve() else str(out)
    note(f"rsolve: training into {out} (progress log, metrics and resumable state in {run_folder(out)})")
    use = (f"rsolve generate {cfg.kind} --model {engine} --checkpoint {name}" if getattr(cfg, "unconditional", False)
           else f"rsolve solve PUZZLES -m {engine} --checkpoint {name}")
    note(f"rsolve: use it with: {use}")


# ------------------------------------------------------------------ inputs


def open_init(cfg, engine: str) -> tuple[checkpoints.Checkpoint | None, dict]:
    """(the --init checkpoint or None, its training history: commands and seconds)."""
    source, flag = cfg.init, "--init"
    if getattr(cfg, "from_trm", None):  # GRAM grown from a TRM: its weights and history are the start
        source, flag, engine = cfg.from_trm, "--from-trm", "trm"
    if not source:
        return None, {"commands": [], "seconds": 0.0}
    try:
        ckpt = checkpoints.validate(source, engine=engine, kind=cfg.kind)
    except checkpoints.CheckpointError as exc:
        raise ValueError(f"{flag}: {exc}") from None
    training = ckpt.config.get("training", {})
    history = ckpt.config.get("history") or {  # checkpoints written before "history" existed
        "commands": str(training.get("commands") or training.get("command", "")).split("\n"),
        "seconds": training.get("seconds_total", training.get("seconds", 0))}
    return ckpt, {"commands": [c for c in history["commands"] if c], "seconds": float(history["seconds"])}


def init_model(ckpt, from_config, overrides: dict):
    """The --init checkpoint's architecture (with --arch overrides) holding its weights."""
    try:
        model = from_config({**ckpt.architecture, **overrides})
        model.load_state_dict(checkpoints.load_state_dict(ckpt))
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ValueError(f"--init {ckpt.path}: weights do not fit its architecture "
                         f"({str(exc).splitlines()[0][:160]})") from None
    note(f"warm start from {ckpt.path}")
    return model


def _check_kind(path, examples, kind):
    if not examples:
        raise ValueError(f"{path}: no examples")
    for e in examples:
        where = f" ({e.source})" if e.source else ""
        if e.kind != kind:
            raise ValueError(f"{path}: holds {e.kind} puzzles, not {kind}{where}")
        if e.solution is None:
            raise ValueError(f"{path}: training needs a solution for every puzzle{where}")


def load_split(cfg) -> tuple[list, list]:
    """(training examples, validation examples): --val-data, else a split of --data."""
    examples = load_examples(cfg.data)
    _check_kind(cfg.data, examples, cfg.kind)
    if not cfg.val_data:
        return split_examples(examples, cfg.val_fraction, cfg.seed)
    val = load_examples(cfg.val_data)
    _check_kind(cfg.val_data, val, cfg.kind)
    return examples, val


# ------------------------------------------------------------------ random streams


def rng_state(rngs: dict, device: torch.device) -> dict:
    """Every random stream a run draws from: the family's own, Python's and torch's global ones."""
    state = {"python": random.getstate(), "torch": torch.get_rng_state(),
             "family": {k: r.getstate() if isinstance(r, random.Random) else r.get_state() for k, r in rngs.items()}}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rngs(rngs: dict, state: dict, device: torch.device) -> None:
    random.setstate(_tuples(state["python"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)
    for k, r in rngs.items():
        saved = state["family"][k]
        r.setstate(_tuples(saved)) if isinstance(r, random.Random) else r.set_state(saved)


def reseed(rngs: dict, seed: int, rank: int, step: int) -> None:
    """Fresh streams for a rank whose own were not saved (only rank 0 saves)."""
    for i, r in enumerate(rngs.values()):
        r.seed(f"{seed}/{rank}/{step}/{i}") if isinstance(r, random.Random) else r.manual_seed(
            seed * 7919 + rank * 104729 + step * 31 + i)


def _tuples(x):
    """random.setstate wants the tuples a save may have turned into lists."""
    return tuple(_tuples(v) for v in x) if isinstance(x, (list, tuple)) else x


# ------------------------------------------------------------------ the checkpoint


def write_checkpoint(run, final: bool) -> Path:
    """The checkpoint folder (weights, config.json, card) of a run at its current step."""
    cfg, family = run.cfg, run.family
    weights, architecture = family.weights()
    # the recipe, without how this invocation treated OUT (that is in the command)
    recipe = {k: v for k, v in asdict(cfg).items() if k not in ("resume", "overwrite")}
    training = {**recipe, "steps": run.step, "seconds": round(run.elapsed)}
    history = {"commands": list(run.commands), "seconds": round(run.elapsed + run.prior_seconds)}
    extra = {"training": training, "history": history, "data_sha256": run.data_sha256,
             "validation": run.metrics, "world_size": run.world, **family.extra()}
    return checkpoints.save(cfg.out, weights, engine=family.engine, kind=cfg.kind, architecture=architecture,
                            card=card(run, final), extra=extra).path


def card(run, final: bool) -> str:
    cfg, family = run.cfg, run.family
    lines = [f"# {family.name} {cfg.kind} checkpoint ({cfg.preset} preset)", ""]
    if not final:
        lines += ["**Intermediate checkpoint: training was still running.**", ""]
    runs = [c for c in run.commands if c] or [cfg.command or "(Python API)"]
    wall = format_duration(run.elapsed)
    if cfg.init:
        wall += (f" (this run) + {format_duration(run.prior_seconds)} (the --init checkpoint) = "
                 f"{format_duration(run.elapsed + run.prior_seconds)}")
    lines += ["- Command" + ("s, in order" if len(runs) > 1 else "") + ": " + " then ".join(f"`{c}`" for c in runs),
              f"- Data: `{cfg.data}` (sha256 {run.data_sha256}); {_split(run)}",
              *family.card_lines(run.step),
              f"- Wall time: {wall}",
              f"- Machine: {machine()}",
              _validation_line(run), ""]
    return "\n".join(lines)


def _split(run) -> str:
    cfg = run.cfg
    made = Path(cfg.data).parent == datagen.cache_dir()
    text = f"generated by rsolve.generate (seed {cfg.seed}); " if made else ""
    if cfg.val_data:
        text += f"{run.n_train} examples trained, validated on `{cfg.val_data}` ({run.n_val} examples)"
    else:
        text += (f"{run.n_train} examples trained, {run.n_val} held back for validation and never trained on "
                 f"(--val-fraction {cfg.val_fraction}, seed {cfg.seed})")
    return text + (f"; sharded over {run.world} processes" if run.world > 1 else "")


def _validation_line(run) -> str:
    if not run.metrics:
        return "- Validation: none yet (no validation examples, or stopped before the first validation)"
    when = "" if run.metrics_step == run.step else f", at step {run.metrics_step}"
    return (f"- Validation ({run.family.validation_note()}{when}): "
            + ", ".join(f"{k} {v}" for k, v in run.metrics.items()))
