"""The checkpoint folder format: save, validate, and refuse what must be refused."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rsolve import checkpoints
from rsolve.checkpoints import CheckpointError, save, validate

RSOLVE = str(Path(sys.executable).parent / "rsolve")


@pytest.fixture
def ckpt(tmp_path):
    tensors = {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.zeros(4, dtype=np.float32)}
    return save(tmp_path / "tiny", tensors, engine="ldt", kind="sudoku", architecture={"width": 4},
                card="# tiny\n\nmeasured: nothing\n")


def test_round_trip_and_card(ckpt):
    c = validate(ckpt.path, engine="ldt", kind="sudoku")
    assert c.architecture == {"width": 4} and c.config["format_version"] == checkpoints.FORMAT_VERSION
    assert "measured" in c.card()
    from safetensors.numpy import load_file

    assert load_file(str(c.path / checkpoints.WEIGHTS))["w"][2, 3] == 11


def test_refusals(ckpt):
    with pytest.raises(CheckpointError, match="for maze puzzles|not maze"):
        validate(ckpt.path, kind="maze")
    with pytest.raises(CheckpointError, match="for model 'ldt', not 'trm'"):
        validate(ckpt.path, engine="trm")
    weights = ckpt.path / checkpoints.WEIGHTS
    data = weights.read_bytes()
    weights.write_bytes(data[:-3] + b"\x01\x02\x03")  # same size, different bytes
    with pytest.raises(CheckpointError, match="checksum"):
        validate(ckpt.path)
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        validate(ckpt.path)
    weights.write_bytes(data)
    validate(ckpt.path)
    cfg = ckpt.path / checkpoints.CONFIG
    config = json.loads(cfg.read_text())
    cfg.write_text(json.dumps({**config, "format_version": checkpoints.FORMAT_VERSION + 1}))
    with pytest.raises(CheckpointError, match="newer"):
        validate(ckpt.path)
    cfg.write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        validate(ckpt.path)


def test_interrupted_save_leaves_previous_loadable(ckpt):
    # the moment between the two renames of a save: only the backup exists
    backup = ckpt.path.with_name(ckpt.path.name + ".previous")
    ckpt.path.rename(backup)
    assert validate(ckpt.path).path == backup
    # and a stale .partial from a killed save does not matter
    (ckpt.path.parent / "tiny.partial").mkdir()
    backup.rename(ckpt.path)
    assert validate(ckpt.path).path == ckpt.path


def tiny_ldt(folder, **extra):
    from rsolve.models import ldt

    model = ldt.build("sudoku", "cpu", dim=8, heads=2, layers=1, loops=1)
    return save(folder, model.state_dict(), engine="ldt", kind="sudoku", architecture=model.cfg.to_dict(),
                card="# tiny\n\nmeasured: nothing\n", extra=extra or None)


def test_info_command(ckpt, tmp_path):
    good = tiny_ldt(tmp_path / "good")
    p = subprocess.run([RSOLVE, "info", str(good.path)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "ok - model ldt, sudoku" in p.stdout and "measured" in p.stdout
    # an LDT config must describe a network the weights fit, as for trm and hrm
    p = subprocess.run([RSOLVE, "info", str(ckpt.path)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "architecture is not one for model 'ldt'" in p.stderr
    (good.path / checkpoints.WEIGHTS).write_bytes(b"\x00" * 4)
    p = subprocess.run([RSOLVE, "info", str(good.path)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "truncated" in p.stderr


def test_installed_search_path(ckpt, monkeypatch, tmp_path):
    monkeypatch.setenv("RSOLVE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RSOLVE_CHECKPOINTS", str(ckpt.path.parent))
    assert checkpoints.find_default("ldt", "sudoku") == ckpt.path
    assert checkpoints.find_default("hrm", "maze") is None  # none ships


def test_user_dir_follows_rsolve_home_then_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("RSOLVE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert checkpoints.user_dir() == tmp_path / "home" / "checkpoints"
    monkeypatch.delenv("RSOLVE_HOME")
    assert checkpoints.user_dir() == tmp_path / "xdg" / "rsolve" / "checkpoints"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/dir")  # the XDG spec says: ignore it
    monkeypatch.setenv("HOME", str(tmp_path / "me"))
    assert checkpoints.user_dir() == tmp_path / "me" / ".local" / "share" / "rsolve" / "checkpoints"
    monkeypatch.setenv("RSOLVE_CHECKPOINTS", os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")]))
    assert checkpoints.search_path() == [tmp_path / "a", tmp_path / "b", checkpoints.shipped_dir(),
                                         checkpoints.user_dir()]


def test_trained_checkpoints_are_found_by_name(monkeypatch, tmp_path):
    monkeypatch.setenv("RSOLVE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RSOLVE_CHECKPOINTS", raising=False)
    mine = tiny_ldt(checkpoints.user_dir() / "mine").path
    assert checkpoints.resolve("mine") == mine and checkpoints.validate("mine").path == mine
    assert checkpoints.resolve(str(mine)) == mine  # a folder path is used as is
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine").mkdir()  # an existing folder wins over the name
    assert checkpoints.resolve("mine") == Path("mine")
    (tmp_path / "mine").rmdir()
    # the shipped checkpoints come first: --model auto keeps preferring them
    shipped = checkpoints.shipped_dir() / "ldt-sudoku"
    assert checkpoints.find_default("ldt", "sudoku") == shipped
    assert mine in [path for path, config, error in checkpoints.installed() if config]
    (checkpoints.user_dir() / "killed.partial").mkdir()  # a save still running is not installed
    (checkpoints.user_dir() / "killed.partial" / checkpoints.CONFIG).write_text("{}")
    assert not [p for p, _, _ in checkpoints.installed() if p.name.endswith(".partial")]
    with pytest.raises(CheckpointError) as info:
        checkpoints.validate("nosuch")
    assert str(info.value) == (f"no checkpoint named 'nosuch' (looked in: {checkpoints.shipped_dir()}, "
                               f"{checkpoints.user_dir()})")
    with pytest.raises(CheckpointError, match="not a checkpoint folder"):
        checkpoints.validate(str(tmp_path / "nosuch"))  # a path is never looked up by name
    from rsolve.engines.neural import load_model

    model, ckpt = load_model("ldt", "sudoku", "mine", "cpu")
    assert ckpt.path == mine and model.cfg.dim == 8


def test_models_and_info_see_trained_checkpoints(tmp_path):
    env = {**os.environ, "RSOLVE_HOME": str(tmp_path / "home"), "COLUMNS": "400"}
    env.pop("RSOLVE_CHECKPOINTS", None)
    folder = tiny_ldt(tmp_path / "home" / "checkpoints" / "mine").path
    p = subprocess.run([RSOLVE, "models"], capture_output=True, text=True, timeout=60, env=env)
    row = next(line for line in p.stdout.splitlines() if str(folder) in line)
    assert p.returncode == 0 and "ldt" in row and "sudoku" in row and "ok" in row
    assert "ldt-sudoku" in p.stdout  # and the shipped ones
    p = subprocess.run([RSOLVE, "info", "mine"], capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 0 and p.stdout.startswith(f"{folder}: ok - model ldt")


def test_every_checkpoint_engine_is_known():
    from rsolve.engines import REGISTRY

    assert {s.weights or s.name for s in REGISTRY.values() if s.neural} == set(checkpoints.ENGINES)


SHIPPED = sorted(p for p in (Path(__file__).resolve().parent.parent / "checkpoints").iterdir() if p.is_dir())


@pytest.mark.parametrize("folder", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_checkpoints_load_and_carry_a_card(folder):
    """Every shipped checkpoint validates (checksum, format), its weights fit its
    architecture, its config names the engine, kind and versions, and its card says
    how it was made and what it measured."""
    from rsolve.engines.neural import check_weights

    ckpt = checkpoints.validate(folder)
    role = "-generator" if checkpoints.is_generator(ckpt.config) else ""
    assert folder.name == f"{ckpt.config['engine']}-{ckpt.kind}{role}"
    assert {"format_version", "rsolve_version", "architecture"} <= ckpt.config.keys()
    check_weights(ckpt, ckpt.config["engine"])
    card = (folder / "README.md").read_text()
    assert "- Command: " in card or "- Commands, in order: " in card, f"{folder.name}: card lacks its command"
    for needed in ("Wall time:", "Machine:", "## Results"):
        assert needed in card, f"{folder.name}: card lacks {needed!r}"


def test_saved_weights_are_as_readable_as_the_config(tmp_path):
    import numpy as np

    from rsolve import checkpoints as ck

    saved = ck.save(tmp_path / "c", {"w": np.zeros(2, dtype=np.float32)}, engine="ldt", kind="sudoku",
                    architecture={}, card="x\n")
    modes = {name: (saved.path / name).stat().st_mode & 0o777 for name in (ck.WEIGHTS, ck.CONFIG)}
    assert modes[ck.WEIGHTS] == modes[ck.CONFIG], modes
