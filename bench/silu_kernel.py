"""How much a hand-written silu(gate) * up kernel would save over torch.compile's: the
SwiGLU products of the official TRM Sudoku configuration at batch 256 (the token
mixer's 131072 x 1024 and the FFN's 24832 x 3072, bf16), forward only, timed
against the kernel inductor generates for the same expression (README "Training
speed"). The hand kernel is AVX-512 (exp by a polynomial and scalef, the division
by rcp14 and one Newton step), built here with torch.utils.cpp_extension; it is a
measurement, not part of rsolve.

Usage: python bench/silu_kernel.py [--threads 2] [--repeats 10]
Needs an x86 CPU with AVX-512 bf16 and a C++ compiler; about 30 s to build.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
import torch.nn.functional as F

from rsolve.devices import keep_freed_memory

SOURCE = r'''
#include <torch/extension.h>
#include <immintrin.h>
#include <ATen/Parallel.h>
static inline __m512 fast_exp(__m512 x) {
  // exp(x) = 2^(x log2 e): 2^f by a degree-5 polynomial on [-0.5, 0.5], 2^n by scalef
  x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.f)), _mm512_set1_ps(-88.f));
  __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(1.4426950408889634f));
  __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 f = _mm512_sub_ps(t, n);
  __m512 p = _mm512_set1_ps(1.3333558e-3f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.6181291e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5504109e-2f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022651e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9314718e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}
static inline __m512 load_bf16(const at::BFloat16* p) {
  __m256i v = _mm256_loadu_si256((const __m256i*)p);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
}
static inline void store_bf16(at::BFloat16* p, __m512 v) {
  _mm256_storeu_si256((__m256i*)p, (__m256i)_mm512_cvtneps_pbh(v));
}
torch::Tensor silu_mul(torch::Tensor gu) {
  int64_t rows = gu.size(0), width = gu.size(1), half = width / 2;
  auto out = torch::empty({rows, half}, gu.options());
  const at::BFloat16* in = gu.data_ptr<at::BFloat16>();
  at::BFloat16* o = out.data_ptr<at::BFloat16>();
  at::parallel_for(0, rows, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const at::BFloat16* g = in + r * width; const at::BFloat16* u = g + half; at::BFloat16* y = o + r * half;
      for (int64_t c = 0; c < half; c += 16) {
        __m512 gv = load_bf16(g + c), uv = load_bf16(u + c);
        __m512 d = _mm512_add_ps(_mm512_set1_ps(1.f), fast_exp(_mm512_sub_ps(_mm512_setzero_ps(), gv)));
        __m512 r = _mm512_rcp14_ps(d);
        r = _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(2.f)));
        store_bf16(y + c, _mm512_mul_ps(_mm512_mul_ps(gv, r), uv));
      }
    }
  });
  return out;
}
'''


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=10)
    a = p.parse_args(argv)
    if "avx512_bf16" not in open("/proc/cpuinfo").read():
        sys.exit("silu_kernel.py: this CPU has no AVX-512 bf16")
    from torch.utils.cpp_extension import load_inline

    torch.set_num_threads(a.threads)
    keep_freed_memory()
    t = time.perf_counter()
    flags = ["-O3", "-mavx512f", "-mavx512bf16", "-mavx512bw", "-mavx512vl", "-fopenmp"]
    hand = load_inline("rsolve_bench_silu_mul", cpp_sources=SOURCE, functions=["silu_mul"], extra_cflags=flags).silu_mul
    print(f"built in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    inductor = torch.compile(lambda gu: F.silu(gu.chunk(2, -1)[0]) * gu.chunk(2, -1)[1])
    print("| product | inductor ms | hand ms | ratio | outputs differing | largest relative difference |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, rows, width in (("token mixer", 131072, 1024), ("FFN", 24832, 3072)):
        x = (torch.randn(rows, width) * 3).bfloat16()
        with torch.no_grad():
            ours, theirs = hand(x).float(), inductor(x).float()
            differ = (ours != theirs).float().mean().item()
            rel = ((ours - theirs).abs() / theirs.abs().clamp_min(1e-30)).max().item()
            ms = []
            for f in (inductor, hand):
                f(x)
                t = time.perf_counter()
                for _ in range(a.repeats):
                    f(x)
                ms.append((time.perf_counter() - t) / a.repeats * 1000)
        print(f"| {name} {rows} x {width} | {ms[0]:.1f} | {ms[1]:.1f} | {ms[0] / ms[1]:.2f}x | {differ:.4%} "
              f"| {rel:.2g} |")
    print(f"\n{torch.get_num_threads()} threads, torch {torch.__version__}, {a.repeats} calls each after one warm-up")


if __name__ == "__main__":
    main()
