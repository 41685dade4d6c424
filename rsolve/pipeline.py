"""From records to verified results: the one road every answer takes.

`Pipeline.run` hands valid puzzles to their engine in batches, then passes every
proposed solution through the symbolic verifier. Only an accepted answer becomes
`solved`; a rejected one becomes `abstained` with the verifier's reason in
`stats`. `stream` does the same over an unbounded iterator, optionally in worker
processes for engines that allow it, yielding results in input order with a
bounded number of batches in flight; a batch that cannot fill because the input
paused goes out as it is (rsolve.batching). Engines with sessions (`ldt`) get
continuous batching instead: a record joins the running batch as soon as a slot
is free, and results are put back in input order before they are yielded.
"""

from __future__ import annotations

import itertools
import queue
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from . import engines, verify
from .batching import STALL_SECONDS, Feed, batches
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
    seconds: float = 0.0  # this record's own time in the engine and the verifier
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
    options: dict = field(default_factory=dict)  # user values; each engine gets the ones it declares


class Pipeline:
    """Engines for one configuration, created on first use per puzzle kind."""

    def __init__(self, config: SolveConfig):
        self.config = config
        self._engines: dict[tuple[str, str], object] = {}

    def engine(self, kind: str, name: str):
        if (kind, name) not in self._engines:
            c = self.config
            self._engines[(kind, name)] = engines.create(name, kind, checkpoint=c.checkpoint, device=c.device,
                                                         seed=c.seed, options=engines.declared(name, c.options))
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
                results[i] = _invalid(rec, rec.puzzle.kind, str(exc))
                continue
            groups.setdefault((rec.puzzle.kind, name), []).append(i)
        for (kind, name), idx in groups.items():
            for i, res in zip(idx, self._run_group(kind, name, [records[i] for i in idx])):
                results[i] = res
        return results  # type: ignore[return-value]

    def _run_group(self, kind: str, name: str, records: list[Record]) -> list[Result]:
        try:
            engine = self.engine(kind, name)
        except engines.EngineError as exc:
            return [_invalid(rec, kind, str(exc)) for rec in records]
        # a maze given with a path marked is solved from scratch
        puzzles = [rec.puzzle.puzzle() if kind == "maze" else rec.puzzle for rec in records]
        attempts, seconds = _timed(engine, puzzles, engines.REGISTRY[name].parallel)
        return [self._judge(rec, attempt, name, spent) for rec, attempt, spent in zip(records, attempts, seconds)]

    def _judge(self, rec: Record, attempt: engines.Attempt, name: str, seconds: float) -> Result:
        t0 = time.perf_counter()
        stats = dict(attempt.stats)
        stats.pop("seconds", None)
        puzzle = rec.puzzle.puzzle() if rec.puzzle.kind == "maze" else rec.puzzle
        res = Result(rec.index, rec.source, puzzle.kind, "abstained", puzzle, engine=name, stats=stats,
                     extra=rec.extra)
        if attempt.solution is not None:
            verdict = verify.check(puzzle, attempt.solution)
            if verdict.accepted:
                res.status, res.solution, res.verified = "solved", attempt.solution, True
                if self.config.check_unique:
                    res.unique = verify.is_unique(puzzle, attempt.solution)
            else:  # the engine's fault, not the puzzle's
                stats["rejected_by_verifier"] = f"model answer rejected: {verdict.reason or 'invalid answer'}"
        elif attempt.status == "unsolvable":
            res.status = "unsolvable"
            stats["reason"] = attempt.reason
        else:
            stats.setdefault("reason", attempt.reason or "no verified answer within budget")
        res.seconds = seconds + time.perf_counter() - t0
        return res


def _invalid(rec: Record, kind: str | None, error: str) -> Result:
    return Result(rec.index, rec.source, kind, "invalid", rec.puzzle, error=error, extra=rec.extra)


def _timed(engine, puzzles: list, one_by_one: bool) -> tuple[list[engines.Attempt], list[float]]:
    """The engine's attempts and each puzzle's own seconds: exact engines are timed puzzle by
    puzzle; batched engines say each puzzle's share in stats["seconds"] (else the mean)."""
    if one_by_one:
        attempts, seconds = [], []
        for p in puzzles:
            t0 = time.perf_counter()
            attempts += engine.solve_batch([p])
            seconds.append(time.perf_counter() - t0)
        return attempts, seconds
    t0 = time.perf_counter()
    attempts = engine.solve_batch(puzzles)
    mean = (time.perf_counter() - t0) / max(1, len(puzzles))
    return attempts, [float(a.stats.get("seconds", mean)) for a in attempts]


_WORKER: Pipeline | None = None


def _worker_init(config: SolveConfig) -> None:
    global _WORKER
    # Ctrl-C reaches the whole process group: the parent alone handles it and stops the pool
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER = Pipeline(config)


def _worker_run(batch: list[Record]) -> list[Result]:
    return _WORKER.run(batch)  # type: ignore[union-attr]


def batch_size_for(config: SolveConfig) -> int:
    if config.batch_size:
        return config.batch_size
    sizes = [engines.REGISTRY[n].default_batch for n in engines.candidates(config.model)]
    return min(sizes) if sizes else 64


def parallel_ok(config: SolveConfig) -> bool:
    return all(engines.REGISTRY[n].parallel for n in engines.candidates(config.model))


def continuous_ok(config: SolveConfig) -> bool:
    return any(engines.REGISTRY[n].continuous for n in engines.candidates(config.model))


def stream(records: Iterable[Record], config: SolveConfig, jobs: int = 1) -> Iterator[Result]:
    """Results in input order. With jobs > 1 (and engines that allow it), batches go to
    worker processes; a pool is only started once there is a second batch. Raises
    EngineError up front for an option no engine of the configuration declares."""
    engines.route_options([config.model], config.options)
    if not (jobs > 1 and parallel_ok(config)) and continuous_ok(config):
        yield from Continuous(config).run(records)
        return
    chunks = batches(records, batch_size_for(config))
    pipeline = Pipeline(config)
    first = next(chunks, None)
    if first is None:
        return
    yield from pipeline.run(first)
    second = next(chunks, None)
    if second is None:
        return
    if jobs <= 1 or not parallel_ok(config):
        yield from pipeline.run(second)
        for chunk in chunks:
            yield from pipeline.run(chunk)
        return
    yield from _in_workers([second], chunks, config, jobs)


def _in_workers(head: list, chunks: Iterator[list[Record]], config: SolveConfig, jobs: int) -> Iterator[Result]:
    import multiprocessing as mp

    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    with ctx.Pool(jobs, initializer=_worker_init, initargs=(config,)) as pool:
        pending: deque = deque()
        for chunk in (c for source in (head, chunks) for c in source):
            pending.append(pool.apply_async(_worker_run, (chunk,)))
            while pending and (len(pending) >= 3 * jobs or pending[0].ready()):  # bounded: a few in flight
                yield from pending.popleft().get()
        while pending:
            yield from pending.popleft().get()


class Continuous:
    """One process, continuous batching: records go to engine sessions while they have
    free slots (other engines' records gather into batches as usual), every session
    plays a round, finished records are judged, and results leave in input order.
    Memory stays bounded: at most `size` records in sessions, and reading pauses while
    more than HOLD x size results wait behind a slow one."""

    HOLD = 8

    def __init__(self, config: SolveConfig):
        self.pipeline, self.size = Pipeline(config), batch_size_for(config)
        self.sessions: dict = {}  # (kind, name) -> engine session
        self.inside: dict = {}  # seq -> (record, engine name) of records in sessions
        self.joining: dict = {}  # (kind, name) -> [(seq, puzzle)] read since the last step
        self.waiting: dict = {}  # (kind, name) -> [(seq, record)] for engines without sessions
        self.done: dict = {}  # seq -> Result, until its turn

    def run(self, records: Iterable[Record]) -> Iterator[Result]:
        feed, order, turn, ended = Feed(records, self.size), itertools.count(), 0, False
        while not ended or self.inside or self.waiting:
            while not ended and len(self.inside) < self.size and len(self.done) < self.HOLD * self.size:
                busy = bool(self.inside)
                try:  # wait only when nothing else can move; short waits keep Ctrl-C responsive
                    rec = feed.get(0 if busy else (STALL_SECONDS if self.waiting else 0.5))
                except queue.Empty:
                    if not busy and self.waiting:
                        self._flush()  # the input paused: run what has gathered
                    if not busy:
                        continue
                    break
                if rec is Feed.END:
                    ended = True
                    break
                self._take(next(order), rec)
            if ended or len(self.done) >= self.HOLD * self.size:
                self._flush()
            self._step()
            while turn in self.done:
                yield self.done.pop(turn)
                turn += 1

    def _take(self, seq: int, rec: Record) -> None:
        if rec.puzzle is None:
            self.done[seq] = Result(rec.index, rec.source, rec.kind, "invalid", error=rec.error, extra=rec.extra)
            return
        kind = rec.puzzle.kind
        try:
            name = engines.resolve_name(self.pipeline.config.model, kind, rec.puzzle)
            if not engines.REGISTRY[name].continuous:
                group = self.waiting.setdefault((kind, name), [])
                group.append((seq, rec))
                if len(group) >= self.size:
                    self._flush((kind, name))
                return
            session = self.sessions.get((kind, name))
            if session is None:
                session = self.sessions[(kind, name)] = self.pipeline.engine(kind, name).session(self.size)
        except engines.EngineError as exc:
            self.done[seq] = _invalid(rec, kind, str(exc))
            return
        self.inside[seq] = (rec, name)  # joins at the next step, with the others read meanwhile
        self.joining.setdefault((kind, name), []).append((seq, rec.puzzle.puzzle() if kind == "maze" else rec.puzzle))

    def _flush(self, key=None) -> None:
        for group_key in [key] if key else list(self.waiting):
            group = self.waiting.pop(group_key, [])
            if group:
                results = self.pipeline._run_group(*group_key, [rec for _, rec in group])
                self.done.update((seq, res) for (seq, _), res in zip(group, results))

    def _step(self) -> None:
        for key, items in self.joining.items():
            self.sessions[key].add(items)  # one encode and closure for all of them
        self.joining.clear()
        for session in self.sessions.values():
            if session.busy():
                for seq, attempt in session.step():
                    rec, name = self.inside.pop(seq)
                    self.done[seq] = self.pipeline._judge(rec, attempt, name, float(attempt.stats.get("seconds", 0.0)))
