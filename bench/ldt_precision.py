"""LDT network speed in fp32 and bf16 on this machine: inference passes and
training steps (forward + backward) of a checkpoint's architecture.

Usage: python bench/ldt_precision.py [CHECKPOINT] [--threads N]
Prints one line per (mode, precision, batch): milliseconds and rows/s. Weights
are the checkpoint's; inputs are random lattice states (speed does not depend
on them).
"""

import argparse
import time

import torch

from rsolve import checkpoints
from rsolve.models.ldt import from_config


def timed(fn, repeat: int) -> float:
    for _ in range(2):
        fn()
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t) / repeat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint", nargs="?", default="checkpoints/ldt-sudoku")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", default="2,16,128")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ckpt = checkpoints.validate(args.checkpoint, engine="ldt")
    model = from_config(ckpt.architecture)
    model.load_state_dict(checkpoints.load_state_dict(ckpt))
    cfg = model.cfg
    print(f"{args.checkpoint}: {ckpt.kind}, width {cfg.dim}, {cfg.layers} blocks x {cfg.loops} loops, "
          f"{args.threads} threads")
    for batch in (int(b) for b in args.batches.split(",")):
        x = (torch.rand(batch, cfg.height * cfg.width, cfg.in_channels) > 0.5).float()
        for prec in ("fp32", "bf16"):
            auto = dict(device_type="cpu", dtype=torch.bfloat16, enabled=prec == "bf16")

            def infer():
                with torch.inference_mode(), torch.autocast(**auto):
                    model.eval()(x)

            def train_step():
                with torch.autocast(**auto):
                    keep, value, conflict = model.train()(x)
                    loss = sum(k.float().mean() + v.float().mean() + c.float().mean()
                               for k, v, c in zip(keep, value, conflict))
                loss.backward()
                model.zero_grad(set_to_none=True)

            for mode, fn in (("inference", infer), ("train step", train_step)):
                sec = timed(fn, 5 if batch > 32 else 10)
                print(f"{mode:<10} {prec}  batch {batch:>4}  {sec * 1000:8.1f} ms  {batch / sec:8.1f} rows/s",
                      flush=True)


if __name__ == "__main__":
    main()
