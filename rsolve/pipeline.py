"""From records to verified results: the one road every answer takes.

`Pipeline.run` hands valid puzzles to their engine in batches, then passes every
proposed solution through the symbolic verifier. Only an accepted answer becomes
`solved`; a rejected one becomes `abstained` with the verifier's reason in
`stats`. `stream` does the same over an unbounded iterator, optionally in worker
processes for engines that allow it, yielding results in input order with a
bounded number of batches in flight.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from itertools import islice
from typing import Iterable, Iterator

from . import engines, verify
from .puzzles import Record

STATUSES = ("solved", "abstained", "unsolvable", "invalid")


@dataclass
class Result:
    index: int
    source: str
    kind: str | None
    status: str
    puzzle: object | None = None
    solution: object | None = None
    verified: bool = False
    unique: bool | None = None
    engine: str | None = None
    seconds: float = 0.0
    error: str | None = None
    stats: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # carried over from the input record

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "source": self.source,
            "kind": self.kind,
            "status": self.status,
            "puzzle": self.puzzle.to_string() if self.puzzle is not None else None,
            "solution": self.solution.to_string() if self.solution is not None else None,
            "verified": self.verified,
            "unique": self.unique,
            "engine": self.engine,
            "seconds": round(self.seconds, 6),
            "error": self.error,
            "stats": self.stats,
        }


@dataclass
class SolveConfig:
    model: str = "auto"
    checkpoint: str | None = None
    device: str = "auto"
    seed: int = 0
    batch_size: int | None = None
    check_unique: bool = False
    options: dict = field(default_factory=dict)  # engine-specific


class Pipeline:
    """Engines for one configuration, created on first use per puzzle kind."""

    def __init__(self, config: SolveConfig):
        self.config = config
        self._engines: dict[str, object] = {}

    def engine(self, kind: str, name: str):
        if (kind, name) not in self._engines:
            c = self.config
            self._engines[(kind, name)] = engines.create(name, kind, checkpoint=c.checkpoint, device=c.device,
                                                         seed=c.seed, **c.options)
        return self._engines[(kind, name)]

    def run(self, records: list[Record]) -> list[Result]:
        """Results for a batch of records, in the same order."""
        results: list[Result | None] = [None] * len(records)
        groups: dict[tuple[str, str], list[int]] = {}
        for i, rec in enumerate(records):
            if rec.puzzle is None:
                results[i] = Result(rec.index, rec.source, rec.kind, "invalid", error=rec.error, extra=rec.extra)
                continue
            try:
                name = engines.resolve_name(self.config.model, rec.puzzle.kind, rec.puzzle)
            except engines.EngineError as exc:
                results[i] = Result(rec.index, rec.source, rec.puzzle.kind, "invalid", rec.puzzle, error=str(exc),
                                    extra=rec.extra)
                continue
            groups.setdefault((rec.puzzle.kind, name), []).append(i)
        for (kind, name), idx in groups.items():
            try:
                engine = self.engine(kind, name)
            except engines.EngineError as exc:
                for i in idx:
                    rec = records[i]
                    results[i] = Result(rec.index, rec.source, kind, "invalid", rec.puzzle, error=str(exc),
                                        extra=rec.extra)
                continue
            # a maze given with a path marked is solved from scratch
            puzzles = [records[i].puzzle.puzzle() if kind == "maze" else records[i].puzzle for i in idx]
            t0 = time.perf_counter()
            attempts = engine.solve_batch(puzzles)
            share = (time.perf_counter() - t0) / len(idx)
            for i, attempt in zip(idx, attempts):
                results[i] = self._judge(records[i], attempt, name, share)
        return results  # type: ignore[return-value]

    def _judge(self, rec: Record, attempt: engines.Attempt, name: str, seconds: float) -> Result:
        stats = dict(attempt.stats)
        seconds = stats.pop("seconds", seconds)
        puzzle = rec.puzzle.puzzle() if rec.puzzle.kind == "maze" else rec.puzzle
        res = Result(rec.index, rec.source, puzzle.kind, "abstained", puzzle, engine=name,
                     seconds=seconds, stats=stats, extra=rec.extra)
        if attempt.solution is not None:
            verdict = verify.check(puzzle, attempt.solution)
            if verdict.accepted:
                res.status, res.solution, res.verified = "solved", attempt.solution, True
                if self.config.check_unique:
                    res.unique = verify.is_unique(puzzle, attempt.solution)
            else:
                stats["rejected_by_verifier"] = verdict.reason or "invalid answer"
        elif attempt.status == "unsolvable":
            res.status = "unsolvable"
            stats["reason"] = attempt.reason
        else:
            stats.setdefault("reason", attempt.reason or "no verified answer within budget")
        return res


def _batches(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    it = iter(records)
    while batch := list(islice(it, size)):
        yield batch


_WORKER: Pipeline | None = None


def _worker_init(config: SolveConfig) -> None:
    global _WORKER
    _WORKER = Pipeline(config)


def _worker_run(batch: list[Record]) -> list[Result]:
    return _WORKER.run(batch)  # type: ignore[union-attr]


def _candidates(config: SolveConfig) -> list[str]:
    """The engines a configuration may run."""
    if config.model != "auto":
        return [config.model]
    return sorted({n for order in engines.AUTO_ORDER.values() for n in order})


def batch_size_for(config: SolveConfig, kind: str | None = None) -> int:
    if config.batch_size:
        return config.batch_size
    names = _candidates(config)
    sizes = [engines.REGISTRY[n].default_batch for n in names if n in engines.REGISTRY]
    return min(sizes) if sizes else 64


def parallel_ok(config: SolveConfig) -> bool:
    names = _candidates(config)
    return all(engines.REGISTRY[n].parallel for n in names if n in engines.REGISTRY)


def stream(records: Iterable[Record], config: SolveConfig, jobs: int = 1) -> Iterator[Result]:
    """Results in input order. With jobs > 1 (and an engine that allows it), batches
    go to worker processes; a pool is only started once there is a second batch."""
    batches = _batches(records, batch_size_for(config))
    pipeline = Pipeline(config)
    first = next(batches, None)
    if first is None:
        return
    second = next(batches, None)
    if second is None or jobs <= 1 or not parallel_ok(config):
        yield from pipeline.run(first)
        if second is not None:
            yield from pipeline.run(second)
            for batch in batches:
                yield from pipeline.run(batch)
        return
    import multiprocessing as mp

    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    with ctx.Pool(jobs, initializer=_worker_init, initargs=(config,)) as pool:
        pending: deque = deque()
        source = iter([first, second])
        for batch in (b for src in (source, batches) for b in src):
            pending.append(pool.apply_async(_worker_run, (batch,)))
            if len(pending) >= 3 * jobs:  # bounded memory: a few batches in flight
                yield from pending.popleft().get()
        while pending:
            yield from pending.popleft().get()
