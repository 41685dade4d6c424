"""What neural engines share: device choice, option checking and loading a
checkpoint folder into a model (safetensors only, never pickle)."""

from __future__ import annotations

import os
import shutil

from .. import checkpoints
from . import EngineError


def device_for(device: str | None):
    import torch

    device = device or "auto"
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise EngineError("--device cuda: no CUDA device is available")
    if device not in ("cpu", "cuda"):
        raise EngineError(f"unknown device {device!r} (auto, cpu, cuda)")
    return torch.device(device)


def can_compile(device: str) -> bool:
    """torch.compile needs a C++ compiler on the CPU (CUDA builds bring Triton)."""
    import torch

    if str(device) != "cpu" and torch.cuda.is_available():
        return True
    return any(shutil.which(c) for c in (os.environ.get("CXX", ""), "g++", "c++", "clang++") if c)


def check_options(model: str, options: dict, allowed: dict) -> dict:
    """Engine options with defaults filled in; unknown names and bad values are EngineErrors.
    `allowed` maps a name to its default (the type is taken from the default) or to a tuple
    of permitted strings (the first is the default)."""
    out = {}
    for key, value in options.items():
        if value is None:
            continue
        if key not in allowed:
            raise EngineError(f"model {model!r} has no option {key!r}; options: {', '.join(sorted(allowed))}")
        spec = allowed[key]
        if isinstance(spec, tuple):
            if value not in spec:
                raise EngineError(f"option {key}={value!r}: choose from {', '.join(spec)}")
        elif isinstance(spec, bool):
            if not isinstance(value, bool):
                raise EngineError(f"option {key}={value!r}: expected true or false")
        else:
            try:
                value = type(spec)(value)
            except (TypeError, ValueError):
                raise EngineError(f"option {key}={value!r}: expected a {type(spec).__name__}") from None
            if value < 0:
                raise EngineError(f"option {key}={value!r}: must not be negative")
        out[key] = value
    return {k: (v[0] if isinstance(v, tuple) else v) for k, v in allowed.items()} | out


def model_module(weights: str):
    """The rsolve.models module that builds networks for `weights` checkpoints ("ldt", "trm", "hrm")."""
    import importlib

    try:
        return importlib.import_module(f"rsolve.models.{weights}")
    except ModuleNotFoundError:
        raise EngineError(f"no network module for {weights!r} checkpoints") from None


def build_model(ckpt: checkpoints.Checkpoint, weights: str):
    """The untrained network a checkpoint's config.json describes; an EngineError when the
    architecture belongs to another model or another kind of puzzle."""
    arch = ckpt.architecture
    try:
        if not isinstance(arch, dict):
            raise TypeError("not a dict")
        model = model_module(weights).from_config(arch)
    except (TypeError, ValueError, KeyError) as exc:
        raise EngineError(f"{ckpt.path}: config.json's architecture is not one for model {weights!r} "
                          f"({str(exc).splitlines()[0][:160]})") from None
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
    what = (f"missing {missing[0]}" if missing else f"unexpected {extra[0]}" if extra
            else f"{wrong[0]} is {have[wrong[0]]}, the architecture needs {want[wrong[0]]}")
    return (f"{ckpt.path}: weights do not fit the {weights} architecture in config.json "
            f"({what}; {len(missing) + len(extra) + len(wrong)} tensors differ)")


def check_weights(ckpt: checkpoints.Checkpoint, weights: str) -> None:
    """Raise EngineError unless the weights file's tensor names and shapes fit the architecture.
    Reads only the safetensors header and builds the network on the meta device (no memory)."""
    import torch
    from safetensors import safe_open

    with torch.device("meta"):
        model = build_model(ckpt, weights)
    with safe_open(str(ckpt.path / checkpoints.WEIGHTS), framework="pt") as f:
        have = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    reason = _misfit(ckpt, weights, model, have)
    if reason:
        raise EngineError(reason)


def load_model(engine: str, kind: str, checkpoint: str | None, device):
    """(model in eval mode, Checkpoint) for `engine` on `kind` puzzles; an EngineError
    with a one-line reason when no usable checkpoint exists. The network comes from
    rsolve.models.<weights>, where weights is the engine's own name or the one whose
    checkpoints it borrows (sotaku runs LDT weights)."""
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
        model = build_model(ckpt, weights)
        state = checkpoints.load_state_dict(ckpt, device="cpu")
        reason = _misfit(ckpt, weights, model, {k: tuple(v.shape) for k, v in state.items()})
        if reason:
            raise EngineError(reason)
        model.load_state_dict(state)
    except EngineError:
        raise
    except checkpoints.CheckpointError as exc:
        raise EngineError(str(exc)) from None
    except (RuntimeError, TypeError, KeyError, ValueError) as exc:
        raise EngineError(f"{checkpoint}: weights do not fit the architecture in config.json "
                          f"({str(exc).splitlines()[0][:160]})") from None
    return model.to(device).eval(), ckpt
