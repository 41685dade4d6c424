"""Small pieces every trainer shares: threads, the time-budgeted learning-rate
schedule, progress lines and metrics, resumable state files, the machine line
of a card, messages on stderr."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import torch

from .. import __version__


def set_threads(threads: int) -> None:
    if threads > 0:
        torch.set_num_threads(threads)


def lr_at(progress: float, peak: float, warmup: float = 0.05, floor: float = 0.1) -> float:
    """Linear warmup then cosine decay to floor*peak; progress in [0, 1]."""
    if progress < warmup:
        return peak * progress / warmup
    t = min(1.0, (progress - warmup) / max(1e-9, 1 - warmup))
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t)))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {os.cpu_count()} cores, {gpu}; torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), Python {platform.python_version()}, rsolve {__version__}")


class RunLog:
    """Progress lines on stderr (every `every` seconds) and every record in metrics.jsonl."""

    def __init__(self, folder: Path, every: float = 30.0, quiet: bool = False):
        folder.mkdir(parents=True, exist_ok=True)
        self.file = open(folder / "metrics.jsonl", "a", encoding="utf-8")
        self.every, self.quiet, self._last = every, quiet, 0.0

    def log(self, record: dict, force: bool = False) -> None:
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        now = time.monotonic()
        if not self.quiet and (force or now - self._last >= self.every):
            self._last = now
            print("  ".join(f"{k} {_fmt(v)}" for k, v in record.items()), file=sys.stderr, flush=True)

    def close(self) -> None:
        self.file.close()


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def save_state(path: Path, state: dict) -> None:
    """Resumable training state (tensors and plain values), written atomically."""
    tmp = path.with_name(path.name + ".partial")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_state(path: Path) -> dict:
    # weights_only: never unpickle arbitrary objects, even from our own run folder
    return torch.load(path, map_location="cpu", weights_only=True)


def format_duration(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def note(message: str, rank: int = 0) -> None:
    """A message on stderr (from rank 0 only, under torchrun)."""
    if rank == 0:
        print(message, file=sys.stderr, flush=True)
