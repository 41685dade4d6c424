"""Training speed of TRM and HRM: samples/s (one sample = one supervision step of one
puzzle, forward + backward + optimizer + EMA) for every preset, in fp32 and bf16,
with and without torch.compile. It times the trainer's own step
(rsolve.train.recursive_loop.Stepper) on random tokens of the right shape: the
compute does not depend on the values.

Usage: python bench/recursive_train_speed.py [--quick] [--models trm,hrm] [--kinds sudoku,maze]
           [--presets cpu,paper] [--precisions fp32,bf16] [--compile off,on] [--batch N]
           [--steps N] [--warmup N] [--device auto|cpu|cuda] [--threads N] [--peak] [--profile N] [--recompute]
           [--micro-batch auto,0,16,...]
--quick: cpu presets only, compile off, maze batch cut to 2, 2 timed steps.
--peak: also a large square matmul in fp32 and bf16 at the same thread count (best of a
few; GFLOP/s = 2n^3/t), and per row the training FLOPs of one sample (torch's
FlopCounterMode over one eager step at batch 2: matmuls of the forward and backward
passes, attention products included on CPU as they are counted there), the achieved
GFLOP/s and its share of that precision's peak: how far a step is from what this
CPU's matmul units allow.
--recompute: train with activation recomputation (the trainer's --recompute); without it the
bench runs without, whatever the preset's default (the paper preset's is on).
--micro-batch: slots per forward and backward pass, a list (0: the whole batch; auto, the
default: the trainer's, 32 on a CPU); each row names the piece size it ran with.
--profile N: after the timed steps, one more step under torch.profiler; its N most costly
operators (self CPU time) go to stderr, to see where a step's time goes (compiled: each fused
kernel by name, which its generated code then records while the timed steps run as well).
Peak resident memory of the process (ru_maxrss) is printed after each row.
Progress goes to stderr, the table (markdown) to stdout.
"""

from __future__ import annotations

import argparse
import itertools
import resource
import sys
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from rsolve.devices import resolve_device
from rsolve.train.common import set_threads
from rsolve.train.recursive import empty_slots
from rsolve.train.recursive_config import RecursiveTrainConfig
from rsolve.train.recursive_loop import MODULES, Stepper


def setup(model_name, kind, preset, precision, compiled, batch, device, recompute=False, micro_batch=None):
    """A stepper on a fresh model, its random-token feed, empty slots and a generator."""
    cfg = RecursiveTrainConfig(kind=kind, data="-", out="-", model=model_name, preset=preset, precision=precision,
                               compile=compiled, batch=batch, device=device.type, recompute=recompute,
                               micro_batch=micro_batch)
    torch.manual_seed(0)
    model = MODULES[model_name].build(kind, preset).to(device)
    stepper = Stepper(model, cfg, device)
    cells, vocab = model.cfg.seq_len, model.cfg.vocab_size
    gen = torch.Generator(device=device).manual_seed(0)  # halting draws on the slots' device

    def draw(n):
        return torch.randint(1, vocab, (n, cells)), torch.randint(1, vocab, (n, cells))

    return cfg, stepper, draw, empty_slots(model, cfg.batch, cells, device), gen


def sample_flops(model_name, kind, preset, device) -> float:
    """Training FLOPs of one sample: one eager fp32 step at batch 2, halved."""
    cfg, stepper, draw, slots, gen = setup(model_name, kind, preset, "fp32", False, 2, device)
    with FlopCounterMode(display=False) as counter:
        stepper.step(slots, draw, cfg.lr, gen)
    return counter.get_total_flops() / 2


def measure(model_name, kind, preset, precision, compiled, batch, steps, warmup, device, profile=0,
            recompute=False, micro_batch=None) -> tuple[float, int, int]:
    if profile and compiled:  # name each fused kernel in the table (else one row per compiled graph)
        import torch._inductor.config

        torch._inductor.config.cpp.enable_kernel_profile = True
    cfg, stepper, draw, slots, gen = setup(model_name, kind, preset, precision, compiled, batch, device, recompute,
                                           micro_batch)
    for _ in range(warmup):  # compiles, allocator and caches warm up here
        slots, _ = stepper.step(slots, draw, cfg.lr, gen)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        slots, _ = stepper.step(slots, draw, cfg.lr, gen)
    if device.type == "cuda":
        torch.cuda.synchronize()
    rate = cfg.batch * steps / (time.perf_counter() - t)
    if profile:
        with torch.profiler.profile() as prof:
            stepper.step(slots, draw, cfg.lr, gen)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=profile), file=sys.stderr, flush=True)
    return rate, cfg.batch, cfg.micro_batch or cfg.batch


def rss_gb() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


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
    p.add_argument("--peak", action="store_true")
    p.add_argument("--profile", type=int, default=0)
    p.add_argument("--recompute", action="store_true")
    p.add_argument("--micro-batch", default="auto",
                   help="slots per forward/backward pass, a list (0: the whole batch; auto: the trainer's default)")
    a = p.parse_args(argv)
    set_threads(a.threads)
    device = resolve_device(a.device)
    presets = (a.presets or ("cpu" if a.quick else "cpu,paper")).split(",")
    compiles = [c == "on" for c in (a.compile or ("off" if a.quick else "off,on")).split(",")]
    steps = a.steps or (2 if a.quick else 5)
    peak = {}
    if a.peak:
        from recursive_infer_speed import matmul_peak  # the inference bench's peak, beside this file
        peak = {"fp32": matmul_peak(2048, torch.float32, 3.0), "bf16": matmul_peak(2048, torch.bfloat16, 3.0)}
        print(f"matmul peak (2048x2048, {torch.get_num_threads()} threads): fp32 {peak['fp32']:.1f} GFLOP/s, "
              f"bf16 {peak['bf16']:.1f} GFLOP/s\n", flush=True)
    extra = " GFLOP/sample | GFLOP/s | of peak |" if peak else ""
    print("| model | kind | preset | precision | compile | batch | micro-batch | samples/s |" + extra, flush=True)
    print("|---|---|---|---|---|---:|---:|---:|" + ("---:|---:|---:|" if peak else ""), flush=True)
    for model_name in a.models.split(","):
        for kind in a.kinds.split(","):
            for preset in presets:
                flops = sample_flops(model_name, kind, preset, device) if peak else 0.0
                # a quick maze step at the cpu preset's batch would take minutes on a CPU
                batch = a.batch or (2 if a.quick and kind == "maze" else None)
                pieces = [None if m == "auto" else int(m) for m in a.micro_batch.split(",")]
                for precision, compiled, micro in itertools.product(a.precisions.split(","), compiles, pieces):
                    warmup = a.warmup or (3 if compiled else 1)
                    print(f"timing {model_name} {kind} {preset} {precision} compile={compiled} "
                          f"micro-batch={'auto' if micro is None else micro} ...", file=sys.stderr, flush=True)
                    rate, b, piece = measure(model_name, kind, preset, precision, compiled, batch, steps, warmup,
                                             device, a.profile, a.recompute, micro)
                    row = (f"| {model_name} | {kind} | {preset} | {precision} | {'on' if compiled else 'off'} "
                           f"| {b} | {piece} | {rate:.2f} |")
                    if peak:
                        achieved = rate * flops / 1e9
                        row += f" {flops / 1e9:.2f} | {achieved:.1f} | {achieved / peak[precision]:.1%} |"
                    print(row, flush=True)
                    print(f"  peak resident memory so far: {rss_gb():.2f} GB", file=sys.stderr, flush=True)
    print(f"\n{device.type}, {torch.get_num_threads()} threads, torch {torch.__version__}; "
          f"{steps} timed steps after warm-up" + ("; activation recomputation" if a.recompute else ""), flush=True)


if __name__ == "__main__":
    main()
