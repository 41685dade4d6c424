"""The LDT engine, its sotaku baseline and its trainer: soundness whatever the
network says, published model sizes, a tiny end-to-end train -> solve run."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rsolve import api, checkpoints
from rsolve.engines import EngineError, create
from rsolve.generate import iter_sudoku
from rsolve.models import ldt as ldt_model
from rsolve.models.layers import count_parameters
from rsolve.puzzles.dataset import Example, write_examples
from rsolve.train.ldt import LDTTrainConfig
from rsolve.train.ldt_loop import train

RSOLVE = str(Path(sys.executable).parent / "rsolve")
TINY = dict(dim=16, heads=2, layers=1, loops=2)
HARD = "8..........36......7..9.2...5...7.......457.....1...3...1....68..85...1..9....4.."  # needs search


def test_paper_presets_match_published_sizes():
    sudoku, maze = ldt_model.build("sudoku", "paper"), ldt_model.build("maze", "paper")
    assert count_parameters(sudoku) == 799_507 and count_parameters(maze) == 1_782_149
    assert abs(count_parameters(sudoku) / 800e3 - 1) < 0.01 and abs(count_parameters(maze) / 1.8e6 - 1) < 0.02
    keep, value, conflict = sudoku(torch.zeros(2, 81, 9), loops=3)
    assert len(keep) == 3 and keep[0].shape == (2, 81, 9) and conflict[0].shape == (2,)


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    """A 2-step training run with a tiny network (learns nothing: a near-random net)."""
    root = tmp_path_factory.mktemp("ldt")
    data = root / "train.jsonl"
    write_examples(data, [Example(p, s, r.rating) for p, s, r in iter_sudoku(seed=11, count=24)])
    cfg = LDTTrainConfig(kind="sudoku", data=str(data), out=str(root / "ckpt"), max_steps=2, batch=8,
                         val_every=1e9, overrides=TINY, command="test")
    return Path(train(cfg))


def test_training_writes_a_loadable_checkpoint_and_resumes(tiny_ckpt):
    ckpt = checkpoints.validate(tiny_ckpt, engine="ldt", kind="sudoku")
    assert ckpt.config["training"]["steps"] == 2 and ckpt.architecture["dim"] == 16
    card = ckpt.card()
    assert "Command: `test`" in card and "Wall time" in card and "Machine" in card
    metrics = (tiny_ckpt.parent / "ckpt.run" / "metrics.jsonl").read_text().splitlines()
    assert json.loads(metrics[0])["step"] == 1
    saved = {k: v for k, v in ckpt.config["training"].items() if k not in ("steps", "seconds")}
    cfg = LDTTrainConfig(**{**saved, "max_steps": 3, "resume": True})
    assert checkpoints.validate(train(cfg)).config["training"]["steps"] == 3


def test_warm_start_keeps_the_weights_and_the_history(tiny_ckpt):
    from rsolve.models import ldt as ldt_model

    ckpt = checkpoints.validate(tiny_ckpt)
    saved = {k: v for k, v in ckpt.config["training"].items() if k not in ("steps", "seconds")}
    out = tiny_ckpt.parent / "warm"
    cfg = LDTTrainConfig(**{**saved, "out": str(out), "max_steps": 1, "init": str(tiny_ckpt), "command": "again",
                            "lr": 0.0})
    warm = checkpoints.validate(train(cfg))
    assert warm.architecture == ckpt.architecture
    before, after = (checkpoints.load_state_dict(c) for c in (ckpt, warm))
    assert all(torch.equal(before[k], after[k]) for k in before)  # lr 0: the weights came through unchanged
    assert warm.config["history"]["commands"] == ckpt.config["history"]["commands"] + ["again"]
    assert "`test` then `again`" in warm.card() and "the --init checkpoint" in warm.card()
    assert ldt_model.from_config(warm.architecture) is not None
    with pytest.raises(ValueError, match="--init: .*not a checkpoint folder"):
        train(LDTTrainConfig(**{**saved, "out": str(out), "init": str(tiny_ckpt.parent / "nowhere")}))


def test_stats_and_other_shapes(tiny_ckpt):
    results = api.solve(["." * 16, HARD], model="ldt", checkpoint=str(tiny_ckpt), options={"rounds": 2000})
    assert [r.status for r in results] == ["solved", "solved"] and all(r.verified for r in results)
    four, nine = results[0].stats, results[1].stats
    assert four["network"] is False and four["passes"] == 0  # no 4x4 network: sound search only
    assert nine["network"] is True and nine["passes"] >= nine["rounds"] >= 1
    for key in ("branches", "backtracks", "restarts", "eliminated_by_network", "eliminated_by_rules", "chains"):
        assert key in nine


@pytest.mark.parametrize("rules", ["singles", "locked"])
def test_both_sudoku_rule_sets_solve(tiny_ckpt, rules):
    [r] = api.solve([HARD], model="ldt", checkpoint=str(tiny_ckpt), options={"propagate": rules, "rounds": 2000})
    assert r.status == "solved" and r.verified and r.stats["eliminated_by_rules"] > 0


def test_bad_options_and_checkpoints_are_one_line_errors(tiny_ckpt, tmp_path):
    with pytest.raises(EngineError, match="no option 'bogus'"):
        create("ldt", "sudoku", checkpoint=str(tiny_ckpt), bogus=1)
    with pytest.raises(EngineError, match="not a rule for sudoku"):
        create("ldt", "sudoku", checkpoint=str(tiny_ckpt), propagate="dead-ends")
    with pytest.raises(EngineError, match="not a rule for maze puzzles; use none, dead-ends"):
        create("ldt", "maze", checkpoint="ldt-maze", propagate="locked")
    with pytest.raises(EngineError, match="not maze"):
        create("ldt", "maze", checkpoint=str(tiny_ckpt))
    bad = tmp_path / "bad"
    subprocess.run(["cp", "-r", str(tiny_ckpt), str(bad)], check=True)
    w = bad / checkpoints.WEIGHTS
    w.write_bytes(w.read_bytes()[:-8])  # truncated
    p = subprocess.run([RSOLVE, "solve", "-m", "ldt", "-c", str(bad), "-"], input=HARD + "\n",
                       capture_output=True, text=True)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr


def test_train_command_end_to_end(tmp_path):
    data = tmp_path / "d.jsonl"
    write_examples(data, [Example(p, s, r.rating) for p, s, r in iter_sudoku(seed=12, count=12)])
    out = tmp_path / "ck"
    args = [RSOLVE, "train", "sudoku", "--data", str(data), "--out", str(out), "--steps", "2", "-b", "8",
            "--arch", "dim=16", "--arch", "heads=2", "--arch", "layers=1", "--arch", "loops=1"]
    p = subprocess.run(args, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "" and "checkpoint written" in p.stderr
    info = subprocess.run([RSOLVE, "info", str(out)], capture_output=True, text=True)
    assert info.returncode == 0 and "rsolve train sudoku" in info.stdout
    solved = subprocess.run([RSOLVE, "solve", "-m", "ldt", "-c", str(out), "-f", "jsonl", "-"],
                            input=HARD + "\n", capture_output=True, text=True)
    assert solved.returncode in (0, 1) and json.loads(solved.stdout)["status"] in ("solved", "abstained")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "sudoku", "puzzle": "123"}\n')
    p = subprocess.run([RSOLVE, "train", "sudoku", "--data", str(bad), "--out", str(tmp_path / "x")],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1
