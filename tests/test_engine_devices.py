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


def test_bf16_is_the_default_only_where_it_is_faster(monkeypatch):
    monkeypatch.setattr(devices, "bf16_matmul_gain", lambda: pytest.fail("AMX needs no measurement"))
    monkeypatch.setattr(devices, "_cpu_flags", lambda: {"avx512f", "amx_bf16", "amx_tile"})
    assert devices.native_bf16("cpu") and devices.bf16_pays("cpu")
    monkeypatch.setattr(devices, "_cpu_flags", lambda: {"avx2"})
    assert not devices.native_bf16("cpu") and not devices.bf16_pays("cpu")
    # AVX512-BF16 without AMX: has bf16, but it is the default only when it measures faster
    monkeypatch.setattr(devices, "_cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    for gain, pays in ((0.5, False), (1.1, False), (2.0, True)):
        monkeypatch.setattr(devices, "bf16_matmul_gain", lambda gain=gain: gain)
        assert devices.native_bf16("cpu") and devices.bf16_pays("cpu") is pays


def test_the_bf16_measurement_is_a_real_ratio(monkeypatch):
    monkeypatch.setattr(devices, "_gain", None)
    state = torch.random.get_rng_state()
    gain = devices.bf16_matmul_gain()
    assert 0.01 < gain < 100 and devices.bf16_matmul_gain() == gain  # measured once per process
    assert torch.equal(torch.random.get_rng_state(), state)  # seeded runs draw the same numbers


@pytest.mark.parametrize("pays", [False, True])
def test_auto_precision_follows_the_measurement(monkeypatch, pays):
    import rsolve.engines.recursive as recursive_engine
    from rsolve.train.recursive_config import RecursiveTrainConfig

    monkeypatch.setattr(devices, "bf16_pays", lambda device: pays)
    cfg = RecursiveTrainConfig(kind="sudoku", preset="cpu", data="-", out="-", model="trm", compile=False)
    assert cfg.precision == ("bf16" if pays else "fp32")
    # the engine's auto: a checkpoint trained in bf16 (the shipped ones) runs in bf16 only where it pays
    monkeypatch.setattr(recursive_engine, "bf16_pays", lambda device: pays)
    monkeypatch.setattr(recursive_engine, "native_bf16", lambda device: True)
    engine = engines.create("trm", "sudoku", device="cpu")
    assert "bf16" in str(engine.training.get("precision")) and engine.precision == ("bf16" if pays else "fp32")
    # asked for explicitly, bf16 runs wherever the hardware has it
    assert engines.create("trm", "sudoku", device="cpu", options={"precision": "bf16"}).precision == "bf16"


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
