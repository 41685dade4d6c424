"""The engine registry: a name maps to a solver with one batch interface.

An engine takes a list of puzzles of one kind and returns one Attempt each. It
never decides that an answer is correct: the pipeline (rsolve.pipeline) runs the
symbolic verifier on every proposed solution. Engines are imported lazily so
that `rsolve --help` and the exact engines never import torch.

Adding an engine: one module in this package and one `register(...)` line below.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Protocol


class EngineError(ValueError):
    """A usage problem with an engine: unknown name, wrong kind, bad checkpoint or option."""


@dataclass
class Attempt:
    """An engine's proposal for one puzzle. `status` is the engine's claim:
    'found' (solution proposed), 'unsolvable' (proved to have none) or 'abstained'."""

    solution: object | None
    status: str
    stats: dict = field(default_factory=dict)
    reason: str | None = None


class Engine(Protocol):
    name: str

    def solve_batch(self, puzzles: list) -> list[Attempt]: ...


@dataclass(frozen=True)
class EngineSpec:
    name: str
    kinds: tuple[str, ...]
    summary: str
    factory: str  # "module:callable", imported on first use
    neural: bool = False  # needs torch and a checkpoint
    parallel: bool = False  # may run in worker processes (pure Python, no torch threads)
    default_batch: int = 64
    weights: str | None = None  # whose checkpoints it loads, when not its own


REGISTRY: dict[str, EngineSpec] = {}


def register(spec: EngineSpec) -> None:
    REGISTRY[spec.name] = spec


register(EngineSpec("sat", ("sudoku",), "exact: python-sat (CaDiCaL) with the givens as assumptions",
                    "rsolve.engines.exact:SatEngine", parallel=True))
register(EngineSpec("bfs", ("maze",), "exact: breadth-first search for a shortest path",
                    "rsolve.engines.exact:BfsEngine", parallel=True))

register(EngineSpec("ldt", ("sudoku", "maze"), "neural lattice projection + sound rules + search; "
                    "abstains rather than answer wrong", "rsolve.engines.ldt:LDTEngine", neural=True,
                    default_batch=64))
register(EngineSpec("sotaku", ("sudoku", "maze"), "baseline: the LDT network re-reading its own guesses "
                    "(no lattice, no search)", "rsolve.engines.sotaku:SotakuEngine", neural=True,
                    default_batch=256, weights="ldt"))
register(EngineSpec("trm", ("sudoku", "maze"), "Tiny Recursive Model (network alone, no search): one "
                    "small net refines an answer over supervision steps", "rsolve.engines.recursive:TRMEngine",
                    neural=True, default_batch=64))
register(EngineSpec("hrm", ("sudoku", "maze"), "Hierarchical Reasoning Model (network alone, no search): "
                    "fast and slow recurrent modules", "rsolve.engines.recursive:HRMEngine", neural=True,
                    default_batch=64))

# Used for `--model auto` (the default): per kind, the first engine in this order
# that has what it needs (a checkpoint whose network reads the puzzle's shape).
# Mazes default to bfs: the shipped CPU-trained LDT maze checkpoint solves too
# few Maze-Hard mazes to be a default (README, "LDT results"); `-m ldt` runs it.
AUTO_ORDER = {"sudoku": ("ldt", "sat"), "maze": ("bfs", "ldt")}


def spec(name: str) -> EngineSpec:
    if name not in REGISTRY:
        raise EngineError(f"unknown model {name!r}; available: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def engines_for(kind: str) -> list[str]:
    return [n for n, s in REGISTRY.items() if kind in s.kinds]


def resolve_name(name: str, kind: str, puzzle=None) -> str:
    """The engine that `name` means for puzzles of `kind` ('auto' picks the first of
    AUTO_ORDER that can run; a neural engine needs an installed checkpoint whose
    network reads the puzzle's shape, when a puzzle is given)."""
    if name == "auto":
        for candidate in AUTO_ORDER.get(kind, ()):
            s = REGISTRY.get(candidate)
            if s and kind in s.kinds and (not s.neural or _has_default_checkpoint(s, kind, puzzle)):
                return candidate
        raise EngineError(f"no engine available for {kind} puzzles")
    s = spec(name)
    if kind not in s.kinds:
        raise EngineError(f"model {name!r} does not solve {kind} puzzles; "
                          f"models for {kind}: {', '.join(engines_for(kind))}")
    return name


def _has_default_checkpoint(s: EngineSpec, kind: str, puzzle=None) -> bool:
    from ..checkpoints import find_default

    path = find_default(s.weights or s.name, kind)
    if path is None or puzzle is None:
        return path is not None
    arch = _architecture(str(path))
    shape = (puzzle.side, puzzle.side) if kind == "sudoku" else (puzzle.height, puzzle.width)
    return (arch.get("height"), arch.get("width")) == shape


_ARCH: dict = {}


def _architecture(path: str) -> dict:
    if path not in _ARCH:
        from ..checkpoints import validate

        _ARCH[path] = validate(path, verify_hash=False).architecture
    return _ARCH[path]


def check_options(name: str, options: dict) -> None:
    """Raise EngineError for options engine `name` does not take (before any puzzle runs)."""
    s = spec(name)
    module = importlib.import_module(s.factory.split(":")[0])
    allowed = getattr(module, "OPTIONS", None)
    given = {k: v for k, v in options.items() if v is not None}
    if allowed is None:
        if given:
            raise EngineError(f"model {name!r} has no option {sorted(given)[0]!r}")
        return
    from .neural import check_options as check

    check(name, given, allowed)


def create(name: str, kind: str, **options) -> Engine:
    """Instantiate engine `name` for `kind`. Options are engine-specific keywords
    (checkpoint, device, seed, and whatever the engine declares)."""
    s = REGISTRY[resolve_name(name, kind)]
    module, attr = s.factory.split(":")
    factory = getattr(importlib.import_module(module), attr)
    return factory(kind=kind, **options)
