"""Reformulations of the TRM training step, each timed against the code as it is in the
same run (README "Training speed": what was tried at the official TRM Sudoku size).

Each variant patches one piece of rsolve.models for this process only, then times the
trainer's step (bench/recursive_train_speed.py's setup) on random tokens:
  base        the code as it is
  split       gate and up as two products over halves of the one weight (no chunk -> cat)
  left        the token mixer as W @ x, without transposes
  bf16stream  the carry and inputs cast to bf16 under autocast (as the official code runs)
  frms        torch's fused F.rms_norm
  fn          silu(gate) * up as one autograd function that saves only its input
  ratsilu     silu from a rational fit of tanh (FMAs and one division instead of exp and one)
  leftng      the left product (as `left`) only in the recursions without gradient
  ratleftng   both of the last two
  fastexp     inductor's vectorized exp swapped for ATen's faster exp_u20 (a patch of torch internals)
  autotune    torch.compile's max-autotune: inductor's C++ GEMM templates where they time faster

Usage: python bench/trm_step_variants.py [--variants base,split,...] [--compile] [--batch 256]
           [--micro-batch 0] [--steps 2] [--warmup 1] [--threads 2]
One process per variant (the patches do not mix); samples/s to stdout.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

VARIANTS = ("base", "split", "left", "bf16stream", "frms", "fn", "ratsilu", "leftng", "ratleftng", "fastexp",
            "autotune")


class SwiGLUProduct(torch.autograd.Function):
    """silu(gate) * up from the (..., 2i) product; the backward fills both halves of one
    gradient buffer and recomputes silu from the saved input."""

    @staticmethod
    def forward(ctx, gu):
        gate, up = gu.chunk(2, dim=-1)
        ctx.save_for_backward(gu)
        return F.silu(gate) * up

    @staticmethod
    def backward(ctx, grad):
        (gu,) = ctx.saved_tensors
        gate, up = gu.chunk(2, dim=-1)
        d = torch.empty_like(gu)
        d_gate, d_up = d.chunk(2, dim=-1)
        s = torch.sigmoid(gate)
        torch.mul(grad, gate * s, out=d_up)
        torch.mul(grad * up, s * (1 + gate * (1 - s)), out=d_gate)
        return d


def rational_silu(x):
    """x * sigmoid(x) with sigmoid(x) = (1 + tanh(x/2)) / 2 and tanh a [9/6] rational fit on |y| <= 9
    (abs error 2.9e-6): FMAs and one division instead of exp and a division."""
    y = (x * 0.5).clamp(-9.0, 9.0)
    s = y * y
    p = y * (0.9999995573 + s * (0.1267161148 + s * (0.002654588427 + s * (6.842382393e-06 - s * 5.557374942e-09))))
    q = 1.0 + s * (0.4600469413 + s * (0.02267341438 + s * 0.0001913240717))
    return x * (0.5 + 0.5 * (p / q))


def patch(variant: str) -> None:
    from rsolve.models import layers, trm

    if variant == "autotune":  # inductor's own C++ GEMMs (AMX micro-kernels, fused epilogues) where faster
        import torch._inductor.config as inductor

        inductor.max_autotune, inductor.max_autotune_gemm_backends = True, "CPP,ATEN"
    if variant == "fastexp":
        from torch._inductor.codegen import cpp

        cpp.CppVecOverrides.exp = staticmethod(lambda x: f"{x}.exp_u20()")
    if variant in ("ratsilu", "ratleftng"):
        def swiglu(self, x):
            gate, up = self.gate_up(x).chunk(2, dim=-1)
            return self.down(rational_silu(gate.float()).to(up.dtype) * up)
        layers.SwiGLU.forward = swiglu
    if variant in ("leftng", "ratleftng"):
        silu = rational_silu if variant == "ratleftng" else F.silu
        mixer_base = layers.TokenMixer.forward

        def mixer(self, x):
            if torch.is_grad_enabled():
                return mixer_base(self, x)
            gate, up = torch.matmul(self.mlp.gate_up.weight, x).chunk(2, dim=1)
            return torch.matmul(self.mlp.down.weight, (silu(gate.float()).to(up.dtype) * up))
        layers.TokenMixer.forward = mixer

    if variant == "split":
        def swiglu(self, x):
            w = self.gate_up.weight
            half = w.shape[0] // 2
            return self.down(F.silu(F.linear(x, w[:half])) * F.linear(x, w[half:]))
        layers.SwiGLU.forward = swiglu
    elif variant == "left":
        def mixer(self, x):
            gate, up = torch.matmul(self.mlp.gate_up.weight, x).chunk(2, dim=1)
            return torch.matmul(self.mlp.down.weight, F.silu(gate) * up)
        layers.TokenMixer.forward = mixer
    elif variant == "bf16stream":
        recursion = trm.TRM._recursion

        def cast(self, x, y, z, n, rope, noise):
            if torch.is_autocast_enabled("cpu"):
                x, y, z = x.bfloat16(), y.bfloat16(), z.bfloat16()
            return recursion(self, x, y, z, n, rope, noise)
        trm.TRM._recursion = cast
    elif variant == "frms":
        def rms(x, eps=1e-5, dim=-1):
            if dim == -1:
                return F.rms_norm(x, (x.shape[-1],), eps=eps)
            return F.rms_norm(x.transpose(-1, -2), (x.shape[-2],), eps=eps).transpose(-1, -2)
        layers.rms_norm = rms
    elif variant == "fn":
        layers.SwiGLU.forward = lambda self, x: self.down(SwiGLUProduct.apply(self.gate_up(x)))


def run_one(a) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from recursive_train_speed import setup  # the speed bench's stepper on random tokens

    from rsolve.devices import resolve_device
    from rsolve.train.common import set_threads

    patch(a.run)
    set_threads(a.threads)
    cfg, stepper, draw, slots, gen = setup("trm", "sudoku", "paper", "bf16", a.compile, a.batch,
                                           resolve_device("cpu"), micro_batch=a.micro_batch)
    for _ in range(a.warmup):
        slots, _ = stepper.step(slots, draw, cfg.lr, gen)
    t = time.perf_counter()
    for _ in range(a.steps):
        slots, _ = stepper.step(slots, draw, cfg.lr, gen)
    print(f"{a.batch * a.steps / (time.perf_counter() - t):.2f}", flush=True)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--compile", action="store_true")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--micro-batch", type=int, default=0, help="slots per pass (0: the whole batch)")
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--run", choices=VARIANTS, help=argparse.SUPPRESS)  # the child process's variant
    a = p.parse_args(argv)
    if a.run:
        return run_one(a)
    print("| variant | compile | batch | samples/s |\n|---|---|---:|---:|", flush=True)
    for v in a.variants.split(","):
        if v not in VARIANTS:
            p.error(f"unknown variant {v!r}: {', '.join(VARIANTS)}")
        args = [sys.executable, __file__, "--run", v, "--batch", str(a.batch), "--micro-batch", str(a.micro_batch),
                "--steps", str(a.steps), "--warmup", str(a.warmup), "--threads", str(a.threads)]
        args += ["--compile"] if a.compile else []
        done = subprocess.run(args, capture_output=True, text=True)
        rate = done.stdout.strip().splitlines()[-1] if done.returncode == 0 and done.stdout.strip() else \
            f"failed (exit {done.returncode}: {(done.stderr.strip().splitlines() or [''])[-1][:80]})"
        print(f"| {v} | {'on' if a.compile else 'off'} | {a.batch} | {rate} |", flush=True)


if __name__ == "__main__":
    main()
