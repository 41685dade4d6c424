"""Training speed of TRM and HRM: samples/s (one sample = one supervision step of one
puzzle, forward + backward + optimizer + EMA) for every preset, in fp32 and bf16,
with and without torch.compile. It times the trainer's own step
(rsolve.train.recursive_loop.Stepper) on random tokens of the right shape: the
compute does not depend on the values.

Usage: python bench/recursive_train_speed.py [--quick] [--models trm,hrm] [--kinds sudoku,maze]
           [--presets cpu,paper] [--precisions fp32,bf16] [--compile off,on] [--batch N]
           [--steps N] [--warmup N] [--device auto|cpu|cuda] [--threads N]
--quick: cpu presets only, compile off, maze batch cut to 2, 2 timed steps.
Progress goes to stderr, the table (markdown) to stdout.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from rsolve.devices import resolve_device
from rsolve.train.common import set_threads
from rsolve.train.recursive import empty_slots
from rsolve.train.recursive_config import RecursiveTrainConfig
from rsolve.train.recursive_loop import MODULES, Stepper


def measure(model_name, kind, preset, precision, compiled, batch, steps, warmup, device) -> tuple[float, int]:
    cfg = RecursiveTrainConfig(kind=kind, data="-", out="-", model=model_name, preset=preset, precision=precision,
                               compile=compiled, batch=batch, device=device.type)
    torch.manual_seed(0)
    model = MODULES[model_name].build(kind, preset).to(device)
    stepper = Stepper(model, cfg, device)
    cells, vocab = model.cfg.seq_len, model.cfg.vocab_size
    gen = torch.Generator(device=device).manual_seed(0)  # halting draws on the slots' device

    def draw(n):
        return torch.randint(1, vocab, (n, cells)), torch.randint(1, vocab, (n, cells))

    slots = empty_slots(model, cfg.batch, cells, device)
    for _ in range(warmup):  # compiles, allocator and caches warm up here
        slots, _ = stepper.step(slots, draw, cfg.lr, gen)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        slots, _ = stepper.step(slots, draw, cfg.lr, gen)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return cfg.batch * steps / (time.perf_counter() - t), cfg.batch


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--models", default="trm,hrm")
    p.add_argument("--kinds", default="sudoku,maze")
    p.add_argument("--presets", default=None)
    p.add_argument("--precisions", default="fp32,bf16")
    p.add_argument("--compile", default=None, help="off,on")
    p.add_argument("--batch", type=int, default=0, help="slots per step (0: the preset's)")
    p.add_argument("--steps", type=int, default=0)
    p.add_argument("--warmup", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0)
    a = p.parse_args(argv)
    set_threads(a.threads)
    device = resolve_device(a.device)
    presets = (a.presets or ("cpu" if a.quick else "cpu,paper")).split(",")
    compiles = [c == "on" for c in (a.compile or ("off" if a.quick else "off,on")).split(",")]
    steps = a.steps or (2 if a.quick else 5)
    print("| model | kind | preset | precision | compile | batch | samples/s |", flush=True)
    print("|---|---|---|---|---|---:|---:|", flush=True)
    for model_name in a.models.split(","):
        for kind in a.kinds.split(","):
            for preset in presets:
                # a quick maze step at the cpu preset's batch would take minutes on a CPU
                batch = a.batch or (2 if a.quick and kind == "maze" else None)
                for precision in a.precisions.split(","):
                    for compiled in compiles:
                        warmup = a.warmup or (3 if compiled else 1)
                        print(f"timing {model_name} {kind} {preset} {precision} compile={compiled} ...",
                              file=sys.stderr, flush=True)
                        rate, b = measure(model_name, kind, preset, precision, compiled, batch, steps, warmup, device)
                        print(f"| {model_name} | {kind} | {preset} | {precision} | {'on' if compiled else 'off'} "
                              f"| {b} | {rate:.2f} |", flush=True)
    print(f"\n{device.type}, {torch.get_num_threads()} threads, torch {torch.__version__}; "
          f"{steps} timed steps after warm-up", flush=True)


if __name__ == "__main__":
    main()
