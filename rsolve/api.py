"""The public Python API: solve, verify, generate, evaluate. The CLI is a thin layer over it.

    >>> from rsolve import api
    >>> api.solve("1.3.....2..4.1..", model="sat")[0].solution.to_string()  # a 4x4 Sudoku
    '1234341221434321'
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from typing import BinaryIO, Iterable, Iterator

from . import verify as _verify
from .pipeline import Result, SolveConfig, stream
from .puzzles import Maze, PuzzleError, Record, Sudoku, read_records


def _records(puzzles, kind: str | None) -> Iterator[Record]:
    """Records from text, a puzzle object, or an iterable of either."""
    if isinstance(puzzles, (str, bytes)):
        data = puzzles.encode() if isinstance(puzzles, str) else puzzles
        yield from read_records([("<text>", io.BytesIO(data))], kind)
        return
    if isinstance(puzzles, (Sudoku, Maze)):
        puzzles = [puzzles]
    index = 0
    for item in puzzles:
        if isinstance(item, (Sudoku, Maze)):
            yield Record(index, f"<item>:{index + 1}", item)
            index += 1
        else:
            for rec in read_records([(f"<item {index + 1}>", io.BytesIO(str(item).encode()))], kind):
                rec.index = index
                index += 1
                yield rec


def solve_iter(puzzles, model: str = "auto", *, kind: str | None = None, jobs: int = 1,
               **config) -> Iterator[Result]:
    """Stream verified results, one per input record, in input order.

    `puzzles`: text in any format rsolve reads, a Sudoku/Maze, or an iterable of them.
    `config`: checkpoint, device, seed, batch_size, check_unique, options (see SolveConfig).
    """
    yield from stream(_records(puzzles, kind), SolveConfig(model=model, **config), jobs=jobs)


def solve(puzzles, model: str = "auto", **kwargs) -> list[Result]:
    """Like solve_iter, as a list."""
    return list(solve_iter(puzzles, model, **kwargs))


def solve_sources(sources: list[tuple[str, BinaryIO]], config: SolveConfig, kind: str | None = None,
                  jobs: int = 1) -> Iterator[Result]:
    """Results for named binary streams (what the CLI reads)."""
    yield from stream(read_records(sources, kind), config, jobs=jobs)


def verify(puzzle, answer) -> _verify.Verdict:
    """Check an answer against its puzzle with the symbolic verifier."""
    return _verify.check(puzzle, answer)


@dataclass
class Check:
    """`rsolve verify`'s finding for one record. valid is None when there was no answer."""

    index: int
    source: str
    kind: str | None
    valid: bool | None
    optimal: bool | None = None
    reason: str | None = None
    malformed: bool = False

    def to_dict(self) -> dict:
        return {"index": self.index, "source": self.source, "kind": self.kind, "valid": self.valid,
                "optimal": self.optimal, "reason": self.reason, "malformed": self.malformed}


def _answer_of(rec: Record):
    """(puzzle, answer) of a record to verify; answer None when it carries none."""
    p = rec.puzzle
    text = rec.extra.get("solution")
    if text is not None and not isinstance(text, str):  # JSON gives numbers, lists, ... too
        raise PuzzleError(f"'solution' must be a string, got {type(text).__name__}")
    if isinstance(p, Maze):
        if text is not None:
            return p.puzzle(), Maze.from_rows(text.split("\n"))
        return p.puzzle(), (p if p.path_cells() else None)
    if text is not None:
        return p, Sudoku.from_string(text, p.side)
    return (p, p) if p.is_complete() else (p, None)


def check_records(records: Iterable[Record]) -> Iterator[Check]:
    """Re-check puzzle/answer pairs: JSONL from `rsolve solve`, `puzzle:solution`
    lines, complete grids, or mazes with the path marked."""
    for rec in records:
        if rec.puzzle is None:
            yield Check(rec.index, rec.source, rec.kind, None, reason=rec.error, malformed=True)
            continue
        try:
            puzzle, answer = _answer_of(rec)
        except PuzzleError as exc:
            yield Check(rec.index, rec.source, rec.kind, False, reason=f"answer is malformed: {exc}")
            continue
        if answer is None:
            status = rec.extra.get("status")
            yield Check(rec.index, rec.source, rec.kind, None,
                        reason="no answer to check" + (f" (status {status})" if isinstance(status, str) else ""))
            continue
        v = _verify.check(puzzle, answer)
        yield Check(rec.index, rec.source, rec.kind, v.ok, v.optimal, v.reason)


def generate_sudoku(count: int, seed: int = 0, **filters):
    """(puzzle, solution, rating) triples with exactly one solution each."""
    from .generate import iter_sudoku

    return iter_sudoku(seed, count, **filters)


def generate_maze(count: int, seed: int = 0, **options):
    """(puzzle, solution) pairs of Maze-Hard-style mazes."""
    from .generate import iter_maze

    return iter_maze(seed, count, **options)


@dataclass
class SampledGrid:
    """One grid from a GRAM generator with the verifier's verdict (reason: why not valid).
    `puzzle` (puzzles=True, valid grids only) is a puzzle whose only solution is the grid."""

    index: int
    grid: Sudoku
    valid: bool
    reason: str | None = None
    puzzle: Sudoku | None = None
    steps: int = 0  # supervision steps it took


def sample_sudoku_grids(count: int, checkpoint: str | None = None, seed: int = 0, steps: int | None = None,
                        device: str | None = "auto", puzzles: bool = False,
                        batch: int = 128, all_steps: bool = False) -> Iterator[SampledGrid]:
    """`count` complete 9x9 grids sampled from a GRAM generator checkpoint (folder or name;
    default: the installed one), in order, invalid ones included. `steps`: supervision steps
    per sample at most (default 16); a sample ends at the first step whose grid the verifier
    accepts, unless `all_steps` (the paper's procedure: every sample all steps). Grid i and
    the order its puzzle is dug in depend only on (seed, i). The generator loads before this returns: an EngineError names what is wrong."""
    from .engines.gram_sampler import load_generator

    model, _ = load_generator(checkpoint, device)
    return _sampled(model, count, seed, steps, puzzles, batch, all_steps)


def _sampled(model, count: int, seed: int, steps: int | None, puzzles: bool, batch: int,
             all_steps: bool) -> Iterator[SampledGrid]:
    import random

    from .engines.gram_sampler import sample_grids
    from .generate import dig_sudoku

    for s in sample_grids(model, count, seed=seed, steps=steps, batch=batch, stop_when_valid=not all_steps):
        puzzle = dig_sudoku(random.Random(seed * 1_000_003 + s.index), s.grid) if puzzles and s.valid else None
        yield SampledGrid(s.index, s.grid, s.valid, s.reason, puzzle, s.steps)


@dataclass
class EvalReport:
    model: str
    total: int = 0
    solved: int = 0
    wrong: int = 0  # the engine proposed an answer the verifier rejected
    abstained: int = 0
    unsolvable: int = 0
    invalid: int = 0
    labelled: int = 0
    label_match: int = 0
    seconds: float = 0.0
    stats: dict = field(default_factory=dict)  # sums of numeric engine stats
    reported: int = 0  # puzzles whose engine said which selection rules' picks pass (ptrm -O report=true)
    picks: dict = field(default_factory=dict)  # rule (and "pass", any rollout accepted) -> puzzles accepted

    def pct(self, n: int, of: int | None = None) -> float:
        of = self.total if of is None else of
        return 100.0 * n / of if of else 0.0

    @property
    def per_second(self) -> float:
        return self.total / self.seconds if self.seconds else 0.0

    def add_picks(self, stats: dict) -> None:
        """Count a puzzle's per-rule verdicts, when its engine recorded them."""
        picks = stats.get("picks")
        if not isinstance(picks, dict):
            return
        self.reported += 1
        for rule, ok in {"pass": stats.get("pass"), **picks}.items():
            self.picks[rule] = self.picks.get(rule, 0) + bool(ok)

    def picks_pct(self) -> dict | None:
        """Per rule, % of puzzles whose pick the verifier accepts (pass: any rollout's answer)."""
        return {rule: self.pct(n) for rule, n in self.picks.items()} if self.reported else None

    def mean_stats(self) -> dict:
        return {k: v / self.total for k, v in self.stats.items()} if self.total else {}

    def to_dict(self) -> dict:
        return {"model": self.model, "puzzles": self.total, "solved_pct": self.pct(self.solved),
                "wrong_pct": self.pct(self.wrong), "abstained_pct": self.pct(self.abstained),
                "unsolvable_pct": self.pct(self.unsolvable), "invalid_pct": self.pct(self.invalid),
                "label_match_pct": self.pct(self.label_match, self.labelled) if self.labelled else None,
                "puzzles_per_s": self.per_second, "mean_stats": self.mean_stats(), "picks_pct": self.picks_pct()}


def _label_match(result: Result, label) -> bool:
    if result.solution is None or label is None:
        return False
    if isinstance(label, Maze):
        return result.solution.path_cells() == label.path_cells()
    return result.solution.cells == label.cells


def evaluate(examples, models: list[str], *, jobs: int = 1, on_result=None, **config) -> list[EvalReport]:
    """Run each model over labelled examples (rsolve.puzzles.dataset.Example) and score it.
    `on_result(model, result, label_match)` is called per puzzle (for per-puzzle output)."""
    examples = list(examples)
    reports = []
    for model in models:
        report = EvalReport(model)
        records = (Record(i, ex.source, ex.puzzle) for i, ex in enumerate(examples))
        t0 = time.perf_counter()
        for res in stream(records, SolveConfig(model=model, **config), jobs=jobs):
            label = examples[res.index].solution
            match = _label_match(res, label)
            report.total += 1
            setattr(report, res.status, getattr(report, res.status) + 1)
            report.wrong += "rejected_by_verifier" in res.stats
            report.labelled += label is not None
            report.label_match += match
            report.add_picks(res.stats)
            for k, v in res.stats.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    report.stats[k] = report.stats.get(k, 0) + v
            if on_result:
                on_result(model, res, match if label is not None else None)
        report.seconds = time.perf_counter() - t0
        reports.append(report)
    return reports
