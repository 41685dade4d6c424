"""Continuous batching: puzzles join a running LDT search as slots free up and leave as
soon as they finish; a stream's results still come out in input order, the same as a
batch's, and no more puzzles are inside the engine than it has slots."""

import random

import pytest

from rsolve import engines, pipeline
from rsolve.generate import generate_maze, iter_sudoku
from rsolve.engines.ldt import Session
from rsolve.puzzles import Record, Sudoku

HARD = "8..........36......7..9.2...5...7.......457.....1...3...1....68..85...1..9....4.."  # needs search
NO_SOLUTION = "12345678." + "........9" + "." * 63


def _records(puzzles):
    return [Record(i, f"test#{i}", p) for i, p in enumerate(puzzles)]


@pytest.fixture(scope="module")
def engine():
    return engines.create("ldt", "sudoku", seed=0, walk=1)  # one branch per round: HARD takes many


def test_a_hard_puzzle_does_not_hold_up_the_easy_ones(engine):
    easy = [p for p, _, _ in iter_sudoku(seed=2, count=4)]
    session = engine.session(2)
    session.add([("hard", Sudoku.from_string(HARD)), ("easy0", easy[0])])
    queue, finished, most = [(f"easy{i}", p) for i, p in enumerate(easy[1:], 1)], [], 0
    while session.busy() or queue:
        while queue and session.busy() < 2:
            session.add([queue.pop(0)])
        most = max(most, session.busy())
        finished += [key for key, attempt in session.step() if attempt.status == "found"]
    assert most == 2 and sorted(finished) == ["easy0", "easy1", "easy2", "easy3", "hard"]
    assert finished[-1] == "hard"  # the easy ones went through the other slot meanwhile


def test_a_stream_gives_the_batch_results_in_input_order(monkeypatch):
    puzzles = [p for p, _, _ in iter_sudoku(seed=5, count=6)]
    puzzles.insert(2, Sudoku.from_string(HARD))
    puzzles.insert(4, Sudoku.from_string(NO_SOLUTION))
    mazes = [generate_maze(random.Random(7), 8, 8, min_path=8)[0] for _ in range(2)]
    records = _records(puzzles[:3] + mazes[:1] + puzzles[3:] + mazes[1:])
    records.insert(5, Record(99, "test#bad", None, error="bad input"))
    config = pipeline.SolveConfig(model="ldt", batch_size=3)
    inside = []
    add = Session.add
    monkeypatch.setattr(Session, "add",
                        lambda self, items: (add(self, items), inside.append(self.busy()))[0])
    streamed = list(pipeline.stream(iter(records), config))
    batched = pipeline.Pipeline(config).run(records)
    assert [r.index for r in streamed] == [r.index for r in records]
    assert [(r.status, r.solution) for r in streamed] == [(r.status, r.solution) for r in batched]
    assert {r.status for r in streamed} == {"solved", "unsolvable", "invalid"}
    assert max(inside) <= 3  # never more puzzles inside a session than the batch size
