"""The LDT engine: lattice projection by a looped transformer, sound symbolic
closure, and search; it abstains rather than answer wrong.

One round, for every live chain at once: a network pass under a random
symmetry; projection (drop alive, non-fixed candidates the network scores under
the threshold; nothing is ever revived); the optional symbolic closure; then the
status: a contradiction if the state is bottom or the conflict head fires,
an answer if every cell is decided (it must pass the symbolic verifier, else it
is a contradiction too), otherwise a branch on one undecided cell with a value
sampled from the value head.

Search: `restart` sends a contradicting chain back to the puzzle (the paper);
`backtrack` keeps a stack and undoes the last branch, trying the value's
complement. The network's eliminations are not proofs, so a backtracking chain
whose stack runs dry starts again from the puzzle with a ten times stricter
threshold (and conflict head), `ladder` times, and then with projection
switched off ("relaxed"): that search uses only sound rules and exhaustive
branching, so when it runs dry as well the puzzle is proven unsolvable. Puzzles with no network for their
shape (e.g. 16x16 Sudoku with a 9x9 checkpoint) run the relaxed search directly.
"""

from __future__ import annotations

import torch

from .. import verify
from ..lattice import domain_for
from ..lattice.rounds import SymmetryPool, assign, choose_branch, project, run_network
from . import Attempt, EngineError
from .neural import check_options, device_for, load_model

OPTIONS = {
    "propagate": ("auto", "none", "singles", "dead-ends"),  # auto: the kind's sound rules
    "search": ("backtrack", "restart"),
    "chains": 0,  # parallel chains per puzzle, each under its own random symmetries (0: the kind's default)
    "rounds": 0,  # round budget per puzzle (0: the kind's default)
    "threshold": 0.1,  # projection threshold (default: the checkpoint's)
    "temperature": 1.0,  # value sampling temperature at branches
    "conflict": 0.6,  # conflict-head probability that counts as a contradiction
    "loops": 0,  # network loops per pass (0: the checkpoint's)
    "walk": 0,  # branches per round on one network pass (0: the kind's default)
    "branch": ("always", "stuck"),  # branch after every pass, or only when a pass removed nothing
    "ladder": 2,  # stricter retries (threshold and conflict odds x0.1 each) before the relaxed search
    "precision": ("fp32", "bf16"),  # network passes in bf16 autocast (faster on CPUs with AMX)
}
# Mazes walk several steps of the path from S on one pass (a branch per step,
# each undoable); Sudoku re-reads the network after every branch.
WALK = {"sudoku": 1, "maze": 16}
ROUNDS = {"sudoku": 1000, "maze": 32}
CHAINS = {"sudoku": 2, "maze": 1}  # chosen on validation sets (README, "LDT results")
RULES = {"sudoku": "singles", "maze": "dead-ends"}


class LDTEngine:
    name = "ldt"

    def __init__(self, kind: str, checkpoint: str | None = None, device: str | None = "auto", seed: int = 0,
                 **options):
        user_threshold = options.get("threshold")
        self.opt = check_options(self.name, options, OPTIONS)
        if self.opt["propagate"] == "auto":
            self.opt["propagate"] = RULES[kind]
        elif self.opt["propagate"] not in ("none", RULES[kind]):
            raise EngineError(f"--propagate {self.opt['propagate']} is not a rule for {kind} puzzles; "
                              f"use none or {RULES[kind]}")
        self.opt["chains"] = self.opt["chains"] or CHAINS[kind]
        self.opt["rounds"] = self.opt["rounds"] or ROUNDS[kind]
        self.kind, self.device = kind, device_for(device)
        self.model, ckpt = load_model(self.name, kind, checkpoint, self.device)
        if user_threshold is None:
            self.opt["threshold"] = float(ckpt.config.get("threshold", OPTIONS["threshold"]))
        self.checkpoint = str(ckpt.path)
        torch.manual_seed(seed)
        self.gen = torch.Generator(device=self.device).manual_seed(seed)
        self._domains: dict = {}

    def _domain(self, puzzle):
        key = (puzzle.side,) if self.kind == "sudoku" else (puzzle.height, puzzle.width)
        if key not in self._domains:
            shape = dict(side=key[0]) if self.kind == "sudoku" else dict(height=key[0], width=key[1])
            domain = domain_for(self.kind, self.device, **shape)
            cfg = self.model.cfg
            fits = (cfg.height, cfg.width) == ((key[0], key[0]) if self.kind == "sudoku" else key)
            pool = SymmetryPool(domain, 256, seed=len(self._domains)) if fits else None
            self._domains[key] = (domain, pool)
        return self._domains[key]

    def solve_batch(self, puzzles: list) -> list[Attempt]:
        groups: dict = {}
        for i, p in enumerate(puzzles):
            groups.setdefault(self._domain(p), []).append(i)
        out: list[Attempt | None] = [None] * len(puzzles)
        for (domain, pool), idx in groups.items():
            with torch.inference_mode():
                for i, attempt in zip(idx, self._search(domain, pool, [puzzles[i] for i in idx])):
                    out[i] = attempt
        return out  # type: ignore[return-value]

    def _search(self, domain, pool, puzzles) -> list[Attempt]:
        o, k, n = self.opt, self.opt["chains"], len(puzzles)
        rules = o["propagate"] != "none"
        close = domain.close if rules else (lambda c, s: c)
        stats = [{"rounds": 0, "passes": 0, "branches": 0, "restarts": 0, "backtracks": 0, "stricter": 0,
                  "relaxed": 0, "eliminated_by_network": 0, "eliminated_by_rules": 0, "chains": k,
                  "network": pool is not None} for _ in range(n)]
        top, fixed, static = domain.encode(puzzles)
        root = close(top, static)
        for p, removed in enumerate((top & ~root).flatten(1).sum(-1).tolist()):
            stats[p]["eliminated_by_rules"] += removed
        results: list[Attempt | None] = [None] * n
        for p in domain.bottom(root, static).nonzero().flatten().tolist():
            results[p] = Attempt(None, "unsolvable", stats[p], reason="the puzzle's constraints reach a "
                                 "contradiction under sound propagation (no solution)")
        for p in (domain.decided(root, static) & ~domain.bottom(root, static)).nonzero().flatten().tolist():
            answer = domain.decode(root[p], puzzles[p])  # the sound rules alone solved it: no network pass
            if verify.check(puzzles[p], answer).accepted:
                results[p] = Attempt(answer, "found", {**stats[p], "winner": 0})
        owner = torch.arange(n, device=top.device).repeat_interleave(k)
        cand = root[owner].clone()
        level = torch.full((n * k,), o["ladder"] + 1 if pool is None else 0, device=top.device)
        stacks: list[list] = [[] for _ in range(n * k)]
        done = torch.tensor([r is not None for r in results], device=top.device)
        for _ in range(o["rounds"]):
            rows = (~done[owner]).nonzero().flatten()
            if len(rows) == 0:
                break
            for p in owner[rows].unique().tolist():
                stats[p]["rounds"] += 1
            sub, st, fx = cand[rows], static[owner[rows]], fixed[owner[rows]]
            rel, strict = level[rows] > o["ladder"], 10.0 ** -level[rows].clamp(max=o["ladder"]).float()
            if pool is not None:
                with torch.autocast(sub.device.type, dtype=torch.bfloat16, enabled=o["precision"] == "bf16"):
                    keep, value, conflict = run_network(self.model, domain, pool, sub, st, o["loops"] or None,
                                                        self.gen)
                keep, value, conflict = keep.float(), value.float(), conflict.float()
                for p in owner[rows].tolist():
                    stats[p]["passes"] += 1
                projected, dropped = project(sub, fx, keep, o["threshold"] * strict)
                projected = torch.where(rel[:, None, None], sub, projected)
                fired = (torch.sigmoid(conflict) > 1 - (1 - o["conflict"]) * strict) & ~rel
                dropped = torch.where(rel, 0, dropped)
            else:
                value = torch.zeros(sub.shape, device=sub.device)
                projected, dropped, fired = sub, torch.zeros(len(rows), dtype=torch.long), torch.zeros_like(rel)
            closed = close(projected, st)
            by_rules = (projected & ~closed).flatten(1).sum(-1)
            bad = domain.bottom(closed, st) | fired
            for j, p in enumerate(owner[rows].tolist()):
                stats[p]["eliminated_by_network"] += int(dropped[j])
                stats[p]["eliminated_by_rules"] += int(by_rules[j])
            live = torch.arange(len(rows), device=bad.device)
            steps = o["walk"] or WALK[self.kind]
            for step in range(steps):
                decided = domain.decided(closed[live], st[live]) & ~bad[live]
                for j in live[decided].tolist():  # an answer: the verifier decides
                    row, p = int(rows[j]), int(owner[rows[j]])
                    if done[p]:
                        continue
                    answer = domain.decode(closed[j], puzzles[p])
                    if verify.check(puzzles[p], answer).accepted:
                        results[p] = Attempt(answer, "found", {**stats[p], "winner": row % k})
                        done[p] = True
                    else:
                        bad[j] = True
                recovered = torch.zeros_like(bad)
                for j in live[bad[live]].tolist():  # a contradiction: restart or undo a branch
                    row, p = int(rows[j]), int(owner[rows[j]])
                    if not done[p]:
                        self._recover(domain, close, row, p, cand, level, stacks, root, static, stats, results,
                                      done)
                        closed[j], bad[j], recovered[j] = cand[row], False, True
                # a walk goes on from undone states; a one-branch round leaves them to the next pass
                keep_on = ~done[owner[rows[live]]] & (~recovered[live] if steps == 1 else True)
                if step == 0 and o["branch"] == "stuck":  # still deducing: another pass before guessing
                    keep_on &= ((dropped + by_rules)[live] == 0) | rel[live]
                live = live[keep_on]
                if not len(live):
                    break
                # branch on this pass's value logits (a walk keeps branching on them)
                cell, val = choose_branch(domain, closed[live], st[live], value[live], o["temperature"], self.gen)
                for j, c, v in zip(live.tolist(), cell.tolist(), val.tolist()):
                    stacks[int(rows[j])].append((closed[j].clone(), c, v))
                    stats[int(owner[rows[j]])]["branches"] += 1
                closed[live] = close(assign(closed[live], torch.arange(len(live)), cell, val), st[live])
                bad[live] = domain.bottom(closed[live], st[live])
            cand[rows] = closed
        for p in range(n):
            if results[p] is None:
                results[p] = Attempt(None, "abstained", stats[p],
                                     reason=f"no verified answer within {o['rounds']} rounds")
        return results  # type: ignore[return-value]

    def _recover(self, domain, close, row, p, cand, level, stacks, root, static, stats, results, done):
        """A chain hit a contradiction: restart it, or backtrack to the last branch's complement."""
        if self.opt["search"] == "restart":
            stats[p]["restarts"] += 1
            cand[row] = root[p]
            return
        stack = stacks[row]
        while stack:
            parent, cell, value = stack.pop()
            state = parent.clone()
            state[cell, value] = False
            state = close(state[None], static[p:p + 1])
            stats[p]["backtracks"] += 1
            if not domain.bottom(state, static[p:p + 1])[0]:
                cand[row] = state[0]
                return
        if level[row] > self.opt["ladder"]:  # exhaustive search with sound rules only: there is no solution
            results[p] = Attempt(None, "unsolvable", stats[p],
                                 reason="exhaustive search with sound rules found no solution")
            done[p] = True
            return
        level[row] += 1
        stats[p]["relaxed" if level[row] > self.opt["ladder"] else "stricter"] += 1
        cand[row] = root[p]
