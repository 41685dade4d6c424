"""GPU readiness checked on a CPU: engines solve on a fake CUDA device
(tests/device_guard.py) without ever mixing host and device tensors, and bf16
runs only where the hardware has it."""

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
