"""GRAM on the recursive trainer: the TRM/HRM slots, EMA and schedule, with GRAM's
loss and a watch on its known failure.

Loss per supervision step (the slots sample the POSTERIOR, which reads the
target): cross-entropy of the decoded grid + q_weight x BCE(q_halt, grid right)
+ beta x the balanced KL(posterior || prior) of the step's last transition.

The failure seen in reimplementations: the posterior leaks the answer to the
decoder through its noise (a private channel), so training accuracy is ~100%
while trajectories from the PRIOR, all inference has, solve nothing. So every
`probe_every` steps a few of the slots' puzzles are rolled out from the prior
for every supervision step; their final accuracy is logged next to the
posterior's (`prior_exact` vs `exact_acc`), a warning is printed when they
drift apart, and the same rollouts train the process reward head: from each
step's detached latents it regresses the cell accuracy the trajectory ends with.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..models import gram, trm
from ..models.layers import count_parameters
from ..puzzles.grid import SUDOKU_BLANK_TOKEN as BLANK_TOKEN
from . import runfiles
from .common import note
from .recursive import Slots, supervision_loss
from .recursive_loop import Recursive, Stepper, autocast, evaluate

LEAK_GAP = 0.3  # posterior exact minus prior exact that calls for a warning
LEAK_AFTER = 300  # optimizer steps before the gap is judged (both start near 0)


class GRAMStepper(Stepper):
    def __init__(self, model, cfg, device, distributed: bool = False):
        super().__init__(model, cfg, device, distributed)
        self.calls, self.probe = 0, {}

    def loss(self, slots: Slots, steps: torch.Tensor) -> tuple:
        cfg = self.cfg
        with autocast(self.device, cfg.precision):
            out = self.fwd(slots.carry, slots.tokens, target=slots.labels, balance=cfg.kl_balance)
        loss, parts, cell, solved = supervision_loss(out, slots.labels, None, cfg.q_weight)
        kl = out.kl.float().mean()
        loss = loss + cfg.beta * kl
        parts["kl"] = kl.item()
        return out, loss, parts, cell, solved

    def step_loss(self, slots: Slots):
        """Every probe_every optimizer steps: the process reward head's loss on rollouts from the prior."""
        self.calls += 1
        if self.calls % self.cfg.probe_every:
            return None
        prm_loss, self.probe = self.prior_probe(slots)
        return self.cfg.prm_weight * prm_loss, {"prm_loss": prm_loss.item()}

    def prior_probe(self, slots: Slots) -> tuple[torch.Tensor, dict]:
        """Roll the first probe_batch slots' puzzles from the prior for N_sup steps:
        (the reward head's loss, the rollouts' final exact and cell accuracy)."""
        cfg, model = self.cfg, self.model
        n = min(cfg.probe_batch, len(slots.tokens))
        tokens, labels = slots.tokens[:n], slots.labels[:n]
        feats = []
        with torch.no_grad(), autocast(self.device, cfg.precision):
            carry = model.initial_carry(n)
            for _ in range(cfg.max_steps_per_puzzle):
                out = model(carry, tokens)
                carry = out.carry
                feats.append(carry[0].float().mean(1))
            pred = out.logits.argmax(-1)
        right = pred == labels
        final = right.float().mean(-1)  # each trajectory's final cell accuracy: the reward target
        exact = right.all(-1).float()
        if cfg.unconditional:  # a generator is right when its grid is valid, whichever grid it is
            exact = torch.from_numpy(valid_sudoku_rows(pred.cpu().numpy() - 1, _side(model))).float()
            final = exact.to(final.device)
        logits = model.prm_head(torch.stack(feats)).float()[..., 0]  # (steps, n)
        loss = F.binary_cross_entropy_with_logits(logits, final.expand_as(logits))
        return loss, {"exact": float(exact.sum()), "cell": float(right.float().mean(-1).sum()), "n": n}


class GRAM(Recursive):
    """GRAM (rsolve.models.gram) trained with deep supervision over slots."""

    def __init__(self, cfg, device, rank=0, world=1):
        super().__init__(cfg, device, rank, world)
        self.name, self.engine, self.module = "GRAM", "gram", gram
        if cfg.unconditional and cfg.out is None:
            from .. import checkpoints

            cfg.out = str(checkpoints.user_dir() / "gram-sudoku-generator-trained")
        self.warned = False

    def load_data(self, train_examples, val_examples) -> None:
        super().load_data(train_examples, val_examples)
        if self.cfg.unconditional:  # a generator: every board starts blank; the grids are the targets
            for tokens in (self.train_set, self.val_set):
                if tokens is not None:
                    tokens.inputs[:] = BLANK_TOKEN

    def build(self, init) -> None:
        cfg, cells, vocab = self.cfg, self.train_set.cells, self.train_set.vocab
        if cfg.from_trm:  # `init` is then the TRM checkpoint (rsolve.train.runfiles.open_init)
            model = gram.from_trm(runfiles.init_model(init, trm.from_config, {}))
        elif init is None:
            model = gram.build(cfg.kind, cfg.preset, **{"seq_len": cells, "vocab_size": vocab, **cfg.overrides})
        else:
            model = runfiles.init_model(init, gram.from_config, cfg.overrides)
        if (model.cfg.seq_len, model.cfg.vocab_size) != (cells, vocab):
            raise ValueError(f"{cfg.init or '--arch'}: the network reads {model.cfg.seq_len} cells over "
                             f"{model.cfg.vocab_size} tokens; the data has {cells} cells over {vocab}")
        super().build_from(model)
        self.stepper = GRAMStepper(self.model, cfg, self.device, distributed=self.world > 1)

    def step(self, lr: float) -> dict:
        shown = super().step(lr)
        probe, m = self.stepper.probe, self.meter
        if probe:
            m.add("prior_exact", probe["exact"], probe["n"])
            m.add("prior_cell", probe["cell"], probe["n"])
            self.stepper.probe = {}
        m.add("kl", self.last_stats["kl"], 1)
        shown.update(kl=m["kl"], prior_exact=m["prior_exact"], prior_cell=m["prior_cell"])
        gap = shown["exact_acc"] - shown["prior_exact"]
        if self.steps_done >= LEAK_AFTER and gap > LEAK_GAP and not self.warned and self.rank == 0:
            self.warned = True
            note(f"warning: step {self.steps_done}: the posterior solves {shown['exact_acc']:.0%} of training puzzles, "
                 f"the prior {shown['prior_exact']:.0%}: the posterior may be leaking the answer (raise --beta)")
        return shown

    def state(self) -> dict:
        return {**super().state(), "gram": {"calls": self.stepper.calls, "warned": self.warned}}

    def load_state(self, state: dict, stream: bool = True) -> None:
        super().load_state(state, stream)
        self.stepper.calls, self.warned = int(state["gram"]["calls"]), bool(state["gram"]["warned"])

    def validate(self) -> dict:
        if self.val_set is None:
            return {}
        model = self.stepper.ema.model
        if self.cfg.unconditional:
            return generated_validity(model, len(self.val_set), self.cfg, self.device)
        prior = evaluate(model, self.val_set, self.cfg, self.device)
        post = evaluate(model, self.val_set, self.cfg, self.device, posterior=True)
        return {**prior, "val_exact_posterior": post["val_exact"]}

    def summary(self) -> str:
        what = " generator (blank boards in)" if self.cfg.unconditional else ""
        return super().summary().replace("training GRAM sudoku", f"training GRAM sudoku{what}", 1)

    def card_lines(self, step: int) -> list[str]:
        cfg, arch = self.cfg, self.stepper.ema.model.cfg.to_dict()
        lines = super().card_lines(step)
        lines[0] = (f"- Model: GRAM, mixer {arch['mixer']}, dim {arch['dim']}, {arch['h_cycles']} stochastic "
                    f"transitions of {arch['l_cycles']} low-level steps per supervision step, "
                    f"{count_parameters(self.model):,} parameters; weights are the EMA (decay {cfg.ema})")
        lines[-1] = (f"- Loss: softmax cross-entropy on every cell + {cfg.q_weight:g} x BCE(q_halt, grid right) + "
                     f"{cfg.beta:g} x KL(posterior || prior) of each step's last transition (balance "
                     f"{cfg.kl_balance:g}); process reward head: BCE to the final cell accuracy of prior "
                     f"rollouts ({cfg.probe_batch} puzzles every {cfg.probe_every} steps), x {cfg.prm_weight:g}")
        if cfg.unconditional:
            lines.append("- Generator: blank boards in, the training puzzles' complete grids (augmented) as targets")
        return lines

    def validation_note(self) -> str:
        if self.cfg.unconditional:
            return (f"EMA weights, {min(self.n_val, self.cfg.val_limit)} grids sampled from the prior on blank "
                    f"boards, {self.cfg.max_steps_per_puzzle} supervision steps")
        return super().validation_note() + "; trajectories from the prior (val_exact_posterior reads the labels)"


def _side(model) -> int:
    return int(round(model.cfg.seq_len ** 0.5))


def valid_sudoku_rows(grids: np.ndarray, side: int) -> np.ndarray:
    """(N,) bool: each row of `grids` (N, side*side values 1..side) is a complete valid Sudoku."""
    box = int(round(side ** 0.5))
    g = grids.reshape(-1, side, side)
    boxes = g.reshape(-1, box, box, box, box).transpose(0, 1, 3, 2, 4).reshape(-1, side, side)
    want = np.arange(1, side + 1)
    return np.all([(np.sort(u, axis=-1) == want).all(axis=(1, 2)) for u in (g, g.transpose(0, 2, 1), boxes)],
                  axis=0)


@torch.no_grad()
def generated_validity(model, n: int, cfg, device) -> dict:
    """Sample n grids from blank boards: the valid share and how many distinct valid ones."""
    model.eval()
    side = _side(model)
    grids = []
    for lo in range(0, n, cfg.batch):
        b = min(cfg.batch, n - lo)
        tokens = torch.full((b, model.cfg.seq_len), BLANK_TOKEN, dtype=torch.long, device=device)
        carry = model.initial_carry(b)
        for _ in range(cfg.max_steps_per_puzzle):
            out = model(carry, tokens)
            carry = out.carry
        grids.append((out.logits[..., 2:side + 2].argmax(-1) + 1).cpu().numpy())
    grids = np.concatenate(grids)
    ok = valid_sudoku_rows(grids, side)
    return {"val_valid": round(float(ok.mean()), 4), "val_distinct_valid": len({g.tobytes() for g in grids[ok]})}
