"""Where tensors run: the one place that turns `--device auto|cpu|cuda` into a
torch device and knows what the hardware does natively (bf16, compiling).

Engines and trainers both call this; the CLI calls `check_device` before any
record is read, so `--device cuda` on a machine without a GPU is one usage
error, not a batch of failed records. Torch is imported only when needed.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import sys

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
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        keep_freed_memory()
    return torch.device(name)


_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc's mallopt parameters (malloc.h)
_kept: bool | None = None


def keep_freed_memory() -> bool:
    """Keep the memory torch frees on the CPU inside the process, for its next tensor.

    glibc gives every allocation over 32 MB its own mmap and returns it on free,
    so a training step's activations (tens to hundreds of MB each at the
    published widths) are page-faulted and zeroed by the kernel anew every step:
    at TRM-MLP batch 256 the process spent most of its time in the kernel.
    Without mmap and without trimming, freed blocks go back to malloc's heap
    and the next step reuses them; resident memory stays at its peak instead of
    falling between steps. Linux with glibc only; RSOLVE_MALLOC=system, or a
    malloc setting of the user's own (GLIBC_TUNABLES, MALLOC_*_ variables),
    leaves malloc alone. Returns whether the setting is in force; idempotent."""
    global _kept
    if _kept is None:
        _kept = False
        own = "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", "") or any(
            k.startswith("MALLOC_") and k.endswith("_") for k in os.environ)
        if sys.platform.startswith("linux") and os.environ.get("RSOLVE_MALLOC", "") != "system" and not own:
            try:
                mallopt = ctypes.CDLL(None).mallopt
            except (OSError, AttributeError):  # not glibc (musl has no mallopt)
                return False
            mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
            # -1 disables trimming (mallopt(3)); both return 1 on success
            _kept = mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, -1) == 1
    return _kept


def device_type(device) -> str:
    return device.type if hasattr(device, "type") else str(device).split(":")[0]


def can_compile(device) -> bool:
    """torch.compile needs a C++ compiler on the CPU (CUDA builds bring Triton)."""
    import torch

    if device_type(device) == "cuda" and torch.cuda.is_available():
        return True
    return any(shutil.which(c) for c in (os.environ.get("CXX", ""), "g++", "c++", "clang++") if c)


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return set(next((line for line in f if line.startswith("flags")), "").split())
    except OSError:
        return set()


def native_bf16(device) -> bool:
    """Whether the hardware has bf16 matmul instructions (CUDA with bf16, or a CPU with
    AMX or AVX512-BF16). Without them bf16 is emulated and slower than fp32, so a bf16
    the user asked for falls back to fp32 there."""
    import torch

    if device_type(device) == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    flags = _cpu_flags()
    return "amx_bf16" in flags or "avx512_bf16" in flags


BF16_MIN_GAIN = 1.2  # how much faster than fp32 a bf16 matmul must be to become the default


def bf16_pays(device) -> bool:
    """Whether bf16 should be the default precision here: CUDA with bf16, a CPU with AMX,
    or a CPU whose bf16 matmuls measure at least BF16_MIN_GAIN times as fast as fp32.
    Having AVX512-BF16 alone decides nothing: on an Intel Xeon whose AMX the hypervisor
    hides, bf16 matmuls ran at half fp32's speed (and bf16 training at 0.65x), where other
    CPUs run them faster than fp32; so such a CPU is measured, once per process."""
    if device_type(device) == "cuda":
        return native_bf16(device)
    flags = _cpu_flags()
    return "amx_bf16" in flags or ("avx512_bf16" in flags and bf16_matmul_gain() >= BF16_MIN_GAIN)


_gain: float | None = None


def bf16_matmul_gain() -> float:
    """fp32 time / bf16 time of a 1024^3 matmul on the CPU at the current thread count
    (best of 3, interleaved so a load on the machine slows both alike): about 0.2 s
    with the warm-up on a 2-core Xeon."""
    global _gain
    if _gain is None:
        import time

        import torch

        a = torch.randn(1024, 1024, generator=torch.Generator().manual_seed(0))  # leaves the global RNG alone
        pairs = {dtype: (a.to(dtype), a.t().contiguous().to(dtype)) for dtype in (torch.float32, torch.bfloat16)}
        best = dict.fromkeys(pairs, float("inf"))
        for round_ in range(4):  # the first round warms up (oneDNN builds its kernels)
            for dtype, (x, y) in pairs.items():
                start = time.perf_counter()
                torch.mm(x, y)
                if round_:
                    best[dtype] = min(best[dtype], time.perf_counter() - start)
        _gain = best[torch.float32] / best[torch.bfloat16]
    return _gain
