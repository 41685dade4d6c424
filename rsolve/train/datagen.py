"""Training data made on the spot: `rsolve train sudoku|maze` with no --data
generates a training and a validation set (rsolve.generate), reproducible by seed,
and caches them under $XDG_CACHE_HOME/rsolve/data keyed by kind, size, count and
seed, so the next run (a resume included) reads the same files."""

from __future__ import annotations

import os
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from ..puzzles.dataset import Example, write_examples
from .common import note
from .config import GENERATED_SIZES

SHAPES = {"sudoku": "9x9", "maze": "30x30"}  # the sizes the shipped presets read


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME", "")
    # the XDG spec says a relative XDG_CACHE_HOME is to be ignored
    return Path(base if os.path.isabs(base) else Path.home() / ".cache") / "rsolve" / "data"


def ensure(cfg, rank: int = 0) -> None:
    """Fill cfg.data (and cfg.val_data, if not given) with generated sets when no
    --data was given; only rank 0 generates (the caller waits for it)."""
    if cfg.data is not None:
        return
    train_n, val_n = GENERATED_SIZES[cfg.kind]
    train_n, val_n = cfg.train_size or train_n, cfg.val_size or val_n
    cfg.data = str(generated(cfg.kind, train_n, cfg.seed, "train", write=rank == 0))
    if cfg.val_data is None:
        cfg.val_data = str(generated(cfg.kind, val_n, cfg.seed, "val", write=rank == 0))


def generated(kind: str, count: int, seed: int, part: str, write: bool = True) -> Path:
    """The cached file of `count` generated puzzles of `kind` from seed `seed`
    (part "train" or "val": two independent streams), made first if missing."""
    path = cache_dir() / f"{kind}-{SHAPES[kind]}-{part}-n{count}-seed{seed}.jsonl"
    if path.exists() or not write:
        if write:
            note(f"{part} data: {path} (cached)")
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    note(f"generating {count} {kind} puzzles for {part} (seed {seed}) into {path}")
    with _terminate_cleanly():
        write_examples(path, _progress(_examples(kind, count, f"{part}/{seed}"), count))
    return path


@contextmanager
def _terminate_cleanly():
    """SIGTERM while generating unwinds like Ctrl-C (exit 143), so the half-written temp file
    is removed instead of left in the cache."""
    def stop(signum, frame):
        raise SystemExit(128 + signum)

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, stop) if main else None
    try:
        yield
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)


def _examples(kind: str, count: int, stream: str):
    from ..generate import iter_maze, iter_sudoku  # light modules, but only needed here

    if kind == "sudoku":
        for i, (p, s, r) in enumerate(iter_sudoku(seed=stream, count=count)):
            yield Example(p, s, r.rating, f"generated:{stream}:{i}")
    elif kind == "maze":
        for i, (p, s) in enumerate(iter_maze(seed=stream, count=count)):
            yield Example(p, s, None, f"generated:{stream}:{i}")
    else:
        raise ValueError(f"cannot generate {kind!r} puzzles")


def _progress(items, total: int, every: float = 10.0):
    """Pass items through, with a progress line (and ETA) every `every` seconds."""
    start = last = time.monotonic()
    for i, item in enumerate(items, 1):
        yield item
        now = time.monotonic()
        if now - last >= every and i < total:
            last = now
            eta = (now - start) / i * (total - i)
            note(f"  {i}/{total} generated, {i / (now - start):.0f}/s, eta {eta:.0f}s")
    note(f"  {total} generated in {time.monotonic() - start:.0f}s")
