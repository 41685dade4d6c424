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
branching, so when it runs dry as well the puzzle is proven unsolvable. Puzzles
with no network for their shape (e.g. 16x16 Sudoku with a 9x9 checkpoint) run
the relaxed search directly. The search itself lives in rsolve.engines.ldt_search.
"""

from __future__ import annotations

import torch

from ..devices import native_bf16
from ..lattice import domain_for, rules_for
from ..lattice.rounds import SymmetryPool
from ..models.gridnet import GRID_MAX_CELLS
from . import Attempt, EngineError
from .ldt_search import Search
from .neural import device_for, load_model

# A walk takes several branches (each undoable, each closed by the sound rules) on
# one pass's eliminations and value logits. Sudoku: 32 branches and one chain, chosen
# on the validation splits (bench/ldt_tune.py, README "LDT throughput"): with the
# closure at ~0.1 ms a state a pass costs as much as a few hundred closures, and the
# value head's order still guides a search many cells deep. With --propagate none
# there are no rules to walk with (the network re-reads every branch) and two chains
# need fewer rounds and share each pass (also chosen on the validation split).
WALK = {"sudoku": 32, "maze": 16}
GRID_WALK, GRID_ROUNDS = 1024, 4  # a grid-network pass walks the whole path; a maze it misses costs 4 passes
ROUNDS = {"sudoku": 1000, "maze": 32}
CHAINS = {"sudoku": 1, "maze": 1}
CHAINS_NETWORK_ALONE = {"sudoku": 2, "maze": 1}  # with --propagate none
DEFAULT_RULES = {"sudoku": "locked", "maze": "dead-ends"}  # each kind's domain lists the others (rules_for)
DEFAULT_THRESHOLD = 0.1


class LDTEngine:
    name = "ldt"

    def __init__(self, kind: str, checkpoint: str | None = None, device: str | None = "auto", seed: int = 0,
                 **options):
        opt = dict(options)
        if opt["propagate"] == "auto":
            opt["propagate"] = DEFAULT_RULES[kind]
        elif opt["propagate"] not in ("none", *rules_for(kind)):
            raise EngineError(f"--propagate {opt['propagate']} is not a rule for {kind} puzzles; "
                              f"use {', '.join(('none', *rules_for(kind)))}")
        self.kind, self.device = kind, device_for(device)
        self.model, ckpt = load_model(self.name, kind, checkpoint, self.device)
        # the grid network's path marks and distance phases hold for the whole walk from S
        grid = getattr(self.model, "any_size", False)
        walk, rounds = (GRID_WALK, GRID_ROUNDS) if grid else (WALK[kind], ROUNDS[kind])
        chains = CHAINS_NETWORK_ALONE[kind] if opt["propagate"] == "none" else CHAINS[kind]
        if opt["propagate"] == "none" and not grid:
            walk = 1
        defaults = dict(chains=chains, rounds=rounds, walk=walk,
                        threshold=float(ckpt.config.get("threshold", DEFAULT_THRESHOLD)))
        self.opt = {k: (defaults[k] if v is None and k in defaults else v) for k, v in opt.items()}
        if self.opt["precision"] == "bf16" and not native_bf16(self.device):
            self.opt["precision"] = "fp32"  # emulated bf16 is slower than fp32
        self.checkpoint = str(ckpt.path)
        torch.manual_seed(seed)
        self.gen = torch.Generator(device=self.device).manual_seed(seed)
        self._domains: dict = {}

    def _domain(self, puzzle):
        """(domain, symmetry pool or None when the network does not read this shape)."""
        key = (puzzle.side, puzzle.side) if self.kind == "sudoku" else (puzzle.height, puzzle.width)
        if key not in self._domains:
            shape = dict(side=key[0]) if self.kind == "sudoku" else dict(height=key[0], width=key[1])
            rules = self.opt["propagate"] if self.opt["propagate"] != "none" else None
            domain = domain_for(self.kind, self.device, rules=rules, **shape)
            if getattr(self.model, "any_size", False):  # the grid network, up to its size limit
                # (larger mazes take the relaxed search: sound rules and branching)
                fits = key[0] * key[1] <= GRID_MAX_CELLS
            else:
                fits = (self.model.cfg.height, self.model.cfg.width) == key
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
                for i, attempt in zip(idx, Search(self, domain, pool, len(idx)).run([puzzles[i] for i in idx])):
                    out[i] = attempt
        return out  # type: ignore[return-value]

    def session(self, slots: int) -> "Session":
        return Session(self, slots)


class Session:
    """Continuous batching for a stream (rsolve.pipeline): puzzles join while others
    run, up to `slots` at once, and leave as soon as they finish, so throughput is
    set by the mean puzzle, not the slowest of a batch. One Search per grid shape."""

    def __init__(self, engine: LDTEngine, slots: int):
        self.engine, self.slots = engine, slots
        self.searches: dict = {}

    def busy(self) -> int:
        return sum(s.busy() for s in self.searches.values())

    def add(self, items: list[tuple]) -> None:
        """(key, puzzle) pairs; the caller keeps busy() within slots."""
        groups: dict = {}
        for key, puzzle in items:
            groups.setdefault(self.engine._domain(puzzle), []).append((key, puzzle))
        for (domain, pool), group in groups.items():
            search = self.searches.get(domain)
            if search is None:
                search = self.searches[domain] = Search(self.engine, domain, pool, self.slots)
            with torch.inference_mode():
                search.admit(group)

    def step(self) -> list[tuple]:
        """One round of every search with live puzzles; (key, attempt) of those finished."""
        out = []
        with torch.inference_mode():
            for search in self.searches.values():
                search.step()
                out += search.harvest()
        return out
