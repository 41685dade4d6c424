"""Batched TRM/HRM inference speed on this machine, against its matmul peak.

    OMP_NUM_THREADS=1 python bench/recursive_infer_speed.py --quick      # < 1 minute
    OMP_NUM_THREADS=2 python bench/recursive_infer_speed.py              # sudoku and maze, more batch sizes
    ... --compile --presets cpu,paper --steps 8                          # also compiled, and the paper widths

1. Peak: a large square torch.matmul, fp32 and bf16, best of a few (GFLOP/s = 2n^3/t).
2. For each preset (cpu; --presets cpu,paper adds the published widths) of TRM
   and HRM (mazes unless --quick), random weights (speed
   does not depend on what the network learned), eval mode, inference_mode: the
   time of one supervision step for a batch of B puzzles, in fp32 and under
   bf16 autocast. puzzles/s assumes every puzzle runs all `--steps` supervision
   steps (halt=max, the official evaluation); halting earlier divides the cost.
3. FLOPs per puzzle per step: torch's FlopCounterMode (matmuls) plus the
   attention products it does not see on CPU (QK^T and AV: 4*S^2*dim per call,
   counted with forward hooks). The fraction of peak is achieved / peak for the
   same precision and thread count.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from rsolve.models import hrm, trm
from rsolve.models.layers import Attention, count_parameters


def best_seconds(fn, budget: float, min_reps: int = 2) -> float:
    """Fastest of repeated calls (after one warm-up) within about `budget` seconds."""
    fn()
    best, spent, reps = float("inf"), 0.0, 0
    while reps < min_reps or spent < budget:
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best, spent, reps = min(best, dt), spent + dt, reps + 1
    return best


def matmul_peak(n: int, dtype, budget: float) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    return 2 * n ** 3 / best_seconds(lambda: torch.matmul(a, b), budget) / 1e9


def step_flops(model) -> float:
    """FLOPs of one supervision step for one puzzle."""
    attention = []

    def hook(module, args, output):
        b, s, d = args[0].shape
        attention.append(4 * b * s * s * d)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, Attention)]
    tokens = torch.ones(1, model.cfg.seq_len, dtype=torch.long)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(model.initial_carry(1), tokens)
    for h in handles:
        h.remove()
    return counter.get_total_flops() + sum(attention)


def step_seconds(run, model, batch: int, bf16: bool, budget: float) -> float:
    """Best time of one step of `run` (the model or its compiled form)."""
    tokens = torch.randint(1, model.cfg.vocab_size, (batch, model.cfg.seq_len))
    carry = model.initial_carry(batch)

    def step():
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            run(carry, tokens)

    return best_seconds(step, budget)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="Sudoku only, 3 batch sizes, short timings.")
    ap.add_argument("--steps", type=int, default=16, help="Supervision steps per puzzle (for puzzles/s).")
    ap.add_argument("--batches", default=None, help="Comma-separated batch sizes.")
    ap.add_argument("--compile", action="store_true", help="Also time torch.compile'd models.")
    ap.add_argument("--presets", default="cpu", help="cpu,paper (paper: the published widths).")
    ap.add_argument("--kinds", default=None, help="sudoku,maze (default: both; --quick: sudoku).")
    args = ap.parse_args()
    torch.manual_seed(0)
    quick = args.quick
    budget = 0.3 if quick else 2.0
    batches = [int(b) for b in (args.batches or ("1,16,64" if quick else "1,8,32,128,256")).split(",")]
    kinds = args.kinds.split(",") if args.kinds else (("sudoku",) if quick else ("sudoku", "maze"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); random weights (speed only)")
    n = 1024 if quick else 2048
    peak = {p: matmul_peak(n, dt, budget) for p, dt in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
    print(f"matmul peak ({n}x{n}): fp32 {peak['fp32']:.1f} GFLOP/s, bf16 {peak['bf16']:.1f} GFLOP/s")
    print(f"{'model':<18} {'params':>8} {'GFLOP/step':>10} {'prec':>5} {'compiled':>8} {'batch':>6} {'ms/step':>9} "
          f"{'puzzles/s':>10} {'GFLOP/s':>8} {'of peak':>8}")
    for kind, preset in [(k, p) for k in kinds for p in args.presets.split(",")]:
        for module in (trm, hrm):
            model = module.build(kind, preset).eval()
            name = f"{module.__name__.rsplit('.', 1)[1]}-{kind}" + ("-paper" if preset == "paper" else "")
            flops = step_flops(model)
            for compiled in (False, True) if args.compile else (False,):
                # a fixed batch shape per call, as the engine's first step sees it
                run = torch.compile(model, dynamic=False) if compiled else model
                for prec in ("fp32", "bf16"):
                    for b in batches:
                        if kind == "maze" and b > 64:
                            continue  # 900 tokens: large batches only measure memory traffic
                        t = step_seconds(run, model, b, prec == "bf16", budget)
                        achieved = flops * b / t / 1e9
                        print(f"{name:<18} {count_parameters(model):>8} {flops / 1e9:>10.3f} {prec:>5} "
                              f"{'yes' if compiled else 'no':>8} {b:>6} "
                              f"{t * 1e3:>9.1f} {b / (t * args.steps):>10.2f} {achieved:>8.1f} "
                              f"{achieved / peak[prec]:>8.1%}", flush=True)


if __name__ == "__main__":
    main()
