"""GPU readiness checked on a CPU: engines solve on a fake CUDA device
(tests/device_guard.py) without ever mixing host and device tensors, and bf16
runs only where the hardware has it."""

import os
import platform
import subprocess
import sys

import pytest
import torch

from device_guard import FakeCuda
from rsolve import devices, engines
from rsolve.generate import iter_maze, iter_sudoku


@pytest.fixture(scope="module")
def puzzles():
    return {"sudoku": [p for p, _, _ in iter_sudoku(5, 3)], "maze": [p for p, _ in iter_maze(1, 1)]}


@pytest.fixture
def fake_gpu(monkeypatch):
    monkeypatch.setattr(devices, "check_device", lambda name: (name or "auto").lower())
    with FakeCuda():
        yield torch.device("cuda")


@pytest.mark.parametrize("model,kind,options", [
    ("ldt", "sudoku", {}), ("ldt", "sudoku", {"propagate": "none", "rounds": 20}), ("ldt", "maze", {"rounds": 2}),
    ("sotaku", "sudoku", {}), ("trm", "sudoku", {"halt": "verify"}), ("hrm", "sudoku", {"steps": 2}),
    ("trm", "maze", {"steps": 1}),
])
def test_solving_keeps_every_tensor_on_the_device(puzzles, fake_gpu, model, kind, options):
    engine = engines.create(model, kind, device="cuda", options=options)
    assert next(engine.model.parameters()).device.type == "cuda"
    attempts = engine.solve_batch(puzzles[kind])
    assert len(attempts) == len(puzzles[kind]) and all(a.status in ("found", "abstained", "unsolvable")
                                                       for a in attempts)


def test_the_fake_device_catches_a_host_tensor(fake_gpu):
    with pytest.raises(AssertionError, match="mixed with host tensors"):
        torch.zeros(3, device="cuda") + torch.zeros(3)


@pytest.mark.parametrize("model", ["ldt", "trm"])
def test_bf16_only_where_the_hardware_has_it(monkeypatch, model):
    import rsolve.engines.ldt as ldt_engine
    import rsolve.engines.recursive as recursive_engine

    for module in (ldt_engine, recursive_engine):
        monkeypatch.setattr(module, "native_bf16", lambda device: False)
    engine = engines.create(model, "sudoku", device="cpu", options={"precision": "bf16"})
    precision = engine.opt["precision"] if model == "ldt" else engine.precision
    assert precision == "fp32"


KEEP_PROBE = """
import os, torch
from rsolve.devices import resolve_device, keep_freed_memory
resolve_device("cpu")
page = os.sysconf("SC_PAGE_SIZE")
def rss(): return int(open("/proc/self/statm").read().split()[1]) * page
t = torch.ones(64 * 2 ** 20 // 4)  # 64 MB, touched
before = rss()
del t
print(keep_freed_memory(), (before - rss()) // 2 ** 20)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="glibc's malloc only")
@pytest.mark.parametrize("env,kept", [({}, True), ({"RSOLVE_MALLOC": "system"}, False),
                                      ({"MALLOC_MMAP_MAX_": "65536"}, False)])
def test_cpu_runs_keep_freed_tensor_memory_for_reuse(env, kept):
    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "RSOLVE_MALLOC"}
    out = subprocess.run([sys.executable, "-c", KEEP_PROBE], env={**base, **env}, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[0] == str(kept)
    returned = int(out[1])  # MB given back to the kernel by the free
    assert returned < 8 if kept else returned > 56
