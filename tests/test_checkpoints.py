"""The checkpoint folder format: save, validate, and refuse what must be refused."""

import json
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


def test_info_command(ckpt):
    p = subprocess.run([RSOLVE, "info", str(ckpt.path)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "ok - model ldt, sudoku" in p.stdout and "measured" in p.stdout
    (ckpt.path / checkpoints.WEIGHTS).write_bytes(b"\x00" * 4)
    p = subprocess.run([RSOLVE, "info", str(ckpt.path)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "truncated" in p.stderr


def test_installed_search_path(ckpt, monkeypatch):
    monkeypatch.setenv("RSOLVE_CHECKPOINTS", str(ckpt.path.parent))
    assert checkpoints.find_default("ldt", "sudoku") == ckpt.path
    assert checkpoints.find_default("hrm", "maze") is None  # none ships


SHIPPED = sorted(p for p in (Path(__file__).resolve().parent.parent / "checkpoints").iterdir() if p.is_dir())


@pytest.mark.parametrize("folder", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_checkpoints_load_and_carry_a_card(folder):
    """Every shipped checkpoint validates (checksum, format), its weights fit its
    architecture, its config names the engine, kind and versions, and its card says
    how it was made and what it measured."""
    from rsolve.engines.neural import check_weights

    ckpt = checkpoints.validate(folder)
    assert folder.name == f"{ckpt.config['engine']}-{ckpt.kind}"
    assert {"format_version", "rsolve_version", "architecture"} <= ckpt.config.keys()
    check_weights(ckpt, ckpt.config["engine"])
    card = (folder / "README.md").read_text()
    for needed in ("Command:", "Wall time:", "Machine:", "## Results"):
        assert needed in card, f"{folder.name}: card lacks {needed!r}"
