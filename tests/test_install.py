"""A non-editable install (`pip install .` from a clone) carries every module and finds
every shipped checkpoint, from any working directory."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p.name for p in (REPO / "checkpoints").iterdir() if (p / "config.json").is_file())


def copy_source(dst: Path) -> Path:
    """What a clone holds that the build reads (building writes build/ and *.egg-info
    next to the sources, so it runs on a copy)."""
    dst.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, dst / name)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.run", "*.partial", "*.previous")
    for name in ("rsolve", "checkpoints"):
        shutil.copytree(REPO / name, dst / name, ignore=skip)
    return dst


def pip_install(src: Path, target: Path) -> None:
    """Offline with this environment's setuptools when it is recent enough; otherwise pip's
    isolated build, which takes setuptools from pip's configured index."""
    base = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile",
            "--disable-pip-version-check", "--target", str(target), str(src)]
    errors = []
    for extra in (["--no-build-isolation", "--no-index"], []):
        shutil.rmtree(target, ignore_errors=True)
        p = subprocess.run(base + extra, capture_output=True, text=True, timeout=300, cwd=src)
        if p.returncode == 0:
            return
        errors.append(" | ".join(p.stderr.strip().splitlines()[-3:]))
    pytest.fail("pip install . failed: " + " || ".join(errors))


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> Path:
    # asked in a subprocess: looking pip up here would switch off setuptools' distutils shim in
    # this process (its finder special-cases pip), which later breaks torch.compile's C++ build
    if subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode != 0:
        pytest.skip("pip is not installed in this environment")
    root = tmp_path_factory.mktemp("install")
    out = root / "site"
    pip_install(copy_source(root / "src"), out)
    return out


PROBE = """
import json, rsolve
from rsolve import checkpoints
found = []
for path, config, error in checkpoints.installed():
    try:
        checkpoints.validate(path)  # with the checksum
    except checkpoints.CheckpointError as exc:
        error = error or str(exc)
    found.append([str(path), error])
print(json.dumps({"package": rsolve.__file__, "shipped": str(checkpoints.shipped_dir()), "found": found}))
"""


def test_installed_copy_finds_every_shipped_checkpoint(target, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(target), "RSOLVE_HOME": str(tmp_path / "home")}
    env.pop("RSOLVE_CHECKPOINTS", None)
    p = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert Path(info["package"]).parent == target / "rsolve"  # not the clone
    assert Path(info["shipped"]) == target / "rsolve" / "shipped"
    assert sorted(Path(path).name for path, _ in info["found"]) == SHIPPED and len(SHIPPED) >= 5
    assert all(error is None for _, error in info["found"]), info["found"]


def test_installed_copy_has_every_module(target):
    """pyproject.toml lists the packages by hand: a new subpackage must be added there."""
    source = {p.relative_to(REPO).as_posix() for p in (REPO / "rsolve").rglob("*.py")}
    installed = {p.relative_to(target).as_posix() for p in (target / "rsolve").rglob("*.py")}
    assert not source - installed
