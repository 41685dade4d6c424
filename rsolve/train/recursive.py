"""Training TRM and HRM (`rsolve train sudoku|maze --model trm|hrm`): data, slots, halting, losses, EMA.

Deep supervision as in both official trainers: a fixed batch of slots, each
holding one puzzle and its carry. Every optimizer step runs one supervision step
(one model forward) on every slot; a slot stops when its Q head says halt (with
random forced continuation for exploration) or after `max_steps_per_puzzle`
steps, and is then refilled with a fresh, freshly augmented puzzle whose carry
starts over. So the carry lives across optimizer steps, and one puzzle is seen
at up to N_sup depths of reasoning while the batch shape never changes.

Losses (per slot, averaged over the batch): cross-entropy on every cell, plus
`q_weight` x BCE of q_halt against "the whole grid is right now". HRM adds
`q_weight` x BCE of q_continue against a bootstrapped target read from one
extra no-grad forward of the next step (Q-learning without a replay buffer, as
in the official HRM). TRM has no continue target (its official runs drop it).
Both official codes use "stablemax" cross-entropy for these tasks; rsolve uses
plain softmax cross-entropy (what inference reads, and no float64 on GPUs).
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..puzzles.dataset import to_token_arrays
from ..puzzles.grid import (GOAL_TOKEN, MAZE_VOCAB, PATH_TOKEN, START_TOKEN, WALL_TOKEN, descent_path, grid_symmetries,
                           sudoku_vocab)
from ..puzzles.symmetry import sudoku_token_view

# ------------------------------------------------------------------ data


class TokenSet:
    """Puzzles and labels as HRM/TRM token ids (uint8), with random views that keep
    every puzzle valid: Sudoku band/stack, row/column-in-band, transpose and digit
    relabelling (rsolve.puzzles.symmetry); mazes the symmetries of the rectangle
    (all 8 of the square)."""

    def __init__(self, kind: str, examples: list):
        if not examples:
            raise ValueError("no examples")
        self.kind = kind
        self.inputs, self.labels = to_token_arrays(examples)
        first = examples[0].puzzle
        self.width = first.side if kind == "sudoku" else first.width
        self.height = self.inputs.shape[1] // self.width
        self.vocab = sudoku_vocab(first.side) if kind == "sudoku" else MAZE_VOCAB
        self.puzzles = [e.puzzle for e in examples] if kind == "maze" else []  # for the path verifier
        if kind == "maze":  # gathers (view cell -> original cell): the inverse of each symmetry
            self.views = [np.argsort(cells) for cells in grid_symmetries(self.height, self.width)]
            self.labels = np.stack([self._descent_label(x) for x in self.inputs])

    def __len__(self) -> int:
        return len(self.inputs)

    @property
    def cells(self) -> int:
        return self.inputs.shape[1]

    def take(self, idx, rng: random.Random | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, labels) int64 tensors for rows `idx`, each under its own random view
        when `rng` is given."""
        x, y = self.inputs[idx].astype(np.int64), self.labels[idx].astype(np.int64)
        if rng is not None:
            for row in range(len(x)):
                x[row], y[row] = self._view(x[row], y[row], rng)
        return torch.from_numpy(x), torch.from_numpy(y)

    def _descent_label(self, x: np.ndarray) -> np.ndarray:
        """A maze's label path redrawn as the descent path of its own view
        (rsolve.puzzles.grid.descent_path): the data's label is one of millions of
        optimal paths, and under rotations its tie-breaks would contradict each other."""
        allowed = (x != WALL_TOKEN).tolist()
        start, goal = int(np.flatnonzero(x == START_TOKEN)[0]), int(np.flatnonzero(x == GOAL_TOKEN)[0])
        path = descent_path(allowed, start, goal, self.height, self.width)
        y = x.copy()
        y[path[1:-1]] = PATH_TOKEN
        return y

    def _view(self, x, y, rng):
        if self.kind == "maze":
            view = x[self.views[rng.randrange(len(self.views))]]
            return view, self._descent_label(view)
        view = sudoku_token_view(self.width, rng)
        lut = np.asarray(view.tokens)  # token v+1 -> values[v-1]+1; pad and blank stay
        cells = np.asarray(view.cells)  # original cell -> view cell
        vx, vy = np.empty_like(x), np.empty_like(y)
        vx[cells], vy[cells] = lut[x], lut[y]
        return vx, vy


class Sampler:
    """Endless epochs over a TokenSet in a fresh random order each epoch."""

    def __init__(self, tokens: TokenSet, rng: random.Random, augment: bool = True):
        self.tokens, self.rng, self.augment = tokens, rng, augment
        self.order, self.pos = [], 0

    def draw(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = []
        while len(idx) < n:
            if self.pos >= len(self.order):
                self.order, self.pos = self.rng.sample(range(len(self.tokens)), len(self.tokens)), 0
            take = self.order[self.pos:self.pos + n - len(idx)]
            idx += take
            self.pos += len(take)
        return self.tokens.take(idx, self.rng if self.augment else None)

    def state(self) -> dict:
        return {"order": torch.tensor(self.order, dtype=torch.long), "pos": self.pos}

    def load_state(self, state: dict) -> None:
        self.order, self.pos = state["order"].tolist(), int(state["pos"])


# ------------------------------------------------------------------ slots and halting


@dataclass
class Slots:
    """The training batch: one puzzle per slot, its carry and supervision-step count."""
    tokens: torch.Tensor  # (B, cells) int64
    labels: torch.Tensor
    steps: torch.Tensor  # (B,) int64: supervision steps done on the current puzzle
    halted: torch.Tensor  # (B,) bool: refill before the next step
    carry: tuple


def empty_slots(model, batch: int, cells: int, device) -> Slots:
    zeros = torch.zeros(batch, cells, dtype=torch.long, device=device)
    carry = tuple(c.to(device) for c in model.initial_carry(batch))
    return Slots(zeros, zeros.clone(), torch.zeros(batch, dtype=torch.long, device=device),
                 torch.ones(batch, dtype=torch.bool, device=device), carry)


def refill(slots: Slots, model, draw, start_noise: float = 0.0, generator: torch.Generator | None = None) -> Slots:
    """Halted slots take fresh puzzles from `draw(n)` and restart from the initial carry,
    their latent (the carry's last state) moved by N(0, start_noise^2) (EqR's random start)."""
    h = slots.halted
    n = int(h.sum())
    tokens, labels = slots.tokens, slots.labels
    if n:
        x, y = draw(n)
        tokens, labels = tokens.clone(), labels.clone()
        tokens[h], labels[h] = x.to(tokens.device), y.to(labels.device)
    carry = model.reset_carry(slots.carry, h)
    if n and start_noise:
        *rest, z = carry
        shake = torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)
        carry = (*rest, torch.where(h.view(-1, 1, 1), z + start_noise * shake, z))
    return Slots(tokens, labels, torch.where(h, 0, slots.steps), torch.zeros_like(h), carry)


def wants_halt(q_halt: torch.Tensor, q_continue: torch.Tensor, use_continue: bool) -> torch.Tensor:
    """The model's own halting rule: TRM trains q_halt alone (halt when > 0); HRM
    compares it with its learned continue value."""
    return q_halt > q_continue if use_continue else q_halt > 0


def halt_decision(steps, q_halt, q_continue, max_steps: int, explore: float, use_continue: bool,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Which slots stop after this step (`steps` already counts it). A random
    `explore` share must first reach a random 2..max_steps steps, so the Q head
    also sees deep states it would not choose to reach yet."""
    last = steps >= max_steps
    if max_steps <= 1:
        return last
    b, device = steps.shape[0], steps.device  # the generator lives on the slots' device too
    forced = torch.rand(b, generator=generator, device=device) < explore
    floor = torch.where(forced, torch.randint(2, max_steps + 1, (b,), generator=generator, device=device), 0)
    return last | (wants_halt(q_halt, q_continue, use_continue) & (steps >= floor))


# ------------------------------------------------------------------ losses and EMA


def q_continue_target(next_out, last: torch.Tensor) -> torch.Tensor:
    """HRM's bootstrapped continue value: the next step's best Q (only its halt
    value if no step follows), as a probability."""
    nxt = torch.where(last, next_out.q_halt, torch.maximum(next_out.q_halt, next_out.q_continue))
    return torch.sigmoid(nxt.float())


def supervision_loss(out, labels: torch.Tensor, q_target: torch.Tensor | None = None, q_weight: float = 0.5):
    """(loss, parts, cell accuracy (B,), solved (B,)) of one supervision step."""
    logits = out.logits.float()
    ce = F.cross_entropy(logits.transpose(1, 2), labels, reduction="none").mean(-1)
    with torch.no_grad():
        right = logits.argmax(-1) == labels
        solved = right.all(-1)
    halt = F.binary_cross_entropy_with_logits(out.q_halt.float(), solved.float())
    loss = ce.mean() + q_weight * halt
    parts = {"ce": ce.mean().item(), "q_halt_loss": halt.item()}
    if q_target is not None:
        cont = F.binary_cross_entropy_with_logits(out.q_continue.float(), q_target)
        loss = loss + q_weight * cont
        parts["q_continue_loss"] = cont.item()
    return loss, parts, right.float().mean(-1), solved


class EMA:
    """An exponential moving average of a model's weights (what the checkpoint holds).
    The decay ramps up from 0.1 over the first updates, so a short run's average is
    not dominated by the random initialisation (the official EMA has no ramp)."""

    def __init__(self, model, decay: float):
        self.decay, self.updates = decay, 0
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        ours, theirs = list(self.model.parameters()), [p.detach() for p in model.parameters()]
        torch._foreach_lerp_(ours, theirs, 1 - d)
        for b, src in zip(self.model.buffers(), model.buffers()):
            b.copy_(src)

    def state_dict(self) -> dict:
        return {"weights": self.model.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["weights"])
        self.updates = int(state["updates"])
