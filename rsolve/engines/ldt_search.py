"""The LDT search over puzzles of one shape (see rsolve.engines.ldt).

`Search` holds a fixed number of puzzle slots, k chains each, as one tensor of
lattice states plus, per chain, a stack of branch points and a strictness
level. `admit` puts puzzles into free slots, `step` plays one round on every
live chain, and `harvest` hands back the finished puzzles and frees their
slots, so a stream keeps the batch full: a puzzle that finishes early makes
room for the next one instead of idling until the batch's slowest is done.
Each round's wall time is shared equally by the puzzles still running in it,
so a puzzle's `seconds` is its own cost, not the batch's mean.
"""

from __future__ import annotations

import time

import torch

from .. import verify
from ..lattice.rounds import assign, choose_branch, project, run_network
from . import Attempt


def _stats(k: int, network: bool) -> dict:
    return {"rounds": 0, "passes": 0, "branches": 0, "restarts": 0, "backtracks": 0, "stricter": 0, "relaxed": 0,
            "eliminated_by_network": 0, "eliminated_by_rules": 0, "chains": k, "network": network}


class Search:
    def __init__(self, engine, domain, pool, slots: int):
        self.opt, self.model, self.gen = engine.opt, engine.model, engine.gen
        self.domain, self.pool, self.slots = domain, pool, slots
        self.k = k = self.opt["chains"]
        if self.opt["propagate"] != "none":
            self.close, self.settle = domain.close, domain.settle
        else:
            self.close, self.settle = (lambda c, s: c), (lambda c, s: (c, domain.bottom(c, s)))
        self.root = self.fixed = self.static = self.cand = None  # allocated by the first admit
        dev = domain.device
        self.owner = torch.arange(slots, device=dev).repeat_interleave(k)  # chain -> slot
        self.level = torch.zeros(slots * k, dtype=torch.long, device=dev)
        self.stacks: list[list] = [[] for _ in range(slots * k)]
        self.done = torch.ones(slots, dtype=torch.bool, device=dev)  # empty slots count as done
        self.puzzles: list = [None] * slots
        self.keys: list = [None] * slots
        self.stats: list[dict] = [{} for _ in range(slots)]
        self.results: list[Attempt | None] = [None] * slots
        self.seconds = [0.0] * slots

    # --- slots ---

    def free(self) -> int:
        return sum(p is None for p in self.puzzles)

    def busy(self) -> int:
        return self.slots - self.free()

    def admit(self, items: list[tuple]) -> None:
        """Put (key, puzzle) pairs into free slots (there must be room)."""
        if not items:
            return
        t0 = time.perf_counter()
        slots = [i for i, p in enumerate(self.puzzles) if p is None][:len(items)]
        if len(slots) < len(items):
            raise ValueError(f"{len(items)} puzzles for {len(slots)} free slots")
        top, fixed, static = self.domain.encode([p for _, p in items])
        root = self.close(top, static)
        if self.root is None:  # per-slot tensors shaped like one puzzle's
            self.root = root.new_zeros((self.slots,) + root.shape[1:])
            self.fixed = fixed.new_zeros((self.slots,) + fixed.shape[1:])
            self.static = static.new_zeros((self.slots,) + static.shape[1:])
            self.cand = self.root[self.owner].clone()
        idx = torch.tensor(slots, device=self.root.device)
        self.root[idx], self.fixed[idx], self.static[idx] = root, fixed, static
        rows = (idx[:, None] * self.k + torch.arange(self.k, device=idx.device)).flatten()
        self.cand[rows] = root.repeat_interleave(self.k, 0)
        # no network for this shape: the relaxed search at once
        self.level[rows] = self.opt["ladder"] + 1 if self.pool is None else 0
        for row in rows.tolist():
            self.stacks[row] = []
        removed = (top & ~root).flatten(1).sum(-1).tolist()
        for j, (slot, (key, puzzle)) in enumerate(zip(slots, items)):
            self.puzzles[slot], self.keys[slot], self.results[slot], self.seconds[slot] = puzzle, key, None, 0.0
            self.stats[slot] = _stats(self.k, self.pool is not None)
            self.stats[slot]["eliminated_by_rules"] += removed[j]
        self.done[idx] = False
        self._settle_roots(slots)
        self._share(slots, time.perf_counter() - t0)

    def harvest(self) -> list[tuple]:
        """(key, attempt) for every finished puzzle; their slots become free."""
        out = []
        for p in self.done.nonzero().flatten().tolist():
            if self.puzzles[p] is None:
                continue
            result = self.results[p] or Attempt(None, "abstained", self.stats[p],
                                                reason=f"no verified answer within {self.opt['rounds']} rounds")
            result.stats["seconds"] = self.seconds[p]
            out.append((self.keys[p], result))
            self.puzzles[p] = self.keys[p] = self.results[p] = None
        return out

    def run(self, puzzles: list) -> list[Attempt]:
        """Every puzzle to the end (a batch that fits the slots); attempts in order."""
        self.admit(list(enumerate(puzzles)))
        while self.step():
            pass
        out: list = [None] * len(puzzles)
        for i, attempt in self.harvest():
            out[i] = attempt
        return out

    def _settle_roots(self, slots: list[int]) -> None:
        """Puzzles the sound rules alone refute or solve need no network pass."""
        d, idx = self.domain, torch.tensor(slots, device=self.root.device)
        root, static = self.root[idx], self.static[idx]
        bottom = d.bottom(root, static)
        decided = d.decided(root, static) & ~bottom
        for j, p in enumerate(slots):
            if bottom[j]:
                self.results[p] = Attempt(None, "unsolvable", self.stats[p], reason="the puzzle's constraints "
                                          "reach a contradiction under sound propagation (no solution)")
            elif decided[j]:
                answer = d.decode(root[j], self.puzzles[p])
                if verify.check(self.puzzles[p], answer).accepted:
                    self.results[p] = Attempt(answer, "found", {**self.stats[p], "winner": 0})
            if self.results[p] is not None:
                self.done[p] = True

    def _share(self, puzzles, seconds: float) -> None:
        puzzles = list(puzzles)
        for p in puzzles:
            self.seconds[p] += seconds / max(1, len(puzzles))

    def step(self) -> bool:
        """One round on every live chain; False when nothing was live. A puzzle that has
        used its round budget without a verified answer is done (it abstains)."""
        rows = (~self.done[self.owner]).nonzero().flatten()
        if len(rows) == 0:
            return False
        t0 = time.perf_counter()
        running = self.owner[rows].unique().tolist()
        self._round(rows)
        self._share(running, time.perf_counter() - t0)
        for p in running:
            if self.stats[p]["rounds"] >= self.opt["rounds"]:
                self.done[p] = True
        return True

    # --- one round ---

    def _round(self, rows: torch.Tensor) -> None:
        owners = self.owner[rows]
        for p in owners.unique().tolist():
            self.stats[p]["rounds"] += 1
        st = self.static[owners]
        projected, dropped, fired, value, relaxed = self._project(rows)
        closed, bottom = self.settle(projected, st)
        by_rules = (projected & ~closed).flatten(1).sum(-1)
        bad = bottom | fired
        for p, net, rules in zip(owners.tolist(), dropped.tolist(), by_rules.tolist()):
            self.stats[p]["eliminated_by_network"] += net
            self.stats[p]["eliminated_by_rules"] += rules
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
        """Settle answers and contradictions, then branch, up to `walk` branches per
        chain on this pass's value logits (mazes walk a whole path, Sudoku 32 cells).
        Every live chain makes one move per step, a branch or, from a contradiction,
        a backtrack (backtracks do not use up the walk), and one closure settles the
        moves of all chains at once."""
        o, owners = self.opt, self.owner[rows]
        st, steps = self.static[owners], o["walk"]
        may_branch = torch.ones_like(bad)
        if o["branch"] == "stuck":  # a chain that deduced this pass gets another pass before guessing
            may_branch &= ~deducing
        branches = torch.zeros(len(rows), dtype=torch.long, device=bad.device)
        while True:
            live = (~self.done[owners]).nonzero().flatten()
            self._accept_answers(rows, live, closed, bad)
            live = live[~self.done[owners[live]]]
            back = live[bad[live]]
            fwd = live[~bad[live] & may_branch[live] & (branches[live] < steps)]
            if not len(back) and not len(fwd):
                return
            if steps == 1:  # a one-branch round leaves a recovered chain to the next pass
                may_branch[back] = False
            moved, states = self._branch(rows, fwd, closed, value, st)
            branches[fwd] += 1
            undone, parents = [], []
            for j, row, p in zip(back.tolist(), rows[back].tolist(), owners[back].tolist()):
                undo = self._backtrack(row, p)
                if undo is None:  # restarted, climbed or done: the state needs no closure
                    closed[j], bad[j] = self.cand[row], False
                else:
                    undone.append(j)
                    parents.append(undo)
            if parents:  # each undone branch's complement: its parent without the value tried
                parent, cell, val = zip(*parents)
                state = torch.stack(parent)
                dev = state.device
                state[torch.arange(len(parent), device=dev), torch.tensor(cell, device=dev),
                      torch.tensor(val, device=dev)] = False
                moved, states = moved + undone, states + [state]
            if moved:
                idx = torch.tensor(moved, device=bad.device)
                closed[idx], bad[idx] = self.settle(torch.cat(states) if len(states) > 1 else states[0], st[idx])

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

    def _branch(self, rows, fwd, closed, value, st) -> tuple[list[int], list]:
        """Branch the chains `fwd`: push each state and its choice, return the rows
        moved and their new (unclosed) states."""
        if not len(fwd):
            return [], []
        cell, val = choose_branch(self.domain, closed[fwd], st[fwd], value[fwd], self.opt["temperature"], self.gen)
        parents = closed[fwd]
        for parent, row, p, c, v in zip(parents, rows[fwd].tolist(), self.owner[rows[fwd]].tolist(),
                                        cell.tolist(), val.tolist()):
            self.stacks[row].append((parent.clone(), c, v))  # its own copy: a view would pin the batch
            self.stats[p]["branches"] += 1
        return fwd.tolist(), [assign(parents, torch.arange(len(fwd), device=fwd.device), cell, val)]

    # --- contradictions ---

    def _backtrack(self, row: int, p: int):
        """A chain hit a contradiction: restart it, or undo its last branch. Returns the
        branch undone (parent state, cell, value), or None when the chain's state was reset."""
        if self.opt["search"] == "restart":
            self.stats[p]["restarts"] += 1
            self.cand[row] = self.root[p]
            return None
        if not self.stacks[row]:
            self._climb(row, p)
            return None
        self.stats[p]["backtracks"] += 1
        return self.stacks[row].pop()

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
