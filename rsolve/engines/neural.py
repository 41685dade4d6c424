"""What neural engines share: device choice, the preflight check of a checkpoint, and
loading a checkpoint folder into a model (safetensors only, never pickle)."""

from __future__ import annotations

import math

from .. import checkpoints
from . import EngineError


def device_for(device: str | None):
    """The torch device for `--device`; an EngineError when it does not exist here."""
    from ..devices import DeviceError, resolve_device

    try:
        return resolve_device(device)
    except DeviceError as exc:
        raise EngineError(str(exc)) from None


class UpToCells:
    """Every grid shape (height, width) of at least 2x2 and at most `cells` cells: what a
    network with no weight tied to the size reads (`shape in UpToCells(n)`)."""

    def __init__(self, cells: int):
        self.cells = cells

    def __contains__(self, shape) -> bool:
        h, w = shape
        return h >= 2 and w >= 2 and h * w <= self.cells


def network_shapes(arch: dict, kind: str):
    """The grid shapes (height, width) a network of this architecture reads (a set, or
    UpToCells for grid networks)."""
    if arch.get("network") == "grid" or arch.get("mixer") == "grid":  # no weight tied to the size
        from ..models.gridnet import GRID_MAX_CELLS

        return UpToCells(GRID_MAX_CELLS)
    if "seq_len" in arch:  # TRM/HRM: a square grid; mazes up to that side (smaller ones are padded)
        side = math.isqrt(int(arch["seq_len"]))
        if kind == "maze":
            return frozenset((h, w) for h in range(2, side + 1) for w in range(2, side + 1))
        return frozenset({(side, side)})
    return frozenset({(int(arch["height"]), int(arch["width"]))})


def preflight(weights: str, kind: str | None, checkpoint: str):
    """Check a checkpoint for an engine before any puzzle runs: readable, for these weights
    (and `kind` when given), tensors that fit its architecture. Returns a Preflight."""
    from . import Preflight

    try:
        ckpt = checkpoints.validate(checkpoint, engine=weights, kind=kind)
    except checkpoints.CheckpointError as exc:
        raise EngineError(str(exc)) from None
    check_weights(ckpt, weights)
    return Preflight(str(ckpt.path), ckpt.kind, network_shapes(ckpt.architecture, ckpt.kind))


def model_module(weights: str):
    """The rsolve.models module that builds networks for `weights` checkpoints ("ldt", "trm", "hrm")."""
    import importlib

    try:
        return importlib.import_module(f"rsolve.models.{weights}")
    except ModuleNotFoundError:
        raise EngineError(f"no network module for {weights!r} checkpoints") from None


def build_model(ckpt: checkpoints.Checkpoint, weights: str):
    """The untrained network a checkpoint's config.json describes; an EngineError when the
    architecture is invalid (its model config checks every value) or belongs to another
    model or another kind of puzzle."""
    try:
        model = model_module(weights).from_config(ckpt.architecture)
    except (TypeError, ValueError, KeyError) as exc:
        raise EngineError(f"{ckpt.path}: config.json's architecture is not one for model {weights!r} "
                          f"({str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__})") from None
    cfg_kind = getattr(model.cfg, "kind", ckpt.kind)
    if cfg_kind != ckpt.kind:
        raise EngineError(f"{ckpt.path}: config.json says {ckpt.kind} puzzles but its architecture "
                          f"is for {cfg_kind}")
    return model


def _misfit(ckpt, weights: str, model, have: dict) -> str | None:
    """Why tensors named and shaped as in `have` cannot load into `model`, or None."""
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing, extra = sorted(want.keys() - have.keys()), sorted(have.keys() - want.keys())
    wrong = sorted(k for k in want.keys() & have.keys() if want[k] != have[k])
    if not (missing or extra or wrong):
        return None
    what = (f"missing {missing[0]}" if missing else f"unexpected {extra[0][:60]!r}" if extra
            else f"{wrong[0]} is {have[wrong[0]]}, the architecture needs {want[wrong[0]]}")
    return (f"{ckpt.path}: weights do not fit the {weights} architecture in config.json "
            f"({what}; {len(missing) + len(extra) + len(wrong)} tensors differ)")


def check_weights(ckpt: checkpoints.Checkpoint, weights: str) -> None:
    """Raise EngineError unless the weights file's tensor names and shapes fit the architecture.
    Reads only the safetensors header and builds the network on the meta device (no memory),
    so a config that asks for a huge network is refused before anything is allocated."""
    import torch

    try:
        have = checkpoints.weight_shapes(ckpt)
    except checkpoints.CheckpointError as exc:
        raise EngineError(str(exc)) from None
    with torch.device("meta"):
        model = build_model(ckpt, weights)
    reason = _misfit(ckpt, weights, model, have)
    if reason:
        raise EngineError(reason)


def load_model(engine: str, kind: str, checkpoint: str | None, device):
    """(model in eval mode, Checkpoint) for `engine` on `kind` puzzles; an EngineError
    with a one-line reason when no usable checkpoint exists. The network comes from
    rsolve.models.<weights>, where weights is the engine's own name or the one whose
    checkpoints it borrows (sotaku runs LDT weights). `checkpoint` is a folder or the
    name of one on the checkpoint search path."""
    from safetensors import SafetensorError

    from . import spec

    weights = spec(engine).weights or engine
    if checkpoint is None:
        found = checkpoints.find_default(weights, kind)
        if found is None:
            raise EngineError(f"no {engine} checkpoint for {kind} puzzles is installed "
                              f"(train one with `rsolve train {kind} --model {weights}` or pass --checkpoint)")
        checkpoint = str(found)
    try:
        ckpt = checkpoints.validate(checkpoint, engine=weights, kind=kind)
        check_weights(ckpt, weights)  # on the meta device first: nothing is allocated for a misfit
        model = build_model(ckpt, weights)
        model.load_state_dict(checkpoints.load_state_dict(ckpt, device="cpu"))
    except EngineError:
        raise
    except checkpoints.CheckpointError as exc:
        raise EngineError(str(exc)) from None
    except (RuntimeError, TypeError, KeyError, ValueError, OSError, SafetensorError) as exc:
        raise EngineError(f"{checkpoint}: weights do not load into the architecture in config.json "
                          f"({str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__})") from None
    return model.to(device).eval(), ckpt
