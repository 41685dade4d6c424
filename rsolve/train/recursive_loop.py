"""The TRM/HRM family on the training skeleton: deep supervision over persistent
slots, EMA weights, DistributedDataParallel under torchrun, validation by the Q
head's halting (see rsolve.train.recursive for the data, halting and losses,
rsolve.train.loop for the schedule, saves and resume)."""

from __future__ import annotations

import inspect
import random
from contextlib import nullcontext
from dataclasses import fields
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel

from .. import verify
from ..models import hrm, trm
from ..models.layers import count_parameters, recompute
from ..puzzles import Maze
from ..puzzles.dataset import DatasetError
from ..puzzles.sudoku import PuzzleError
from . import loop, runfiles
from .recursive import (EMA, Sampler, Slots, TokenSet, empty_slots, halt_decision, q_continue_target, refill,
                        supervision_loss, wants_halt)
from .recursive_config import RecursiveTrainConfig

MODULES = {"trm": trm, "hrm": hrm}
NAMES = {"trm": "TRM", "hrm": "HRM"}


def autocast(device: torch.device, precision: str):
    if precision != "bf16":
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


class Stepper:
    """The model, its EMA and optimizer, and one optimizer step = one supervision
    step on every slot (the bench times exactly this)."""

    def __init__(self, model, cfg: RecursiveTrainConfig, device: torch.device, distributed: bool = False):
        self.model, self.cfg, self.device = model, cfg, device
        self.ema = EMA(model, cfg.ema)  # copied before recompute is set: the EMA net never trains
        recompute(model, cfg.recompute)
        self.opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                                     betas=(cfg.beta1, cfg.beta2))
        self.ddp = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None,
                                           **_no_buffer_sync()) if distributed else None
        fwd = self.ddp or model
        # one graph per micro-batch shape (at most two: the full ones and a shorter last one)
        self.fwd = torch.compile(fwd, dynamic=False) if cfg.compile else fwd
        # HRM's extra no-grad forward must not go through DDP's gradient bookkeeping
        self.peek = (torch.compile(model, dynamic=False) if distributed else self.fwd) if cfg.compile else model
        self.use_continue = cfg.model == "hrm"

    def step(self, slots: Slots, draw, lr: float, generator: torch.Generator) -> tuple[Slots, dict]:
        cfg = self.cfg
        slots = refill(slots, self.model, draw, cfg.start_noise, generator)
        self.model.train()
        for g in self.opt.param_groups:
            g["lr"] = lr
        steps = slots.steps + 1
        self.opt.zero_grad(set_to_none=True)
        carry, q_halt, q_cont, loss, parts, cell, solved = self.forward_backward(slots, steps)
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.opt.step()
        self.ema.update(self.model)
        halted = halt_decision(steps, q_halt, q_cont, cfg.max_steps_per_puzzle, cfg.explore, self.use_continue,
                               generator)
        stats = {"loss": loss, **parts, "halted": int(halted.sum()),
                 "solved_at_halt": int((solved & halted).sum()), "cell_at_halt": float(cell[halted].sum()),
                 # every slot trains the halt head every step, so every slot scores it
                 "halt_right": float(((q_halt >= 0) == solved).float().mean()),
                 "depth": float(steps[halted].float().sum())}
        carry = tuple(c.float() for c in carry)  # one dtype across steps (bf16 autocast returns bf16)
        return Slots(slots.tokens, slots.labels, steps, halted, carry), stats

    def forward_backward(self, slots: Slots, steps: torch.Tensor) -> tuple:
        """The batch's gradient, added up over pieces of `cfg.micro_batch` slots: the loss
        is a mean over slots, so a piece's loss weighs its share of the batch and the sum
        is the whole batch's gradient, while the backward pass keeps one piece's
        activations instead of the batch's. Returns (carry, q_halt, q_continue, loss,
        loss parts, cell accuracy, solved) of the whole batch, detached."""
        batch = len(steps)
        size = self.cfg.micro_batch or batch
        # the once-a-step loss joins the last piece's backward, the one DDP synchronises
        extra_loss, parts_sum = self.step_loss(slots) or (None, {})
        outs, loss_sum = [], 0.0 if extra_loss is None else extra_loss.item()
        for start in range(0, batch, size):
            part = slice(start, start + size)
            share = len(steps[part]) / batch
            piece = Slots(slots.tokens[part], slots.labels[part], steps[part], slots.halted[part],
                          tuple(c[part] for c in slots.carry))
            last = start + size >= batch
            with nullcontext() if self.ddp is None or last else self.ddp.no_sync():
                out, loss, parts, cell, solved = self.loss(piece, steps[part])
                total = loss * share
                (total + extra_loss if last and extra_loss is not None else total).backward()
            outs.append((*out.carry, out.q_halt, out.q_continue, cell, solved))
            loss_sum += loss.item() * share
            for k, v in parts.items():
                parts_sum[k] = parts_sum.get(k, 0.0) + v * share
        y, z, q_halt, q_cont, cell, solved = (torch.cat(t).detach() for t in zip(*outs))
        return (y, z), q_halt, q_cont, loss_sum, parts_sum, cell, solved

    def loss(self, slots: Slots, steps: torch.Tensor) -> tuple:
        """(model output, loss, its parts, cell accuracy, solved) of one supervision step."""
        cfg = self.cfg
        noise = {"latent_noise": cfg.latent_noise} if cfg.latent_noise else {}
        with autocast(self.device, cfg.precision):
            out = self.fwd(slots.carry, slots.tokens, **noise)
        target = None
        if self.use_continue:
            with torch.no_grad(), autocast(self.device, cfg.precision):
                target = q_continue_target(self.peek(out.carry, slots.tokens), steps >= cfg.max_steps_per_puzzle)
        return (out, *supervision_loss(out, slots.labels, target, cfg.q_weight))

    def step_loss(self, slots: Slots):
        """A loss computed once per step on the whole batch, besides the supervision loss
        (GRAM's prior rollouts), as (loss, parts); None here."""
        return None


def split_note(cfg) -> str:
    """How a step splits its batch, for the log and the card ("" when it does not)."""
    return f" in pieces of {cfg.micro_batch}" if 0 < cfg.micro_batch < cfg.batch else ""


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
    return loop.train(cfg)


class Recursive(loop.Family):
    """TRM and HRM: deep supervision over a fixed batch of slots (rsolve.train.recursive)."""

    distributed = True

    def __init__(self, cfg, device, rank=0, world=1):
        super().__init__(cfg, device, rank, world)
        self.name, self.engine = NAMES.get(cfg.model, cfg.model), cfg.model
        self.module = MODULES.get(cfg.model)

    def load_data(self, train_examples, val_examples) -> None:
        cfg, world = self.cfg, self.world
        if len(train_examples) < world:
            raise ValueError(f"{cfg.data}: {len(train_examples)} training examples cannot feed {world} processes")
        # each rank trains on its own interleaved shard: no puzzle is seen twice per epoch
        self.train_set = TokenSet(cfg.kind, train_examples[self.rank::world])
        self.val_set = TokenSet(cfg.kind, val_examples[:cfg.val_limit]) if val_examples and self.rank == 0 else None
        if self.val_set is not None and (self.val_set.cells, self.val_set.vocab) != (self.train_set.cells,
                                                                                       self.train_set.vocab):
            raise DatasetError(f"{cfg.val_data or cfg.data}: validation puzzles have {self.val_set.cells} cells, "
                               f"training puzzles {self.train_set.cells}")
        self.n_train, self.n_val = len(train_examples), len(val_examples)
        self.rng = random.Random(f"{cfg.seed}/{self.rank}")
        self.gen = torch.Generator(device=self.device).manual_seed(cfg.seed * 7919 + self.rank)
        self.rngs = {"rows": self.rng, "tensors": self.gen}

    def build(self, init) -> None:
        cfg, cells, vocab = self.cfg, self.train_set.cells, self.train_set.vocab
        config_class = self.module.HRMConfig if cfg.model == "hrm" else self.module.TRMConfig
        known = [f.name for f in fields(config_class)]
        unknown = sorted(set(cfg.overrides) - set(known))
        if unknown:
            raise ValueError(f"--arch: {self.name} has no setting {unknown[0]!r} (settings: {', '.join(known)})")
        if init is None:
            model = self.module.build(cfg.kind, cfg.preset, **{"seq_len": cells, "vocab_size": vocab, **cfg.overrides})
        else:
            model = runfiles.init_model(init, self.module.from_config, cfg.overrides)
        if (model.cfg.seq_len, model.cfg.vocab_size) != (cells, vocab):
            raise ValueError(f"{cfg.init or '--arch'}: the network reads {model.cfg.seq_len} cells over "
                             f"{model.cfg.vocab_size} tokens; the data has {cells} cells over {vocab}")
        self.build_from(model)

    def build_from(self, model) -> None:
        """The stepper, data stream, slots and meters around a built model."""
        cfg = self.cfg
        self.model = model.to(self.device)
        self.stepper = Stepper(model, cfg, self.device, distributed=self.world > 1)
        self.sampler = Sampler(self.train_set, self.rng, cfg.augment)
        self.slots = empty_slots(model, cfg.batch, self.train_set.cells, self.device)
        self.meter, self.steps_done = Meter(), 0

    def summary(self) -> str:
        cfg = self.cfg
        return (f"training {self.name} {cfg.kind} ({cfg.preset} preset, {count_parameters(self.model):,} parameters, "
                f"{cfg.precision}{', compiled' if cfg.compile else ''}) on {self.n_train} examples"
                f"{f' over {self.world} processes' if self.world > 1 else ''}, validating on "
                f"{min(self.n_val, cfg.val_limit)}; batch {cfg.batch}{split_note(cfg)}, "
                f"up to {cfg.max_steps_per_puzzle} supervision steps per puzzle; {self.device.type}, "
                f"budget {cfg.minutes:g} min"
                + (f" or {cfg.max_steps} steps" if cfg.max_steps else ""))

    def step(self, lr: float) -> dict:
        try:
            self.slots, stats = self.stepper.step(self.slots, self.sampler.draw, lr, self.gen)
            self.last_stats = stats
        except Exception as exc:  # compiling happens in the first step: say what to do instead
            if not self.cfg.compile or self.steps_done:
                raise
            raise ValueError(f"torch.compile failed ({type(exc).__name__}: {str(exc).splitlines()[0][:120]}); "
                             "train with --no-compile") from None
        self.steps_done += 1
        m = self.meter
        m.add("exact", stats["solved_at_halt"], stats["halted"])
        m.add("cell", stats["cell_at_halt"], stats["halted"])
        m.add("depth", stats["depth"], stats["halted"])
        m.add("halt", stats["halt_right"], 1)
        return {"loss": round(stats["loss"], 4), "cell_acc": m["cell"], "exact_acc": m["exact"],
                "halt_acc": m["halt"], "depth": m["depth"]}

    def validate(self) -> dict:
        return evaluate(self.stepper.ema.model, self.val_set, self.cfg, self.device) if self.val_set else {}

    def state(self) -> dict:
        s = self.slots
        return {"model": self.model.state_dict(), "ema": self.stepper.ema.state_dict(),
                "optimizer": self.stepper.opt.state_dict(), "sampler": self.sampler.state(),
                "meter": {"num": self.meter.num, "den": self.meter.den},
                "slots": {"tokens": s.tokens, "labels": s.labels, "steps": s.steps, "halted": s.halted,
                          "carry": list(s.carry)}}

    def load_state(self, state: dict, stream: bool = True) -> None:
        self.model.load_state_dict(state["model"])
        self.stepper.ema.load_state_dict(state["ema"])
        self.stepper.opt.load_state_dict(state["optimizer"])
        if stream:  # this rank's slots and epoch order (other ranks start theirs afresh)
            self.sampler.load_state(state["sampler"])
            self.meter.num, self.meter.den = dict(state["meter"]["num"]), dict(state["meter"]["den"])
            s = {k: v for k, v in state["slots"].items() if k != "carry"}
            carry = tuple(c.to(self.device) for c in state["slots"]["carry"])
            self.slots = Slots(**{k: v.to(self.device) for k, v in s.items()}, carry=carry)

    def weights(self) -> tuple[dict, dict]:
        ema = self.stepper.ema.model
        return ema.state_dict(), ema.cfg.to_dict()

    def card_lines(self, step: int) -> list[str]:
        cfg, arch = self.cfg, self.stepper.ema.model.cfg.to_dict()
        mixer = f"mixer {arch['mixer']}, " if "mixer" in arch else ""
        halting = "q_halt > q_continue" if cfg.model == "hrm" else "q_halt > 0"
        return [
            f"- Model: {self.name}, {mixer}dim {arch['dim']}, {count_parameters(self.model):,} parameters; weights are "
            f"the EMA (decay {cfg.ema}) of the trained ones",
            f"- Training: {step} optimizer steps x {cfg.batch} slots x {self.world} process(es); one supervision step "
            f"per slot per optimizer step, up to {cfg.max_steps_per_puzzle} per puzzle (halt: {halting}, "
            f"{cfg.explore:.0%} forced exploration){_eqr_note(cfg, arch)}; AdamW lr {cfg.lr:g} (warmup {cfg.warmup:.0%}, cosine to "
            f"{cfg.lr_floor:g}x), weight decay {cfg.weight_decay:g}, clip {cfg.grad_clip:g}; {cfg.precision}"
            + (", torch.compile" if cfg.compile else "")
            + (f"; each batch{split_note(cfg)}" if split_note(cfg) else "")
            + ("; augmented on the fly" if cfg.augment else ""),
            "- Loss: softmax cross-entropy on every cell (the official code uses stablemax) + "
            f"{cfg.q_weight:g} x BCE(q_halt, grid right)" + (f" + {cfg.q_weight:g} x BCE(q_continue, bootstrapped "
                                                             "next-step target)" if cfg.model == "hrm" else "")]

    def validation_note(self) -> str:
        shown = min(self.n_val, self.cfg.val_limit)
        return (f"EMA weights, {shown} held-back puzzles, up to {self.cfg.max_steps_per_puzzle} supervision steps, "
                "answer taken when the Q head halts")

    def samples_per_step(self) -> int:
        return self.cfg.batch * self.world  # a sample is one supervision step of one puzzle


def _eqr_note(cfg: RecursiveTrainConfig, arch: dict) -> str:
    parts = ([f"noise {cfg.latent_noise:g} on every latent update"] if cfg.latent_noise else []) + \
            ([f"damping {arch['damping']:g}"] if arch.get("damping", 1.0) != 1.0 else []) + \
            ([f"random latent start (+N(0, {cfg.start_noise:g}^2))"] if cfg.start_noise else [])
    return f"; EqR: {', '.join(parts)}" if parts else ""


@torch.no_grad()
def evaluate(model, tokens: TokenSet, cfg: RecursiveTrainConfig, device, posterior: bool = False) -> dict:
    """Exact accuracy of `model` on the first cfg.val_limit puzzles, running up to N_sup
    supervision steps; a puzzle's answer is the one it had when its Q head first said
    halt (or the last). Mazes also count answers the verifier accepts as valid and
    shortest, since shortest paths are not unique. `posterior`: a GRAM model reads
    the labels (its training-time posterior) instead of sampling its prior."""
    model.eval()
    n, steps = min(len(tokens), cfg.val_limit), cfg.max_steps_per_puzzle
    use_continue = cfg.model == "hrm"
    exact = exact_last = cell = depth = accepted = 0.0
    for lo in range(0, n, cfg.batch):
        x, y = (t.to(device) for t in tokens.take(list(range(lo, min(n, lo + cfg.batch)))))
        carry = model.initial_carry(len(x))
        answer, done = torch.zeros_like(y), torch.zeros(len(x), dtype=torch.bool, device=device)
        used = torch.zeros(len(x), device=device)
        for s in range(1, steps + 1):
            with autocast(device, cfg.precision):
                out = model(carry, x, target=y) if posterior else model(carry, x)
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
