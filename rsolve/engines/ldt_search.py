"""The LDT search over one batch of puzzles of one shape (see rsolve.engines.ldt).

`Search` holds the batch's chains (k per puzzle) as one tensor of lattice states
plus, per chain, a stack of branch points and a strictness level; `run` plays
rounds until every puzzle is answered, proven unsolvable, or out of budget.
Each round's wall time is shared equally by the puzzles still running in it,
so a puzzle's `seconds` is its own cost, not the batch's mean.
"""

from __future__ import annotations

import time

import torch

from .. import verify
from ..lattice.rounds import assign, choose_branch, project, run_network
from . import Attempt


class Search:
    def __init__(self, engine, domain, pool, puzzles):
        t0 = time.perf_counter()
        self.opt, self.model, self.gen = engine.opt, engine.model, engine.gen
        self.domain, self.pool, self.puzzles = domain, pool, puzzles
        self.k, n = self.opt["chains"], len(puzzles)
        self.close = domain.close if self.opt["propagate"] != "none" else (lambda c, s: c)
        self.stats = [{"rounds": 0, "passes": 0, "branches": 0, "restarts": 0, "backtracks": 0, "stricter": 0,
                       "relaxed": 0, "eliminated_by_network": 0, "eliminated_by_rules": 0, "chains": self.k,
                       "network": pool is not None} for _ in range(n)]
        self.results: list[Attempt | None] = [None] * n
        self.seconds = [0.0] * n
        top, self.fixed, self.static = domain.encode(puzzles)
        self.root = self.close(top, self.static)
        for p, removed in enumerate((top & ~self.root).flatten(1).sum(-1).tolist()):
            self.stats[p]["eliminated_by_rules"] += removed
        self._settle_roots()
        dev = top.device
        self.owner = torch.arange(n, device=dev).repeat_interleave(self.k)  # chain -> puzzle
        self.cand = self.root[self.owner].clone()
        first = self.opt["ladder"] + 1 if pool is None else 0  # no network: the relaxed search at once
        self.level = torch.full((n * self.k,), first, device=dev)
        self.stacks: list[list] = [[] for _ in range(n * self.k)]
        self.done = torch.tensor([r is not None for r in self.results], device=dev)
        self._share(range(n), time.perf_counter() - t0)

    def _settle_roots(self) -> None:
        """Puzzles the sound rules alone refute or solve need no network pass."""
        d, root, static = self.domain, self.root, self.static
        bottom = d.bottom(root, static)
        for p in bottom.nonzero().flatten().tolist():
            self.results[p] = Attempt(None, "unsolvable", self.stats[p], reason="the puzzle's constraints "
                                      "reach a contradiction under sound propagation (no solution)")
        for p in (d.decided(root, static) & ~bottom).nonzero().flatten().tolist():
            answer = d.decode(root[p], self.puzzles[p])
            if verify.check(self.puzzles[p], answer).accepted:
                self.results[p] = Attempt(answer, "found", {**self.stats[p], "winner": 0})

    def _share(self, puzzles, seconds: float) -> None:
        puzzles = list(puzzles)
        for p in puzzles:
            self.seconds[p] += seconds / max(1, len(puzzles))

    def run(self) -> list[Attempt]:
        for _ in range(self.opt["rounds"]):
            rows = (~self.done[self.owner]).nonzero().flatten()
            if len(rows) == 0:
                break
            t0 = time.perf_counter()
            running = self.owner[rows].unique().tolist()
            self._round(rows)
            self._share(running, time.perf_counter() - t0)
        for p, result in enumerate(self.results):
            if result is None:
                self.results[p] = Attempt(None, "abstained", self.stats[p],
                                          reason=f"no verified answer within {self.opt['rounds']} rounds")
            self.results[p].stats["seconds"] = self.seconds[p]
        return self.results  # type: ignore[return-value]

    # --- one round ---

    def _round(self, rows: torch.Tensor) -> None:
        owners = self.owner[rows]
        for p in owners.unique().tolist():
            self.stats[p]["rounds"] += 1
        st = self.static[owners]
        projected, dropped, fired, value, relaxed = self._project(rows)
        closed = self.close(projected, st)
        by_rules = (projected & ~closed).flatten(1).sum(-1)
        bad = self.domain.bottom(closed, st) | fired
        for j, p in enumerate(owners.tolist()):
            self.stats[p]["eliminated_by_network"] += int(dropped[j])
            self.stats[p]["eliminated_by_rules"] += int(by_rules[j])
        deducing = ((dropped + by_rules) > 0) & ~relaxed  # with branch=stuck: another pass before guessing
        self._walk(rows, closed, bad, value, deducing)
        self.cand[rows] = closed

    def _project(self, rows: torch.Tensor):
        """One network pass and its projection for the chains `rows`:
        (states, eliminations per row, conflict fired, value logits, relaxed rows)."""
        o, owners = self.opt, self.owner[rows]
        sub, st, fx = self.cand[rows], self.static[owners], self.fixed[owners]
        level = self.level[rows]
        relaxed = level > o["ladder"]
        if self.pool is None:
            none = torch.zeros(len(rows), dtype=torch.long, device=sub.device)
            return sub, none, torch.zeros_like(relaxed), torch.zeros(sub.shape, device=sub.device), relaxed
        strict = 10.0 ** -level.clamp(max=o["ladder"]).float()
        with torch.autocast(sub.device.type, dtype=torch.bfloat16, enabled=o["precision"] == "bf16"):
            keep, value, conflict = run_network(self.model, self.domain, self.pool, sub, st, o["loops"], self.gen)
        keep, value, conflict = keep.float(), value.float(), conflict.float()
        for p in owners.tolist():
            self.stats[p]["passes"] += 1
        projected, dropped = project(sub, fx, keep, o["threshold"] * strict)
        projected = torch.where(relaxed[:, None, None], sub, projected)
        fired = (torch.sigmoid(conflict) > 1 - (1 - o["conflict"]) * strict) & ~relaxed
        return projected, torch.where(relaxed, 0, dropped), fired, value, relaxed

    def _walk(self, rows, closed, bad, value, deducing) -> None:
        """Settle answers and contradictions, then branch; a walk (mazes) repeats this
        several times on one pass's value logits, Sudoku once per pass."""
        steps, st = self.opt["walk"], self.static[self.owner[rows]]
        live = torch.arange(len(rows), device=bad.device)
        for step in range(steps):
            self._accept_answers(rows, live, closed, bad)
            recovered = self._recover_all(rows, live, closed, bad)
            # a walk goes on from undone states; a one-branch round leaves them to the next pass
            keep_on = ~self.done[self.owner[rows[live]]] & (~recovered[live] if steps == 1 else True)
            if step == 0 and self.opt["branch"] == "stuck":
                keep_on &= ~deducing[live]
            live = live[keep_on]
            if not len(live):
                return
            self._branch(rows, live, closed, bad, value, st)

    def _accept_answers(self, rows, live, closed, bad) -> None:
        decided = self.domain.decided(closed[live], self.static[self.owner[rows[live]]]) & ~bad[live]
        for j in live[decided].tolist():  # an answer: the verifier decides
            row, p = int(rows[j]), int(self.owner[rows[j]])
            if self.done[p]:
                continue
            answer = self.domain.decode(closed[j], self.puzzles[p])
            if verify.check(self.puzzles[p], answer).accepted:
                self.results[p] = Attempt(answer, "found", {**self.stats[p], "winner": row % self.k})
                self.done[p] = True
            else:
                bad[j] = True

    def _recover_all(self, rows, live, closed, bad) -> torch.Tensor:
        """Contradicting chains restart or undo a branch; returns which rows did."""
        recovered = torch.zeros_like(bad)
        for j in live[bad[live]].tolist():
            row, p = int(rows[j]), int(self.owner[rows[j]])
            if not self.done[p]:
                self._recover(row, p)
                closed[j], bad[j], recovered[j] = self.cand[row], False, True
        return recovered

    def _branch(self, rows, live, closed, bad, value, st) -> None:
        cell, val = choose_branch(self.domain, closed[live], st[live], value[live], self.opt["temperature"], self.gen)
        for j, c, v in zip(live.tolist(), cell.tolist(), val.tolist()):
            self.stacks[int(rows[j])].append((closed[j].clone(), c, v))
            self.stats[int(self.owner[rows[j]])]["branches"] += 1
        closed[live] = self.close(assign(closed[live], torch.arange(len(live), device=live.device), cell, val),
                                  st[live])
        bad[live] = self.domain.bottom(closed[live], st[live])

    # --- contradictions ---

    def _recover(self, row: int, p: int) -> None:
        """A chain hit a contradiction: restart it, or backtrack to the last branch's complement."""
        if self.opt["search"] == "restart":
            self.stats[p]["restarts"] += 1
            self.cand[row] = self.root[p]
            return
        stack, static = self.stacks[row], self.static[p:p + 1]
        while stack:
            parent, cell, value = stack.pop()
            state = parent.clone()
            state[cell, value] = False
            state = self.close(state[None], static)
            self.stats[p]["backtracks"] += 1
            if not self.domain.bottom(state, static)[0]:
                self.cand[row] = state[0]
                return
        self._climb(row, p)

    def _climb(self, row: int, p: int) -> None:
        """A chain's stack ran dry: retry stricter, then relaxed; a relaxed chain that
        runs dry has searched exhaustively with sound rules only, so there is no solution."""
        ladder = self.opt["ladder"]
        if self.level[row] > ladder:
            self.results[p] = Attempt(None, "unsolvable", self.stats[p],
                                      reason="exhaustive search with sound rules found no solution")
            self.done[p] = True
            return
        self.level[row] += 1
        self.stats[p]["relaxed" if self.level[row] > ladder else "stricter"] += 1
        self.cand[row] = self.root[p]
