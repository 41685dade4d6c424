"""PTRM: test-time noise on an unchanged TRM checkpoint, K rollouts per puzzle.

Each rollout is one TRM trajectory whose latent z (never the answer state y)
gets Gaussian noise N(0, sigma^2) before every deep recursion (one model
forward = one supervision step). The noise of rollout k of a puzzle comes from
its own seeded generator (engine seed, puzzle text, k), so a rollout's path does
not depend on which other rollouts share its forward: chunking rows to bound
memory, or batching puzzles differently, changes nothing but speed.

With `views=true` rollout k > 0 also reads its puzzle under its own seeded
symmetry (Sudoku: band, stack, row and column swaps, transpose, digit
relabelling; mazes: the square's turns and flips), and each of its answers is
mapped back to the puzzle's frame before anything looks at it: the network was
trained on such views, so they are as familiar to it as the puzzle itself, and
they spread rollouts further than noise on z alone.

Rollouts of all puzzles in a batch share forwards of at most `rows` rows. With
`select=verify` (the default) a puzzle stops at its first step where some
rollout's answer passes the symbolic verifier, and its rows go to the next
rollouts in the queue; the other rules run every rollout for all `steps`.

Selection rules, on the rollouts of one puzzle:
  q        the largest final q_halt logit (the PTRM paper's best-Q@K)
  vote     the most frequent final answer (ties: the higher q)
  converge the answer that changed least over the last steps (EqR; ties: q)
  verify   the first answer the verifier accepts (same step: the higher q
           there); abstain when no rollout gets one
With `report=true` every rollout runs all steps and stats say which rules'
picks the verifier accepts (`picks`) and whether any answer was accepted at any
step (`pass`, pass@K; verify's pick is accepted exactly when pass is true).
"""

from __future__ import annotations

import random
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field

import torch

from .. import verify
from ..puzzles.symmetry import TokenView, grid_token_view, sudoku_token_view
from . import Attempt
from .recursive import RecursiveEngine

RULES = ("q", "vote", "converge", "verify")
DEFAULT_SIGMA = {"sudoku": 0.3, "maze": 1.0}  # the PTRM paper's settings
DEFAULT_ROWS = {"sudoku": 256, "maze": 32}  # a maze row is 900 tokens under attention
CONVERGE_WINDOW = 3  # EqR: the answer's change over the last 3 steps


@dataclass
class Rollout:
    """One noisy trajectory of one puzzle."""

    puzzle: int  # position in the batch
    index: int  # k, 0..K-1
    noise: torch.Generator
    view: TokenView | None = None  # views=true: the symmetry this rollout reads its puzzle under
    steps: int = 0
    q: float = 0.0  # the last step's q_halt logit
    history: list = field(default_factory=list)  # the last CONVERGE_WINDOW + 1 predictions
    accepted_at: int | None = None  # first step whose answer the verifier accepted
    accepted_q: float = 0.0  # q_halt at that step
    accepted: bytes | None = None  # the accepted prediction (the rollout may move on after it)
    prm: float = 0.0  # GRAM: the last step's process reward (predicted final accuracy)

    @property
    def final(self) -> bytes:
        return self.history[-1]

    def change(self) -> int:
        """Cells that changed between consecutive answers over the last steps."""
        h = self.history
        return sum(sum(a != b for a, b in zip(x, y)) for x, y in zip(h, h[1:]))


@dataclass
class Trial:
    """One puzzle: its rollouts, the verifier's verdicts on its answers, its costs."""

    puzzle: object
    rollouts: list = field(default_factory=list)
    verdicts: dict = field(default_factory=dict)  # prediction -> (answer, accepted, disagreed)
    done: bool = False  # verify mode: an answer was accepted; no more forwards
    forwards: int = 0
    seconds: float = 0.0


def pick_q(rollouts: list) -> Rollout:
    return max(rollouts, key=lambda r: r.q)


def pick_vote(rollouts: list) -> Rollout:
    counts = Counter(r.final for r in rollouts)
    return max(rollouts, key=lambda r: (counts[r.final], r.q))


def pick_converge(rollouts: list) -> Rollout:
    return max(rollouts, key=lambda r: (-r.change(), r.q))


def pick_verify(rollouts: list) -> Rollout | None:
    accepted = [r for r in rollouts if r.accepted_at is not None]
    return min(accepted, key=lambda r: (r.accepted_at, -r.accepted_q)) if accepted else None


def pick_prm(rollouts: list) -> Rollout:
    return max(rollouts, key=lambda r: (r.prm, r.q))


PICKS = {"q": pick_q, "vote": pick_vote, "converge": pick_converge, "verify": pick_verify, "prm": pick_prm}


class Rows:
    """The rollouts in flight: their token rows and (y, z) carries, row-aligned."""

    def __init__(self):
        self.rollouts: list[Rollout] = []
        self.tokens = self.carry = None

    def add(self, rollouts: list, tokens: torch.Tensor, carry: tuple) -> None:
        if self.tokens is None:
            self.rollouts, self.tokens, self.carry = list(rollouts), tokens, carry
            return
        self.rollouts += rollouts
        self.tokens = torch.cat([self.tokens, tokens])
        self.carry = tuple(torch.cat([a, b]) for a, b in zip(self.carry, carry))

    def keep(self, keep: list[int]) -> None:
        if len(keep) == len(self.rollouts):
            return
        idx = torch.tensor(keep, dtype=torch.long, device=self.tokens.device)
        self.rollouts = [self.rollouts[j] for j in keep]
        self.tokens = self.tokens.index_select(0, idx)
        self.carry = tuple(c.index_select(0, idx) for c in self.carry)


class PTRMEngine(RecursiveEngine):
    name = "ptrm"
    rules = RULES  # what report=true scores

    def __init__(self, kind: str, checkpoint: str | None = None, device: str | None = "auto", seed: int = 0,
                 **options):
        super().__init__(kind, checkpoint, device, seed, **options)
        self.seed = seed
        self.samples, self.select, self.report = self.opt["samples"], self.opt["select"], self.opt["report"]
        self.sigma = DEFAULT_SIGMA[kind] if self.opt.get("sigma") is None else self.opt["sigma"]
        self.rows = self.opt["rows"] or DEFAULT_ROWS[kind]
        self.early = self.select == "verify" and not self.report  # stop a puzzle at its first accepted answer
        self.checks = self.report or self.select == "verify"  # verify every answer of every step
        self.views = self.opt["views"]

    def _recurse(self, puzzles: list) -> list:
        trials = [Trial(p) for p in puzzles]
        tokens = torch.tensor([self._tokens(p) for p in puzzles], dtype=torch.long, device=self.device)
        queue = ((i, k) for i in range(len(puzzles)) for k in range(self.samples))  # lazy: any K
        rows = Rows()
        while True:
            self._refill(rows, queue, trials, tokens)
            if not rows.rollouts:
                break
            self._step(rows, trials)
        return [self._attempt(t) for t in trials]

    def _refill(self, rows: Rows, queue, trials: list, tokens: torch.Tensor) -> None:
        """Start queued rollouts in the free rows (skipping puzzles already solved)."""
        fresh = []
        while len(rows.rollouts) + len(fresh) < self.rows:
            i, k = next(queue, (None, None))
            if i is None:
                break
            if not trials[i].done:
                p = trials[i].puzzle
                fresh.append(Rollout(i, k, self._generator(p, k), self._view(p, k)))
                trials[i].rollouts.append(fresh[-1])
        if fresh:
            idx = torch.tensor([r.puzzle for r in fresh], dtype=torch.long, device=self.device)
            rows.add(fresh, self._view_tokens(fresh, tokens.index_select(0, idx)),
                     self.model.initial_carry(len(fresh)))

    def _view(self, puzzle, k: int) -> TokenView | None:
        """views=true: rollout k > 0 of a puzzle reads it under its own seeded symmetry
        (k = 0 reads it as given), so rollouts differ by more than the noise."""
        if not self.views or k == 0:
            return None
        rng = random.Random(zlib.crc32(f"{self.seed}:{puzzle.to_string()}:{k}:view".encode()))
        if self.kind == "sudoku":
            return sudoku_token_view(self.side, rng)
        return grid_token_view(self.side, self.model.cfg.vocab_size, rng)

    def _view_tokens(self, fresh: list, tokens: torch.Tensor) -> torch.Tensor:
        if not any(r.view for r in fresh):
            return tokens
        rows = [r.view.show(row) if r.view else row for r, row in zip(fresh, tokens.tolist())]
        return torch.tensor(rows, dtype=torch.long, device=self.device)

    def _generator(self, puzzle, k: int) -> torch.Generator:
        g = torch.Generator(device=self.device)
        g.manual_seed(zlib.crc32(f"{self.seed}:{puzzle.to_string()}:{k}".encode()))
        return g

    def _noise(self, rows: Rows) -> torch.Tensor:
        z = rows.carry[1]
        draws = [torch.randn(z.shape[1:], generator=r.noise, device=self.device) for r in rows.rollouts]
        return torch.stack(draws).to(z.dtype) * self.sigma

    def _forward(self, carry: tuple, rows: Rows):
        return self.run(carry, rows.tokens, h_cycles=self.opt["cycles"])

    def _step(self, rows: Rows, trials: list) -> None:
        """One forward of every row in flight, its noise on z only; rows that finish leave."""
        t0 = time.perf_counter()
        y, z = rows.carry
        carry = (y, z + self._noise(rows)) if self.sigma else (y, z)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            res = self._forward(carry, rows)
        if hasattr(res, "prm"):  # GRAM's process reward head
            for r, score in zip(rows.rollouts, torch.sigmoid(res.prm.float()).cpu().tolist()):
                r.prm = score
        keep = self._settle(res, rows.rollouts, trials)
        share = (time.perf_counter() - t0) / len(rows.rollouts)
        for r in rows.rollouts:
            trials[r.puzzle].seconds += share
        rows.carry = res.carry
        rows.keep(keep)

    def _settle(self, res, rollouts: list, trials: list) -> list[int]:
        """Record each row's step; returns the rows that go on."""
        pred = self._predict(res.logits).cpu().tolist()
        q_halt = res.q_halt.float().cpu().tolist()
        for j, r in enumerate(rollouts):
            r.steps, r.q = r.steps + 1, q_halt[j]
            answer = r.view.back(pred[j]) if r.view else pred[j]  # in the puzzle's own frame
            r.history = (r.history + [bytes(answer)])[-(CONVERGE_WINDOW + 1):]  # small for any K
            trials[r.puzzle].forwards += 1
            if self.checks and r.accepted_at is None and self._verdict(trials[r.puzzle], r.final)[1]:
                r.accepted_at, r.accepted_q, r.accepted = r.steps, r.q, r.final
                trials[r.puzzle].done = self.early
        return [j for j, r in enumerate(rollouts) if r.steps < self.steps and not trials[r.puzzle].done]

    def _verdict(self, trial: Trial, pred: bytes) -> tuple:
        """(answer, accepted by the verifier, cells overruled), cached: rollouts often agree."""
        if pred not in trial.verdicts:
            answer, disagreed = self._decode(list(pred), trial.puzzle)
            trial.verdicts[pred] = (answer, verify.check(trial.puzzle, answer).accepted, disagreed)
        return trial.verdicts[pred]

    def _attempt(self, t: Trial) -> Attempt:
        pick = PICKS[self.select](t.rollouts)
        stats = {"rollouts": len(t.rollouts), "steps": max(r.steps for r in t.rollouts), "forwards": t.forwards,
                 "seconds": t.seconds, "select": self.select, "precision": self.precision,
                 **({"sigma": self.sigma} if self.sigma is not None else {})}
        if self.report:
            stats["picks"] = {rule: self._accepted(t, rule) for rule in self.rules}
            stats["pass"] = stats["picks"]["verify"]
        if pick is None:
            return Attempt(None, "abstained", stats, reason=f"no answer of {len(t.rollouts)} rollouts x "
                           f"{self.steps} steps passed the verifier")
        stats.update(pick={"rollout": pick.index, "step": pick.accepted_at or pick.steps},
                     q_halt=round(pick.accepted_q if self.select == "verify" else pick.q, 3))
        chosen = pick.accepted if self.select == "verify" else pick.final
        answer, _, stats["disagreed_with_puzzle"] = self._verdict(t, chosen)
        return Attempt(answer, "found", stats)

    def _accepted(self, t: Trial, rule: str) -> bool:
        """Whether `rule`'s pick would pass the verifier (q, vote, converge answer with the final step)."""
        pick = PICKS[rule](t.rollouts)
        return pick is not None and (rule == "verify" or self._verdict(t, pick.final)[1])
