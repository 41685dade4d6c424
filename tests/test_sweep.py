"""Test-time-scaling sweeps (`rsolve eval --sweep`, rsolve.sweep): the shipped TRM checkpoint
under ptrm on five generated puzzles with K and steps of 1-2, so the whole file takes seconds."""

import json
import sys

import pytest
import torch
from typer.testing import CliRunner

from rsolve import sweep
from rsolve.cli import app
from rsolve.generate import iter_sudoku
from rsolve.puzzles.dataset import Example, write_examples

torch.set_num_threads(1)
RULES = {"q", "vote", "converge", "verify"}  # ptrm's selection rules


def run(*args):
    res = CliRunner().invoke(app, [str(a) for a in args])
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.stdout, res.stderr


@pytest.fixture(scope="module")
def examples():
    return [Example(p, s, r.rating) for p, s, r in iter_sudoku(seed=1, count=5)]


@pytest.fixture(scope="module")
def dataset(examples, tmp_path_factory):
    path = tmp_path_factory.mktemp("sweep") / "easy.jsonl"
    write_examples(path, examples)
    return path


@pytest.fixture(scope="module")
def k_rows(examples):
    return sweep.run_sweep(examples, ["ptrm"], sweep.parse_sweep("samples=1,2"), options={"steps": "2"},
                           device="cpu")


def test_samples_sweep_rows_agree_with_how_the_rules_are_built(k_rows):
    assert [(r.model, r.key, r.value, r.puzzles) for r in k_rows] == [("ptrm", "samples", 1, 5),
                                                                      ("ptrm", "samples", 2, 5)]
    for r in k_rows:
        assert set(r.rules) == RULES  # report=true was set: every rule measured in the one run
        assert r.rollouts == r.value  # report=true starts every rollout of every puzzle
        assert r.rules["verify"] == r.pass_pct  # verify's pick is accepted exactly when some rollout's is
        assert all(pct <= r.pass_pct for pct in r.rules.values())  # a rule's accepted pick is a passing rollout
        assert r.solved_pct == r.rules["verify"]  # select=verify (the default) answers with that pick
        assert r.wrong_pct == 0 and r.wrong_solved == 0
        assert r.seconds > 0
    # rollout k's noise depends on (seed, puzzle, k) only: K=2 keeps K=1's rollout and adds one
    assert k_rows[1].pass_pct >= k_rows[0].pass_pct


def test_swept_option_and_report_reach_only_the_models_that_declare_them(dataset):
    code, out, err = run("eval", dataset, "-m", "ptrm,trm", "--sweep", "steps=1,2", "-O", "samples=2",
                         "-f", "jsonl", "--device", "cpu")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["model"], r["value"]) for r in rows] == [("ptrm", 1), ("ptrm", 2), ("trm", 1), ("trm", 2)]
    for r in rows[:2]:
        assert r["rollouts"] == 2 and set(r["rules"]) == RULES and r["pass_pct"] == r["rules"]["verify"]
    for r in rows[2:]:  # trm takes steps but neither samples nor report
        assert r["rollouts"] is None and r["rules"] == {} and r["pass_pct"] is None
        assert r["solved_pct"] + r["wrong_pct"] <= 100


def test_table_has_a_row_per_value_and_the_plot_is_a_real_png(dataset, tmp_path):
    import matplotlib.image

    png = tmp_path / "sweep.png"
    code, out, err = run("eval", dataset, "-m", "ptrm", "--sweep", "samples=1,2", "-O", "steps=2",
                         "--plot", png, "--device", "cpu")
    assert code == 0, err
    header = next(line for line in out.splitlines() if "samples" in line and "converge" in line)
    assert [c.strip() for c in header.strip("┃ ").split("┃")] == ["model", "samples", "solved", "q", "vote",
                                                                "converge", "verify", "pass", "K", "s/puzzle"]
    cells = [[c.strip() for c in line.strip("│ ").split("│")] for line in out.splitlines() if line.startswith("│")]
    assert [(c[0], c[1], c[-2]) for c in cells] == [("ptrm", "1", "1"), ("ptrm", "2", "2")]
    assert "second verifier check rejects: 0" in out
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1024
    w, h = (int(x * sweep.PLOT_DPI) for x in sweep.PLOT_INCHES)
    assert matplotlib.image.imread(png).shape[:2] == (h, w)
    assert "plot written" in err and str(png) not in out


@pytest.mark.parametrize("args, message", [
    (["--sweep", "samples"], "expected KEY=V1,V2"),
    (["--sweep", "samples="], "no values after '='"),
    (["--sweep", "samples=1,,4"], "an empty value"),
    (["--sweep", "samples=1,0"], "samples='0' (ptrm): must be in [1, 4096]"),
    (["--sweep", "sigma=0.3,x"], "expected a number"),
    (["-m", "ptrm,sat", "--sweep", "samples=1,2"], "model 'sat' has no option 'samples'"),
    (["--sweep", "samples=1", "--sweep", "steps=1"], "one --sweep per run"),
    (["--sweep", "samples=1", "-O", "samples=2"], "give it once"),
    (["--plot", "x.png"], "give --sweep"),
    (["--sweep", "samples=1", "--plot", "/no/such/folder/x.png"], "no such folder"),
])
def test_usage_errors_are_one_line_exit_2_before_any_puzzle_is_read(args, message):
    # the dataset does not exist: had it been read first, the error would name it
    code, out, err = run("eval", "missing.jsonl", "-m", "ptrm", *args)
    assert code == 2 and out == ""
    assert err.startswith("rsolve: ") and err.count("\n") == 1 and message in err, err


def test_plot_without_matplotlib_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    code, out, err = run("eval", "missing.jsonl", "-m", "ptrm", "--sweep", "samples=1", "--plot", "x.png")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "pip install 'rsolve[plot]'" in err


def test_the_table_names_every_rule_any_row_reports():
    gram = sweep.SweepRow("gram", "samples", 4, 10, 50.0, 0.0, 0, 4.0, 0.5,
                          {"vote": 40.0, "prm": 50.0, "q": 30.0, "verify": 50.0}, 50.0)
    plain = sweep.SweepRow("trm", "samples", 4, 10, 20.0, 80.0, 0, None, 0.1)
    from rich.console import Console

    console = Console(width=100, record=True)
    console.print(sweep.sweep_table([gram, plain], "set.jsonl"))
    lines = console.export_text().splitlines()
    assert all(len(line.rstrip()) <= 100 for line in lines)
    header = next(line for line in lines if "prm" in line)
    assert [c.strip() for c in header.strip("┃ ").split("┃")] == ["model", "samples", "solved", "q", "vote",
                                                                "verify", "prm", "pass", "K", "s/puzzle"]
    trm = next(line for line in lines if line.startswith("│ trm"))
    assert [c.strip() for c in trm.strip("│ ").split("│")][3:9] == ["-"] * 6
