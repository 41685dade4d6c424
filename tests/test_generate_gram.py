"""`rsolve generate sudoku --model gram` and api.sample_sudoku_grids: grids sampled from a
GRAM generator, checked by the verifier, invalid ones dropped and counted, the valid share
on stderr, --puzzles digging, and the usage errors.

A generator trained for 3 steps makes (almost) only invalid grids, so the paths that need
valid ones run on a stand-in sampler that yields known grids with the verifier's verdict."""

import json
import re
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from rsolve import api
from rsolve.cli import app
from rsolve.engines import gram_sampler
from rsolve.generate import iter_sudoku
from rsolve.puzzles import Sudoku
from rsolve.puzzles.dataset import Example, load_examples, write_examples
from rsolve.train import loop
from rsolve.train.gram_config import GRAMTrainConfig
from rsolve.verify import check
from rsolve.verify.sudoku import sat_for

TINY = dict(dim=16, heads=2, h_layers=1, l_layers=1, ffn_multiple=16, h_cycles=1, l_cycles=1, prefix_len=1)
SHIPPED_TRM = Path(__file__).resolve().parents[1] / "checkpoints" / "trm-sudoku"
SUMMARY = re.compile(r"rsolve: (\d+) of (\d+) sampled grids valid \((\d+\.\d)%\), (\d+) distinct"
                     r"(?:; (\d+) invalid grids dropped)?; (\d+\.\d) supervision steps per grid$")
BLANK = Sudoku(9, (0,) * 81)


@pytest.fixture(autouse=True)
def homes(tmp_path, monkeypatch):
    """Checkpoints and the data cache in this test's folder, never the user's."""
    monkeypatch.setenv("RSOLVE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("RSOLVE_CHECKPOINTS", raising=False)
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """{"generator": path, "solver": path}: tiny GRAM checkpoints, 3 steps each, in one folder."""
    root = tmp_path_factory.mktemp("gram")
    data = root / "sudoku.jsonl"
    write_examples(data, [Example(p, s, r.rating) for p, s, r in iter_sudoku(seed=3, count=8)])
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RSOLVE_HOME", str(root / "home"))
        mp.setenv("XDG_CACHE_HOME", str(root / "cache"))
        for name, unconditional in (("generator", True), ("solver", False)):
            out[name] = loop.train(GRAMTrainConfig(
                kind="sudoku", unconditional=unconditional, data=str(data), out=str(root / "ckpts" / name),
                batch=4, max_steps=3, minutes=1e6, val_every=1e6, max_steps_per_puzzle=2, precision="fp32",
                compile=False, val_limit=4, overrides=TINY))
    return {k: str(v) for k, v in out.items()}


def run(*args):
    res = CliRunner().invoke(app, ["generate", "sudoku", *map(str, args)])
    return res.exit_code, res.stdout, res.stderr


def summary(stderr: str):
    lines = stderr.strip().splitlines()
    match = SUMMARY.match(lines[-1]) if lines else None
    assert match, stderr
    valid, sampled, pct, distinct, dropped, steps = match.groups()
    return int(valid), int(sampled), float(pct), int(distinct), int(dropped or 0), float(steps)


# ------------------------------------------------------------------ a stand-in sampler with valid grids


def _broken(grid: Sudoku) -> Sudoku:
    cells = list(grid.cells)
    cells[0], cells[1] = cells[1], cells[0]  # the row still holds 1-9; two columns no longer do
    return Sudoku(9, tuple(cells))


@pytest.fixture
def fake_sampler(monkeypatch):
    """Samples cycle through 3 solutions, one of them twice, and one broken grid; the
    verdicts are the verifier's. Records the steps asked for; the model is never loaded."""
    grids = [s for _, s, _ in iter_sudoku(seed=11, count=3)]
    cycle = [grids[0], grids[1], _broken(grids[0]), grids[2], grids[1]]
    asked = {}

    def sample_grids(model, count, seed=0, steps=None, batch=128, stop_when_valid=True):
        asked["steps"], asked["stop_when_valid"] = steps, stop_when_valid
        for i in range(count):
            grid = cycle[i % len(cycle)]
            verdict = check(BLANK, grid)
            yield gram_sampler.Sample(i, grid, verdict.accepted, verdict.reason, steps=1 + i % 2)

    monkeypatch.setattr(gram_sampler, "load_generator", lambda checkpoint, device: (None, checkpoint))
    monkeypatch.setattr(gram_sampler, "sample_grids", sample_grids)
    return {"cycle": cycle, "asked": asked}


def test_invalid_grids_are_dropped_and_counted(fake_sampler):
    code, out, err = run("-m", "gram", "-n", 10, "--steps", 3)
    lines = out.splitlines()
    cycle = fake_sampler["cycle"]
    expected = [g.to_string() for i in range(10) if check(BLANK, g := cycle[i % 5]).accepted]
    assert code == 0 and lines == expected
    assert all(check(BLANK, Sudoku.from_string(line)).accepted for line in lines)
    assert summary(err) == (8, 10, 80.0, 3, 2, 1.5)
    assert fake_sampler["asked"] == {"steps": 3, "stop_when_valid": True}
    run("-m", "gram", "-n", 1, "--all-steps")
    assert fake_sampler["asked"] == {"steps": 16, "stop_when_valid": False}  # the paper's procedure


def test_jsonl_records_hold_the_grid_as_solution_and_a_blank_board(fake_sampler, tmp_path):
    code, out, err = run("-m", "gram", "-n", 5, "-f", "jsonl", "--seed", 4)
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(records) == summary(err)[0] == 4
    for rec in records:
        assert set(rec) == {"kind", "puzzle", "solution", "rating", "source"} and rec["kind"] == "sudoku"
        assert Sudoku.from_string(rec["puzzle"]).clues == 0
        assert check(BLANK, Sudoku.from_string(rec["solution"])).accepted
        assert rec["source"].startswith("generated:gram:seed=4:")
    assert [r["source"].rsplit(":", 1)[1] for r in records] == ["0", "1", "3", "4"]  # 2 was dropped
    path = tmp_path / "grids.jsonl"
    code, out, _ = run("-m", "gram", "-n", 5, "--seed", 4, "-o", path)
    assert code == 0 and out == ""
    assert [ex.solution.to_string() for ex in load_examples(str(path))] == [r["solution"] for r in records]


def _assert_minimal_unique_puzzle(puzzle: Sudoku, grid: Sudoku):
    sat = sat_for(9)
    assert all(v in (0, g) for v, g in zip(puzzle.cells, grid.cells))
    assert sat.count(puzzle, 2) == 1 and sat.solve(puzzle) == grid
    for i, v in enumerate(puzzle.cells):  # _dig tries every cell once, so each remaining clue is needed
        if v:
            assert sat.count(Sudoku(9, puzzle.cells[:i] + (0,) + puzzle.cells[i + 1:]), 2) == 2


def test_puzzles_through_the_api_have_the_grid_as_only_solution(fake_sampler):
    samples = list(api.sample_sudoku_grids(5, seed=1, puzzles=True))
    assert [s.index for s in samples] == list(range(5))
    for s in samples:
        if not s.valid:
            assert s.puzzle is None and s.reason
            continue
        assert 17 <= s.puzzle.clues < 81
        _assert_minimal_unique_puzzle(s.puzzle, s.grid)
    again = [s.puzzle for s in api.sample_sudoku_grids(5, seed=1, puzzles=True)]
    other = [s.puzzle for s in api.sample_sudoku_grids(5, seed=2, puzzles=True)]
    assert again == [s.puzzle for s in samples] and other != again
    # the same grid twice in one stream is dug in its own order each time
    assert samples[1].grid == samples[4].grid and samples[1].puzzle != samples[4].puzzle
    assert all(s.puzzle is None for s in api.sample_sudoku_grids(5, seed=1))


def test_puzzles_on_the_command_line(fake_sampler):
    code, out, err = run("-m", "gram", "-n", 5, "--puzzles", "-f", "jsonl", "--seed", 1)
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(records) == summary(err)[0] == 4
    for rec in records:
        _assert_minimal_unique_puzzle(Sudoku.from_string(rec["puzzle"]), Sudoku.from_string(rec["solution"]))
    code, text, _ = run("-m", "gram", "-n", 5, "--puzzles", "--seed", 1)
    assert code == 0 and text.splitlines() == [r["puzzle"] for r in records]


# ------------------------------------------------------------------ the real (tiny) generator


def test_valid_share_matches_the_verifier_on_every_sample(trained):
    code, out, err = run("-m", "gram", "-c", trained["generator"], "-n", 6, "--seed", 3, "--steps", 2,
                         "--device", "cpu")
    samples = list(api.sample_sudoku_grids(6, trained["generator"], seed=3, steps=2, device="cpu"))
    verdicts = [check(BLANK, s.grid).accepted for s in samples]
    valid = [s.grid.to_string() for s, ok in zip(samples, verdicts) if ok]
    assert code == 0 and out.splitlines() == valid
    assert [s.valid for s in samples] == verdicts
    assert summary(err) == (len(valid), 6, round(100 * len(valid) / 6, 1), len(set(valid)), 6 - len(valid),
                            round(sum(s.steps for s in samples) / 6, 1))


def test_same_seed_same_grids(trained):
    def grids(seed):
        return [s.grid for s in api.sample_sudoku_grids(4, trained["generator"], seed=seed, steps=2, device="cpu")]

    assert grids(5) == grids(5) and grids(5) != grids(6)
    first = run("-m", "gram", "-c", trained["generator"], "-n", 4, "--seed", 5, "--steps", 2, "-f", "jsonl")
    assert first == run("-m", "gram", "-c", trained["generator"], "-n", 4, "--seed", 5, "--steps", 2, "-f", "jsonl")


def test_the_installed_generator_is_the_default(trained, monkeypatch):
    monkeypatch.setenv("RSOLVE_CHECKPOINTS", str(Path(trained["generator"]).parent))  # the solver is there too
    code, _, err = run("-m", "gram", "-n", 2, "--steps", 1)
    assert code == 0 and summary(err)[1] == 2
    code, _, err = run("-m", "gram", "-c", "generator", "-n", 2, "--steps", 1)  # by name
    assert code == 0 and summary(err)[1] == 2


def test_solver_checkpoints_are_refused(trained):
    code, out, err = run("-m", "gram", "-c", trained["solver"], "-n", 2)
    assert code == 2 and out == "" and len(err.splitlines()) == 1 and "not a generator" in err
    if SHIPPED_TRM.is_dir():
        code, out, err = run("-m", "gram", "-c", SHIPPED_TRM, "-n", 2)
        assert code == 2 and out == "" and len(err.splitlines()) == 1 and "'trm'" in err


@pytest.mark.parametrize("args, words", [
    (["-m", "gram", "--min-rating", "3"], ["--min-rating", "only for --model random"]),
    (["-m", "gram", "--size", "9", "--max-tries", "5"], ["--size", "--max-tries"]),
    (["--puzzles"], ["--puzzles", "only for --model gram"]),
    (["-c", "somewhere"], ["--checkpoint", "only for --model gram"]),
    (["-m", "random", "--steps", "4", "--device", "cpu"], ["--steps", "--device"]),
    (["-m", "diffusion"], ["unknown model", "random, gram"]),
    (["-m", "gram", "-f", "csv"], ["unknown format"]),
    (["-m", "gram", "-c", "/no/such/checkpoint"], ["/no/such/checkpoint"]),
    (["-m", "gram"], ["no GRAM Sudoku generator is installed"]),
])
def test_usage_errors_exit_2_before_any_sampling(args, words, monkeypatch, tmp_path):
    from rsolve import checkpoints

    monkeypatch.setattr(checkpoints, "shipped_dir", lambda: tmp_path / "none shipped")  # rsolve ships one
    sampled = []
    monkeypatch.setattr(gram_sampler, "sample_grids", lambda *a, **k: sampled.append(1) or iter(()))
    code, out, err = run(*args)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert all(w in err for w in words), err
    assert not sampled


def test_symbolic_generator_is_unchanged_without_model():
    code, out, _ = run("-n", 2, "--seed", 7)
    assert code == 0 and out.splitlines() == [p.to_string() for p, _, _ in iter_sudoku(7, 2)]
    assert run("-n", 2, "--seed", 7, "-m", "random") == (code, out, "")


# ------------------------------------------------------------------ stopping a sample once its grid is valid


class ValidAfterRowSteps(torch.nn.Module):
    """Stand-in generator: row r of a batch decodes to a broken grid until its (r + 1)th
    supervision step, then to a solution. Records the rows of every pass."""

    def __init__(self, solution: Sudoku):
        super().__init__()
        self.cfg = type("Cfg", (), {"seq_len": 81})()
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # the sampler reads the device off it
        self.good, self.bad = (torch.tensor(g.cells) for g in (solution, _broken(solution)))
        self.rows_per_pass = []

    def initial_carry(self, batch):
        return torch.zeros(batch), torch.arange(batch)  # (steps done, row in the batch)

    def forward(self, carry, tokens, noise=None):
        done, row = carry
        done = done + 1
        self.rows_per_pass.append(len(row))
        cells = torch.where((done > row)[:, None], self.good, self.bad)  # step row+1 onward: valid
        logits = torch.nn.functional.one_hot(cells + 1, 11).float()  # digit d at logit index d + 1
        return type("Out", (), {"carry": (done, row), "logits": logits})()


def test_a_sample_stops_at_its_first_valid_grid_and_leaves_the_batch():
    solution = next(iter_sudoku(seed=11, count=1))[1]
    model = ValidAfterRowSteps(solution)
    samples = list(gram_sampler.sample_grids(model, 6, steps=4))
    assert [s.index for s in samples] == list(range(6))
    assert [s.valid for s in samples] == [True] * 4 + [False] * 2
    assert [s.steps for s in samples] == [1, 2, 3, 4, 4, 4]
    assert model.rows_per_pass == [6, 5, 4, 3]  # each valid row stopped costing passes
    assert all(s.grid == solution for s in samples[:4]) and samples[4].reason

    model = ValidAfterRowSteps(solution)
    full = list(gram_sampler.sample_grids(model, 6, steps=4, stop_when_valid=False))
    assert model.rows_per_pass == [6] * 4 and [s.steps for s in full] == [4] * 6
    assert [s.valid for s in full] == [s.valid for s in samples]
