"""What neural engines share: device choice, option checking and loading a
checkpoint folder into a model (safetensors only, never pickle)."""

from __future__ import annotations

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


def load_model(engine: str, kind: str, checkpoint: str | None, device):
    """(model in eval mode, Checkpoint) for `engine` on `kind` puzzles; an EngineError
    with a one-line reason when no usable checkpoint exists."""
    from ..models import ldt as ldt_model

    if checkpoint is None:
        found = checkpoints.find_default("ldt", kind)  # sotaku runs LDT weights too
        if found is None:
            raise EngineError(f"no {engine} checkpoint for {kind} puzzles is installed "
                              f"(train one with `rsolve train {kind} --model ldt` or pass --checkpoint)")
        checkpoint = str(found)
    try:
        ckpt = checkpoints.validate(checkpoint, engine="ldt", kind=kind)
        state = checkpoints.load_state_dict(ckpt, device="cpu")
        model = ldt_model.from_config(ckpt.architecture)
        model.load_state_dict(state)
    except checkpoints.CheckpointError as exc:
        raise EngineError(str(exc)) from None
    except (RuntimeError, TypeError, KeyError, ValueError) as exc:
        raise EngineError(f"{checkpoint}: weights do not fit the architecture in config.json "
                          f"({str(exc).splitlines()[0][:160]})") from None
    return model.to(device).eval(), ckpt
