"""Where tensors run: the one place that turns `--device auto|cpu|cuda` into a
torch device and knows what the hardware does natively (bf16, compiling).

Engines and trainers both call this; the CLI calls `check_device` before any
record is read, so `--device cuda` on a machine without a GPU is one usage
error, not a batch of failed records. Torch is imported only when needed.
"""

from __future__ import annotations

import os
import shutil

DEVICES = ("auto", "cpu", "cuda")


class DeviceError(ValueError):
    """A device that does not exist here; the message is one line."""


def check_device(name: str | None) -> str:
    """The device name, checked: unknown names and an absent GPU raise DeviceError."""
    name = (name or "auto").lower()
    if name not in DEVICES:
        raise DeviceError(f"unknown device {name!r} (choose from {', '.join(DEVICES)})")
    if name == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise DeviceError("--device cuda: no CUDA device is available on this machine (use cpu or auto)")
    return name


def resolve_device(name: str | None = "auto"):
    """The torch.device for a checked name (auto: CUDA when present, else the CPU)."""
    import torch

    name = check_device(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def device_type(device) -> str:
    return device.type if hasattr(device, "type") else str(device).split(":")[0]


def can_compile(device) -> bool:
    """torch.compile needs a C++ compiler on the CPU (CUDA builds bring Triton)."""
    import torch

    if device_type(device) == "cuda" and torch.cuda.is_available():
        return True
    return any(shutil.which(c) for c in (os.environ.get("CXX", ""), "g++", "c++", "clang++") if c)


def native_bf16(device) -> bool:
    """Whether bf16 matmuls run in hardware here (CUDA with bf16, or a CPU with AMX or
    AVX512-BF16). Elsewhere bf16 is emulated and slower than fp32, so callers that
    default to bf16 fall back to fp32."""
    import torch

    if device_type(device) == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags
