"""What the TRM/HRM loop reads and writes: data shards, the initial model
(preset or --init), torchrun process groups, the checkpoint folder and its card."""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import asdict, dataclass, field, fields
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist

from .. import checkpoints
from ..models import hrm, trm
from ..puzzles.dataset import DatasetError, dataset_hash, load_examples, split_examples
from .common import format_duration, machine
from .recursive import RecursiveTrainConfig, TokenSet

MODULES = {"trm": trm, "hrm": hrm}
NAMES = {"trm": "TRM", "hrm": "HRM"}


# ------------------------------------------------------------------ processes


def start_distributed(device: torch.device) -> tuple[int, int, torch.device]:
    """(rank, world size, device). Under torchrun (WORLD_SIZE > 1) this joins the
    process group: gloo on CPU, NCCL on CUDA, one GPU per local rank."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, device
    rank = int(os.environ.get("RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        # generous timeout: the other ranks wait while rank 0 validates and saves
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timedelta(hours=2))
    return rank, world, device


def stop_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def agree(value: float, world: int, device) -> float:
    """Rank 0's value on every rank: the schedule runs on wall time, and ranks whose
    clocks disagree would otherwise use different learning rates or stop apart."""
    if world <= 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.broadcast(t, 0)
    return float(t.item())


def weights_digest(model) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()


def all_digests(model, world: int) -> list[str]:
    """Every rank's weight hash (DDP keeps replicas equal; this checks that it did)."""
    mine = weights_digest(model)
    if world <= 1:
        return [mine]
    out = [None] * world
    dist.all_gather_object(out, mine)
    return out


# ------------------------------------------------------------------ data and model


@dataclass
class Data:
    train: TokenSet  # this rank's shard
    val: TokenSet | None  # rank 0 only, at most cfg.val_size puzzles
    n_train: int  # over all ranks
    n_val: int
    sha256: str


def _check_kind(path, examples, kind):
    if not examples:
        raise ValueError(f"{path}: no examples")
    for e in examples:
        where = f" ({e.source})" if e.source else ""
        if e.kind != kind:
            raise ValueError(f"{path}: holds {e.kind} puzzles, not {kind}{where}")
        if e.solution is None:
            raise ValueError(f"{path}: training needs a solution for every puzzle{where}")


def load_data(cfg: RecursiveTrainConfig, rank: int, world: int) -> Data:
    examples = load_examples(cfg.data)
    _check_kind(cfg.data, examples, cfg.kind)
    if cfg.val_data:
        train_ex, val_ex = examples, load_examples(cfg.val_data)
        _check_kind(cfg.val_data, val_ex, cfg.kind)
    else:
        train_ex, val_ex = split_examples(examples, cfg.val_fraction, cfg.seed)
    if len(train_ex) < world:
        raise ValueError(f"{cfg.data}: {len(train_ex)} training examples cannot feed {world} processes")
    # each rank trains on its own interleaved shard: no puzzle is seen twice per epoch
    shard = TokenSet(cfg.kind, train_ex[rank::world])
    val = TokenSet(cfg.kind, val_ex[:cfg.val_size]) if val_ex and rank == 0 else None
    if val is not None and (val.cells, val.vocab) != (shard.cells, shard.vocab):
        raise DatasetError(f"{cfg.val_data or cfg.data}: validation puzzles have {val.cells} cells, "
                           f"training puzzles {shard.cells}")
    return Data(shard, val, len(train_ex), len(val_ex), dataset_hash(cfg.data))


def initial_model(cfg: RecursiveTrainConfig, cells: int, vocab: int):
    """(model, history): a fresh model from the preset, or (--init) a checkpoint's
    architecture and weights with its training history (commands, seconds)."""
    module, history = MODULES[cfg.model], {"commands": [], "seconds": 0.0}
    known = [f.name for f in fields(module.HRMConfig if cfg.model == "hrm" else module.TRMConfig)]
    unknown = sorted(set(cfg.overrides) - set(known))
    if unknown:
        raise ValueError(f"--arch: {NAMES[cfg.model]} has no setting {unknown[0]!r} (settings: {', '.join(known)})")
    if not cfg.init:
        model = module.build(cfg.kind, cfg.preset, **{"seq_len": cells, "vocab_size": vocab, **cfg.overrides})
    else:
        try:
            ckpt = checkpoints.validate(cfg.init, engine=cfg.model, kind=cfg.kind)
            model = module.from_config({**ckpt.architecture, **cfg.overrides})
            model.load_state_dict(checkpoints.load_state_dict(ckpt))
        except checkpoints.CheckpointError as exc:
            raise ValueError(f"--init: {exc}") from None
        except (RuntimeError, TypeError, ValueError) as exc:
            raise ValueError(f"--init {cfg.init}: weights do not fit its architecture "
                             f"({str(exc).splitlines()[0][:160]})") from None
        prior = ckpt.config.get("history") or {}
        history = {"commands": [c for c in prior.get("commands", []) if c],
                   "seconds": float(prior.get("seconds", 0.0))}
    if (model.cfg.seq_len, model.cfg.vocab_size) != (cells, vocab):
        raise ValueError(f"{cfg.init or '--arch'}: the network reads {model.cfg.seq_len} cells over "
                         f"{model.cfg.vocab_size} tokens; the data has {cells} cells over {vocab}")
    return model, history


# ------------------------------------------------------------------ output


@dataclass
class Record:
    """What the card and config.json say about the run besides the config."""
    data: Data
    world: int
    params: int
    commands: list = field(default_factory=list)
    prior_seconds: float = 0.0  # training time of the --init checkpoint's history


def run_folder(out: str) -> Path:
    return Path(out).with_name(Path(out).name + ".run")


def save_checkpoint(cfg: RecursiveTrainConfig, weights: dict, architecture: dict, rec: Record, step: int,
                    elapsed: float, metrics: dict, final: bool) -> Path:
    training = {**asdict(cfg), "steps": step, "seconds": round(elapsed), "world_size": rec.world}
    history = {"commands": list(rec.commands), "seconds": round(elapsed + rec.prior_seconds)}
    extra = {"training": training, "history": history, "data_sha256": rec.data.sha256, "validation": metrics}
    card = _card(cfg, architecture, rec, step, elapsed, metrics, final)
    return checkpoints.save(cfg.out, weights, engine=cfg.model, kind=cfg.kind, architecture=architecture,
                            card=card, extra=extra).path


def _card(cfg, arch, rec: Record, step, elapsed, metrics, final) -> str:
    d = rec.data
    split = (f"validated on `{cfg.val_data}` ({d.n_val} examples)" if cfg.val_data else
             f"{d.n_train} examples trained, {d.n_val} held back for validation and never trained on "
             f"(--val-fraction {cfg.val_fraction}, seed {cfg.seed})")
    runs = [c for c in rec.commands if c] or [cfg.command or "(Python API)"]
    mixer = f"mixer {arch['mixer']}, " if "mixer" in arch else ""
    halting = "q_halt > q_continue" if cfg.model == "hrm" else "q_halt > 0"
    wall = format_duration(elapsed)
    if cfg.init:
        wall += (f" (this run) + {format_duration(rec.prior_seconds)} (the --init checkpoint) = "
                 f"{format_duration(elapsed + rec.prior_seconds)}")
    shown = min(d.n_val, cfg.val_size)
    lines = [f"# {NAMES[cfg.model]} {cfg.kind} checkpoint ({cfg.preset} preset)", ""]
    if not final:
        lines += ["**Intermediate checkpoint: training was still running.**", ""]
    lines += [
        "- Command" + ("s, in order" if len(runs) > 1 else "") + ": " + " then ".join(f"`{c}`" for c in runs),
        f"- Data: `{cfg.data}` (sha256 {d.sha256}); {split}"
        + (f"; sharded over {rec.world} processes" if rec.world > 1 else ""),
        f"- Model: {NAMES[cfg.model]}, {mixer}dim {arch['dim']}, {rec.params:,} parameters; weights are the "
        f"EMA (decay {cfg.ema}) of the trained ones",
        f"- Training: {step} optimizer steps x {cfg.batch} slots x {rec.world} process(es); one supervision step "
        f"per slot per optimizer step, up to {cfg.max_steps_per_puzzle} per puzzle (halt: {halting}, "
        f"{cfg.explore:.0%} forced exploration); AdamW lr {cfg.lr:g} (warmup {cfg.warmup:.0%}, cosine to "
        f"{cfg.lr_floor:g}x), weight decay {cfg.weight_decay:g}, clip {cfg.grad_clip:g}; {cfg.precision}"
        + (", torch.compile" if cfg.compile else "") + ("; augmented on the fly" if cfg.augment else ""),
        "- Loss: softmax cross-entropy on every cell (the official code uses stablemax) + "
        f"{cfg.q_weight:g} x BCE(q_halt, grid right)" + (f" + {cfg.q_weight:g} x BCE(q_continue, bootstrapped "
                                                         "next-step target)" if cfg.model == "hrm" else ""),
        f"- Wall time: {wall}",
        f"- Machine: {machine()}",
        (f"- Validation (EMA weights, {shown} held-back puzzles, up to {cfg.max_steps_per_puzzle} supervision steps, "
         "answer taken when the Q head halts): " + ", ".join(f"{k} {v}" for k, v in metrics.items()))
        if metrics else "- Validation: none (no validation examples)",
        ""]
    return "\n".join(lines)


def note(message: str, rank: int = 0) -> None:
    if rank == 0:
        print(message, file=sys.stderr, flush=True)
