"""The training skeleton shared by every family (rsolve.train.loop) and `rsolve train`
as typed: declared options and their checks, generated and cached data, the default
output folder, refusing to clobber a run, bitwise resume, saving on SIGINT/SIGTERM,
and every family's step kept on one device (checked on a fake CUDA device)."""

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from device_guard import FakeCuda

from rsolve import checkpoints
from rsolve.cli import app
from rsolve.cli.train import DECLARED
from rsolve.generate import iter_maze, iter_sudoku
from rsolve.puzzles.dataset import Example, write_examples
from rsolve.train import datagen, loop
from rsolve.train.config import FAMILIES, config_class, options
from rsolve.train.ldt_config import LDTTrainConfig
from rsolve.train.ldt_loop import LDT
from rsolve.train.recursive_config import RecursiveTrainConfig
from rsolve.train.recursive_loop import Recursive
from rsolve.train.gram_config import GRAMTrainConfig
from rsolve.train.gram_loop import GRAM

RSOLVE = str(Path(sys.executable).parent / "rsolve")
LDT_TINY = dict(dim=16, heads=2, layers=1, loops=1)
TRM_TINY = dict(dim=16, heads=2, layers=1, ffn_multiple=16, h_cycles=2, l_cycles=2, prefix_len=1)
GRAM_TINY = dict(dim=16, heads=2, h_layers=1, l_layers=1, ffn_multiple=16, h_cycles=2, l_cycles=1, prefix_len=1)
HRM_TINY = dict(dim=16, heads=2, h_layers=1, l_layers=1, ffn_multiple=16, h_cycles=2, l_cycles=1)
TINY_ARGS = ["--train-size", "30", "--val-size", "8", "-b", "8", "--threads", "1",
             *[a for k, v in LDT_TINY.items() for a in ("--arch", f"{k}={v}")]]


@pytest.fixture(autouse=True)
def homes(tmp_path, monkeypatch):
    """Checkpoints and the data cache in this test's folder, never the user's."""
    monkeypatch.setenv("RSOLVE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def sudoku_data(tmp_path_factory):
    path = tmp_path_factory.mktemp("train") / "sudoku.jsonl"
    write_examples(path, [Example(p, s, r.rating) for p, s, r in iter_sudoku(seed=3, count=24)])
    return path


def _train(*args):
    result = CliRunner().invoke(app, ["train", *args], env={"COLUMNS": "250"})
    return result.exit_code, result.output


# ------------------------------------------------------------------ the command line


def test_help_lists_every_declared_option_with_its_help():
    code, text = _train("sudoku", "--help")
    flat = " ".join(re.sub("[│╭╮╰╯─]", " ", text).split())  # the panel's borders cut wrapped lines
    assert code == 0
    for model in FAMILIES:
        for o in options(config_class(model)):
            assert o.flags[0].split("/")[0] in text, o.name
            assert " ".join(o.help.rstrip(".").split()[:4]) in flat, o.name
    assert "Only for --model ldt" in text and "Only for --model trm or hrm" in text


def test_options_of_another_family_are_refused():
    for name, decls in DECLARED.items():
        models = {m for m, _ in decls}
        if len(models) == len(FAMILIES):
            continue
        other = next(m for m in FAMILIES if m not in models)
        o = decls[0][1]
        value = ["--no-augment"] if o.type is bool else [o.flags[0], "1"]
        code, text = _train("sudoku", "--model", other, *value)
        assert code == 2 and "only for --model" in text and len(text.strip().splitlines()) == 1, name


def test_trainers_import_no_engine_and_train_help_needs_no_torch():
    import ast

    for f in sorted((Path(loop.__file__).parent).glob("*.py")):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            assert not any("engines" in n.split(".") for n in names), f"{f.name} imports an engine"
    code = "import sys, rsolve.cli.train; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_cuda_without_a_gpu_is_one_usage_error_before_any_work(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code, text = _train("maze", "--device", "cuda")
    assert code == 2 and "no CUDA device" in text and len(text.strip().splitlines()) == 1
    assert not (tmp_path / "cache").exists()  # nothing generated first


def test_as_typed_generates_data_trains_into_the_user_folder_and_guards_it(tmp_path):
    code, text = _train("sudoku", "--steps", "2", *TINY_ARGS)
    assert code == 0, text
    out = tmp_path / "home" / "checkpoints" / "ldt-sudoku-trained"
    assert f"training into {out}" in text and "ldt-sudoku-trained.run" in text
    assert "use it with: rsolve solve PUZZLES -m ldt --checkpoint ldt-sudoku-trained" in text
    assert checkpoints.resolve("ldt-sudoku-trained") == out  # what --checkpoint NAME finds
    cached = sorted(p.name for p in (tmp_path / "cache" / "rsolve" / "data").iterdir())
    assert cached == ["sudoku-9x9-train-n30-seed0.jsonl", "sudoku-9x9-val-n8-seed0.jsonl"]
    ckpt = checkpoints.validate(out, engine="ldt", kind="sudoku")
    config, card = ckpt.config, ckpt.card()
    assert config["training"]["command"].startswith("rsolve train sudoku --steps 2 --train-size 30")
    assert config["data_sha256"] in card and "generated by rsolve.generate (seed 0)" in card
    assert config["history"]["commands"] == [config["training"]["command"]] and "val_recall" in config["validation"]
    assert all(k in card for k in ("Wall time", "Machine", "Validation (one network pass"))

    code, text = _train("sudoku", "--steps", "2", *TINY_ARGS)  # OUT holds a run now
    assert code == 2 and "--resume" in text and "--overwrite" in text and "another --out" in text
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "maze", "puzzle": "S.G"}\n')
    code, text = _train("sudoku", "--overwrite", "--data", str(bad), *TINY_ARGS)
    assert code == 2 and len(text.strip().splitlines()) == 1 and checkpoints.validate(out)  # old run kept
    stamp = (tmp_path / "cache" / "rsolve" / "data" / cached[0]).stat().st_mtime_ns
    code, text = _train("sudoku", "--steps", "1", "--overwrite", *TINY_ARGS)
    assert code == 0 and "(cached)" in text and "generating" not in text
    assert (tmp_path / "cache" / "rsolve" / "data" / cached[0]).stat().st_mtime_ns == stamp
    assert checkpoints.validate(out).config["training"]["steps"] == 1  # started over
    code, text = _train("sudoku", "--resume", "-o", str(tmp_path / "nothing"), *TINY_ARGS)
    assert code == 2 and "nothing to resume" in text


def test_generated_sets_are_reproducible_and_independent(tmp_path, monkeypatch):
    first = datagen.generated("maze", 3, 7, "train").read_bytes()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "elsewhere"))
    again = datagen.generated("maze", 3, 7, "train")
    assert again.read_bytes() == first and str(tmp_path / "elsewhere") in str(again)
    val = [json.loads(line)["puzzle"] for line in datagen.generated("maze", 3, 7, "val").open()]
    assert not set(val) & {json.loads(line)["puzzle"] for line in first.decode().splitlines()}


# ------------------------------------------------------------------ resume and signals


def _config(model, data, out, **kw):
    if model == "trm-eqr":  # the noisy recipe draws from the global and the slots' streams
        model, kw = "trm", {**kw, "eqr": True}
    if model == "gram":
        from rsolve.train.gram_config import GRAMTrainConfig

        return GRAMTrainConfig(kind="sudoku", data=str(data), out=str(out), batch=4, max_steps_per_puzzle=2,
                               precision="fp32", compile=False, val_limit=4, probe_every=2, probe_batch=2,
                               overrides=GRAM_TINY, **kw)
    if model == "ldt":
        return LDTTrainConfig(kind="sudoku", data=str(data), out=str(out), batch=8, overrides=LDT_TINY, **kw)
    return RecursiveTrainConfig(kind="sudoku", model="trm", data=str(data), out=str(out), batch=4,
                                max_steps_per_puzzle=2, precision="fp32", compile=False, val_limit=4,
                                overrides=TRM_TINY, **kw)


@pytest.mark.parametrize("model", ["ldt", "trm", "trm-eqr", "gram"])
def test_stop_and_resume_equals_one_uninterrupted_run(model, sudoku_data, tmp_path, monkeypatch):
    """6 steps in one go == 3 steps, a SIGINT, and a resume for 3 more: bitwise on the CPU
    (weights, optimizer, pool or slots, and every random stream are restored)."""
    # a schedule on steps alone: the loop's clock stands still. With a running clock the first
    # step's progress is elapsed / budget, an lr of ~1e-14 that differs from run to run, and a
    # zero-initialised weight (GRAM's posterior correction) takes it bit for bit
    monkeypatch.setattr(loop, "time", types.SimpleNamespace(monotonic=lambda: 1000.0))
    run = dict(max_steps=6, minutes=1e6, val_every=1e6)
    whole = loop.train(_config(model, sudoku_data, tmp_path / "whole", **run))
    family = {"ldt": LDT, "gram": GRAM}.get(model, Recursive)
    real_step, calls = family.step, []

    def step_then_signal(self, lr):
        calls.append(1)
        out = real_step(self, lr)
        if len(calls) == 3:
            signal.raise_signal(signal.SIGINT)
        return out

    monkeypatch.setattr(family, "step", step_then_signal)
    with pytest.raises(loop.Stopped) as stop:
        loop.train(_config(model, sudoku_data, tmp_path / "halves", **run))
    assert stop.value.step == 3 and stop.value.signum == signal.SIGINT
    halves = loop.train(_config(model, sudoku_data, tmp_path / "halves", resume=True, **run))
    a, b = (checkpoints.load_state_dict(checkpoints.validate(p)) for p in (whole, halves))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert checkpoints.validate(halves).config["training"]["steps"] == 6 and len(calls) == 6


def _until_first_progress(args, env, sig):
    """Start a run, send `sig` once it prints its first progress line; (exit code, stderr)."""
    p = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    seen = []
    for line in p.stderr:
        seen.append(line)
        if line.startswith("step "):
            p.send_signal(sig)
            break
    try:
        rest = p.communicate(timeout=120)[1]
    except subprocess.TimeoutExpired:
        p.kill()
        raise
    return p.returncode, "".join(seen) + rest


def test_sigint_and_sigterm_save_and_print_the_resume_command(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    code, err = _until_first_progress([RSOLVE, "train", "sudoku", "--minutes", "5", *TINY_ARGS], env, signal.SIGINT)
    assert code == 130, err
    stopped = re.search(r"stopped at step (\d+); resume with: (.+)", err)
    assert stopped, err
    resume = shlex.split(stopped[2])
    assert resume[:3] == ["rsolve", "train", "sudoku"] and resume.count("--resume") == 1 and "--minutes" in resume
    code, err = _until_first_progress([RSOLVE, *resume[1:]], env, signal.SIGTERM)
    assert code == 143, err
    assert f"resuming at step {stopped[1]} " in err
    again = re.search(r"stopped at step (\d+); resume with: (.+)", err)
    assert int(again[1]) > int(stopped[1]) and shlex.split(again[2]).count("--resume") == 1
    out = tmp_path / "home" / "checkpoints" / "ldt-sudoku-trained"
    assert checkpoints.validate(out).config["training"]["steps"] == int(again[1])


# ------------------------------------------------------------------ one device


FAMILY_CASES = {
    "ldt-sudoku": lambda: (LDT, LDTTrainConfig(kind="sudoku", batch=4, overrides={**LDT_TINY, "loops": 2})),
    "ldt-maze": lambda: (LDT, LDTTrainConfig(kind="maze", preset="paper", batch=4,
                                             overrides={**LDT_TINY, "loops": 2})),
    "ldt-maze-grid": lambda: (LDT, LDTTrainConfig(kind="maze", batch=4, curriculum="6", curriculum_mazes=8,
                                                  overrides=dict(dim=8, hidden=8))),
    "trm-sudoku": lambda: (Recursive, RecursiveTrainConfig(kind="sudoku", model="trm", batch=4, precision="fp32",
                                                           max_steps_per_puzzle=2, compile=False, overrides=TRM_TINY)),
    "gram-sudoku": lambda: (GRAM, GRAMTrainConfig(kind="sudoku", batch=4, precision="fp32", max_steps_per_puzzle=2,
                                                   compile=False, probe_every=1, probe_batch=2, overrides=GRAM_TINY)),
    "hrm-maze": lambda: (Recursive, RecursiveTrainConfig(kind="maze", model="hrm", batch=4, precision="fp32",
                                                         max_steps_per_puzzle=2, compile=False, overrides=HRM_TINY)),
}


def _examples(kind):
    if kind == "sudoku":
        return [Example(p, s, r.rating) for p, s, r in iter_sudoku(seed=5, count=8)]
    return [Example(p, s) for p, s in iter_maze(seed=5, count=4, height=8, width=8, min_path=8)]


@pytest.mark.parametrize("case", FAMILY_CASES)
def test_every_family_keeps_its_step_and_validation_on_the_device(case):
    family_class, cfg = FAMILY_CASES[case]()
    examples = _examples(cfg.kind)
    with FakeCuda():
        family = family_class(cfg, torch.device("cuda"))
        family.load_data(examples[:-2], examples[-2:])
        family.build(None)
        assert next(family.model.parameters()).device.type == "cuda"
        for _ in range(2):  # the second step starts from the pool / slots the first one left
            assert family.step(1e-3)["loss"] > 0
        assert family.validate()
        family.load_state(family.state())


def test_the_device_check_catches_host_tensors_in_a_step(monkeypatch):
    family_class, cfg = FAMILY_CASES["ldt-sudoku"]()
    monkeypatch.setattr("rsolve.train.ldt.Samples._rand", lambda self, *shape: torch.rand(shape))  # no device
    examples = _examples("sudoku")
    with FakeCuda(), pytest.raises(AssertionError, match="mixed with host tensors"):
        family = family_class(cfg, torch.device("cuda"))
        family.load_data(examples[:-2], examples[-2:])
    with FakeCuda(), pytest.raises(AssertionError, match="generator of the other device"):
        torch.rand(3, generator=torch.Generator(), device="cuda")


@pytest.mark.parametrize("args,message", [
    (["--arch", "foo=1"], "--arch: no setting 'foo'"), (["-m", "trm", "--arch", "foo=1"], "--arch: no setting 'foo'"),
    (["--preset", "huge"], "unknown preset 'huge'"), (["--threads", "-3"], "--threads -3 is out of range"),
])
def test_bad_settings_are_refused_before_any_data_is_made(tmp_path, monkeypatch, args, message):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("RSOLVE_HOME", str(tmp_path / "home"))
    res = CliRunner().invoke(app, ["train", "sudoku", *args])
    assert res.exit_code == 2 and message in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "cache").exists()


def test_sigterm_while_generating_leaves_no_temp_file(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "RSOLVE_HOME": str(tmp_path / "home")}
    p = subprocess.Popen([str(Path(sys.executable).parent / "rsolve"), "train", "sudoku", "--train-size", "5000"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    folder = tmp_path / "cache" / "rsolve" / "data"
    for _ in range(300):  # until the temp file exists
        if folder.is_dir() and any(folder.iterdir()):
            break
        time.sleep(0.1)
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=60)
    assert p.returncode == 143 and list(folder.iterdir()) == []


def test_ldt_batch_default_follows_the_kind():
    assert LDTTrainConfig(kind="sudoku").batch == 64 and LDTTrainConfig(kind="maze").batch == 16
    assert LDTTrainConfig(kind="maze", batch=8).batch == 8
