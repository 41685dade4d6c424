"""The engine registry: a name maps to a solver with one batch interface.

An engine takes a list of puzzles of one kind and returns one Attempt each. It
never decides that an answer is correct: the pipeline (rsolve.pipeline) runs the
symbolic verifier on every proposed solution. Engines are imported lazily so
that `rsolve --help` and the exact engines never import torch.

Each spec describes its engine: the kinds it solves, its options (typed, with
defaults and help: the CLI builds its flags and `rsolve models --options` from
them) and, for neural engines, the checkpoints it reads. `plan` checks a
configuration before any record is read.

Adding an engine: one module in this package and one `register(...)` below.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Protocol

from .options import Option, OptionError, resolve


class EngineError(ValueError):
    """A usage problem with an engine: unknown name, wrong kind, bad checkpoint or option."""


@dataclass
class Attempt:
    """An engine's proposal for one puzzle. `status` is the engine's claim:
    'found' (solution proposed), 'unsolvable' (proved to have none) or 'abstained'.
    `stats["seconds"]`, when an engine sets it, is this puzzle's own share of the time."""

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
    options: tuple[Option, ...] = ()
    neural: bool = False  # needs torch and a checkpoint
    parallel: bool = False  # may run in worker processes (pure Python, no torch threads)
    default_batch: int = 64
    continuous: bool = False  # has session(slots): puzzles join and leave a running batch
    weights: str | None = None  # whose checkpoints it loads, when not its own

    @property
    def checkpoints(self) -> str:
        return self.weights or self.name


REGISTRY: dict[str, EngineSpec] = {}


def register(spec: EngineSpec) -> None:
    REGISTRY[spec.name] = spec


def _opt(name, type_, default, help_, **kw) -> Option:
    return Option(name, type_, default, help_, **kw)


LDT_OPTIONS = (
    _opt("propagate", str, "auto", "sound rules after each projection: auto (Sudoku locked: naked and hidden "
         "singles plus locked candidates; mazes dead-ends), singles (Sudoku: singles only) or none (the "
         "network alone deduces)", choices=("auto", "none", "locked", "singles", "dead-ends"), flag=True),
    _opt("search", str, "backtrack", "on a contradiction: undo the last branch, or restart the chain",
         choices=("backtrack", "restart"), flag=True),
    _opt("chains", int, None, "parallel chains per puzzle (default: 1; Sudoku with --propagate none 2)", min=1, max=256, flag=True),
    _opt("rounds", int, None, "round budget per puzzle (default: Sudoku 1000, mazes 32)", min=1, max=100_000,
         flag=True),
    _opt("threshold", float, None, "keep-probability under which a candidate is dropped (default: the "
         "checkpoint's)", min=0.0, max=1.0, flag=True),
    _opt("temperature", float, 1.0, "value sampling temperature at branches (0: argmax)", min=0.0, max=100.0),
    _opt("conflict", float, 0.6, "conflict-head probability that counts as a contradiction", min=0.0, max=1.0),
    _opt("loops", int, None, "network loops per pass (the maze grid network: iterations; default: the "
         "checkpoint's, or until the grid network settles)", min=1, max=16384),
    _opt("walk", int, None, "branches per round on one network pass (default: Sudoku 32, 1 with "
         "propagate=none; mazes 16; the maze grid network 1024)", min=1, max=4096),
    _opt("branch", str, "always", "branch after every pass, or only when a pass removed nothing",
         choices=("always", "stuck")),
    _opt("ladder", int, 2, "stricter retries (threshold and conflict odds x0.1 each) before the relaxed search",
         min=0, max=10),
    _opt("precision", str, "fp32", "network passes in fp32, or bf16 autocast (only where the hardware has native "
         "bf16; elsewhere fp32)", choices=("fp32", "bf16")),
)
RECURSIVE_OPTIONS = (
    _opt("steps", int, None, "supervision steps at most (default: the checkpoint's training setting)",
         min=1, max=1024, flag=True),
    _opt("halt", str, "max", "max: run every step, as the papers evaluate; q: stop when the Q head says halt; "
         "verify: stop at the first verified answer", choices=("max", "q", "verify"), flag=True),
    _opt("cycles", int, None, "high-level cycles per step, TRM's T or HRM's N (default: the checkpoint's)",
         min=1, max=64),
    _opt("precision", str, "auto", "auto: bf16 if the checkpoint trained in it and bf16 matmuls are "
         "faster than fp32 here, else fp32",
         choices=("auto", "fp32", "bf16")),
    _opt("compile", bool, False, "torch.compile the network: about a minute of compiling, then up to 1.6x "
         "faster steps (for long streams)"),
)
SOTAKU_OPTIONS = (
    _opt("steps", int, 4, "re-reads of its own predictions", min=1, max=64),
    _opt("loops", int, None, "network loops per pass (default: the checkpoint's)", min=1, max=256),
)

PTRM_OPTIONS = (
    _opt("samples", int, 16, "rollouts per puzzle, K (the PTRM paper: 100)", min=1, max=4096, flag=True),
    _opt("sigma", float, None, "std of the Gaussian noise on the latent z before each step (default: Sudoku 0.3, "
         "mazes 1.0, the paper's)", min=0.0, max=100.0, flag=True),
    _opt("select", str, "verify", "which rollout answers: verify (first the verifier accepts, by q; else abstain), "
         "q (largest final q_halt), vote (most frequent), converge (changed least)",
         choices=("verify", "q", "vote", "converge"), flag=True),
    _opt("report", bool, False, "run every rollout all steps and record which rule's pick passes the verifier "
         "(`rsolve eval` then prints pass@K, q@K, vote@K, converge@K, verify@K)"),
    _opt("views", bool, True, "each rollout after the first reads its puzzle under its own random symmetry "
         "(Sudoku: band, stack, row and column swaps, transpose, digit relabelling; mazes: turns and flips), its "
         "answers mapped back: rollouts differ by more than the noise (false: noise alone, the paper's PTRM)"),
    _opt("rows", int, None, "rollout rows per network pass, bounding memory for any K (default: Sudoku 256, "
         "mazes 32)", min=1, max=65_536),
    *(o for o in RECURSIVE_OPTIONS if o.name != "halt"),
)

GRAM_OPTIONS = (
    _opt("samples", int, 16, "trajectories per puzzle sampled from the prior, N", min=1, max=4096, flag=True),
    _opt("select", str, "verify", "which trajectory answers: verify (first the verifier accepts, by q; else "
         "abstain), prm (largest predicted final accuracy), q (largest final q_halt), vote (most frequent)",
         choices=("verify", "prm", "q", "vote"), flag=True),
    *(o for o in PTRM_OPTIONS if o.name not in ("samples", "sigma", "select")),
)

register(EngineSpec("sat", ("sudoku",), "exact: python-sat (CaDiCaL) with the givens as assumptions",
                    "rsolve.engines.exact:SatEngine", parallel=True))
register(EngineSpec("bfs", ("maze",), "exact: breadth-first search for a shortest path",
                    "rsolve.engines.exact:BfsEngine", parallel=True))
register(EngineSpec("ldt", ("sudoku", "maze"), "neural lattice projection + sound rules + search; "
                    "abstains rather than answer wrong", "rsolve.engines.ldt:LDTEngine", LDT_OPTIONS, neural=True,
                    continuous=True))
register(EngineSpec("sotaku", ("sudoku", "maze"), "baseline: the LDT network re-reading its own guesses "
                    "(no lattice, no search)", "rsolve.engines.sotaku:SotakuEngine", SOTAKU_OPTIONS, neural=True,
                    default_batch=256, weights="ldt"))
register(EngineSpec("trm", ("sudoku", "maze"), "Tiny Recursive Model (network alone, no search): one "
                    "small net refines an answer over supervision steps", "rsolve.engines.recursive:TRMEngine",
                    RECURSIVE_OPTIONS, neural=True))
register(EngineSpec("hrm", ("sudoku", "maze"), "Hierarchical Reasoning Model (network alone, no search): "
                    "fast and slow recurrent modules", "rsolve.engines.recursive:HRMEngine", RECURSIVE_OPTIONS,
                    neural=True))
register(EngineSpec("ptrm", ("sudoku", "maze"), "PTRM: K noisy rollouts of a TRM checkpoint (noise on the "
                    "latent, each on its own symmetric view), one picked by the verifier or a rule",
                    "rsolve.engines.ptrm:PTRMEngine", PTRM_OPTIONS, neural=True, weights="trm"))
register(EngineSpec("gram", ("sudoku", "maze"), "GRAM: N trajectories sampled from a learned stochastic latent, "
                    "one picked by the verifier or a rule (or its process reward head)", "rsolve.engines.gram:GRAMEngine",
                    GRAM_OPTIONS, neural=True))

# Used for `--model auto` (the default): per kind, the first engine in this order
# that has what it needs (a checkpoint whose network reads the puzzle's shape).
# Mazes: the shipped grid network solved every Maze-Hard validation maze and every
# fresh 15x15, 30x30 and 60x60 one it was measured on (README, "Maze grid network
# results"), at about 1/100 of bfs's speed; mazes over its size limit go to bfs.
AUTO_ORDER = {"sudoku": ("ldt", "sat"), "maze": ("ldt", "bfs")}


def spec(name: str) -> EngineSpec:
    key = name.strip().lower()
    if key not in REGISTRY:
        raise EngineError(f"unknown model {name!r}; available: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[key]


def canonical(name: str) -> str:
    """A model name as registered ('auto' stays 'auto'); names are case-insensitive."""
    key = name.strip().lower()
    return key if key == "auto" else spec(key).name


def engines_for(kind: str) -> list[str]:
    return [n for n, s in REGISTRY.items() if kind in s.kinds]


def candidates(model: str, kind: str | None = None) -> list[str]:
    """The engines a model name may run (auto: any engine AUTO_ORDER may pick)."""
    model = canonical(model)
    if model != "auto":
        return [model]
    kinds = [kind] if kind else list(AUTO_ORDER)
    return sorted({n for k in kinds for n in AUTO_ORDER.get(k, ()) if n in REGISTRY})


def resolve_name(name: str, kind: str, puzzle=None) -> str:
    """The engine that `name` means for puzzles of `kind` ('auto' picks the first of
    AUTO_ORDER that can run; a neural engine needs an installed checkpoint whose
    network reads the puzzle's shape, when a puzzle is given)."""
    name = canonical(name)
    if name == "auto":
        for candidate in AUTO_ORDER.get(kind, ()):
            s = REGISTRY.get(candidate)
            if s and kind in s.kinds and (not s.neural or _default_reads(s, kind, puzzle)):
                return candidate
        raise EngineError(f"no engine available for {kind} puzzles")
    if kind not in REGISTRY[name].kinds:
        raise EngineError(f"model {name!r} does not solve {kind} puzzles; "
                          f"models for {kind}: {', '.join(engines_for(kind))}")
    return name


_DEFAULT_SHAPES: dict = {}


def _default_reads(s: EngineSpec, kind: str, puzzle=None) -> bool:
    """Whether the installed default checkpoint of `s` reads this puzzle's grid."""
    if (s.name, kind) not in _DEFAULT_SHAPES:
        from ..checkpoints import CheckpointError, find_default

        path = find_default(s.checkpoints, kind)
        try:
            _DEFAULT_SHAPES[(s.name, kind)] = None if path is None else _preflight(s, kind, str(path)).shapes
        except (EngineError, CheckpointError):
            _DEFAULT_SHAPES[(s.name, kind)] = None
    shapes = _DEFAULT_SHAPES[(s.name, kind)]
    if shapes is None or puzzle is None:
        return shapes is not None
    shape = (puzzle.side, puzzle.side) if kind == "sudoku" else (puzzle.height, puzzle.width)
    return shape in shapes


def declared(name: str, given: dict) -> dict:
    """The given options that engine `name` declares (the others are for other engines)."""
    names = {o.name for o in spec(name).options}
    return {k: v for k, v in given.items() if k in names and v is not None}


def options_for(name: str, given: dict) -> dict:
    """Engine `name`'s options: the given ones it declares (parsed), the rest at defaults."""
    s = spec(name)
    return resolve(s.name, s.options, declared(name, given))


def route_options(models: list[str], given: dict, kind: str | None = None) -> dict[str, dict]:
    """Per engine that `models` may run, its parsed options. Every given option must be
    declared by at least one of them: an EngineError otherwise (one line)."""
    names = sorted({n for m in models for n in candidates(m, kind)})
    for key in given:
        if not any(key in {o.name for o in REGISTRY[n].options} for n in names):
            takers = sorted(n for n, s in REGISTRY.items() if key in {o.name for o in s.options})
            hint = f"; it is an option of {', '.join(takers)} (choose one with --model)" if takers else \
                "; see `rsolve models --options`"
            which = f"model {names[0]!r} has no option" if len(names) == 1 else \
                f"no model among {', '.join(names)} takes option"
            raise EngineError(f"{which} {key!r}{hint}")
    try:
        return {n: options_for(n, given) for n in names}
    except OptionError as exc:
        raise EngineError(str(exc)) from None


@dataclass(frozen=True)
class Preflight:
    """What a neural engine's checkpoint reads: its folder and the grid shapes it fits."""

    path: str
    kind: str
    shapes: object  # supports `shape in shapes`: a frozenset, or neural.UpToCells


def _preflight(s: EngineSpec, kind: str | None, checkpoint: str) -> Preflight:
    from .neural import preflight

    return preflight(s.checkpoints, kind, checkpoint)


def plan(model: str, kind: str | None = None, checkpoint: str | None = None, options: dict | None = None,
         device: str = "auto") -> dict[str, dict]:
    """Check a configuration before any record is read: the model exists and solves `kind`,
    each option belongs to an engine it may run and has a usable value, the device exists,
    and a given checkpoint is readable and fits the engine. Returns per-engine options.
    Raises EngineError (or DeviceError), one line each."""
    from ..devices import check_device

    names = [m.strip() for m in model.split(",") if m.strip()] or ["auto"]
    for name in names:
        name = canonical(name)
        if kind is not None and name != "auto":
            resolve_name(name, kind)
    routed = route_options(names, options or {}, kind)
    if checkpoint is not None:
        neural = [spec(n) for n in names if n.lower() != "auto" and spec(n).neural]
        if len(neural) != len(names):
            raise EngineError("--checkpoint needs --model naming a neural engine (e.g. -m ldt); "
                              f"{', '.join(names)} takes none")
        for s in neural:
            fit = _preflight(s, kind, checkpoint)
            if kind is not None and fit.kind != kind:
                raise EngineError(f"{checkpoint}: checkpoint is for {fit.kind} puzzles, not {kind}")
    if any(REGISTRY[n].neural for n in routed):
        check_device(device)
    return routed


def create(name: str, kind: str, checkpoint: str | None = None, device: str = "auto", seed: int = 0,
           options: dict | None = None, **more) -> Engine:
    """Instantiate engine `name` for `kind`. `options` (and keyword options) are user values;
    only the ones the engine declares reach it, parsed, with defaults for the rest."""
    s = REGISTRY[resolve_name(name, kind)]
    options = {**(options or {}), **more}
    if checkpoint is not None and not s.neural:
        raise EngineError(f"model {s.name!r} is exact and takes no checkpoint")
    try:
        parsed = resolve(s.name, s.options, {k: v for k, v in options.items() if v is not None})
    except OptionError as exc:
        raise EngineError(str(exc)) from None
    module, attr = s.factory.split(":")
    factory = getattr(importlib.import_module(module), attr)
    extra = dict(checkpoint=checkpoint, device=device, seed=seed) if s.neural else {}
    return factory(kind=kind, **extra, **parsed)
