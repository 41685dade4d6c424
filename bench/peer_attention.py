"""Peer attention for the LDT Sudoku network, two ways on this CPU: a dense 82x82
scaled-dot-product attention with the peer mask (what the model runs) against
gathering each cell's 21 keys (itself, its 20 peers) plus CLS and attending over
those only (O(81 x 22) scores instead of O(82 x 82)). Both give the same output;
the script checks that, then times each (median of repeats) in the same run.

Usage: python bench/peer_attention.py [BATCH ...]   (nothing else on the machine)"""

from __future__ import annotations

import statistics
import sys
import time

import torch
import torch.nn.functional as F

from rsolve.models import ldt


def gathered(q, k, v, index):
    """Cells attend over CLS + their peers (index: (81, 22) key positions); CLS over all."""
    scale = q.shape[-1] ** -0.5
    kg, vg = k[:, :, index], v[:, :, index]  # (B, H, 81, 22, D)
    cells = q[:, :, 1:, None, :]
    w = torch.softmax((cells * kg).sum(-1) * scale, -1)
    out_cells = (w[..., None] * vg).sum(-2)
    out_cls = F.scaled_dot_product_attention(q[:, :, :1], k, v)
    return torch.cat([out_cls, out_cells], 2)


def median_time(fn, repeats=20):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(batches):
    model = ldt.build("sudoku", "cpu")
    mask = model.attn_mask  # (82, 82): CLS row and column open, cells to their peers
    index = torch.stack([row.nonzero().flatten() for row in mask[1:]])  # (81, 22)
    heads, dim = model.cfg.heads, model.cfg.dim
    print(f"torch threads {torch.get_num_threads()}, dim {dim}, heads {heads}, keys per cell {index.shape[1]}")
    print(f"{'batch':>6} {'dense masked ms':>16} {'gathered ms':>12} {'gathered / dense':>17}")
    for b in batches:
        q, k, v = (torch.randn(b, heads, 82, dim // heads) for _ in range(3))
        with torch.inference_mode():
            ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            assert torch.allclose(ref, gathered(q, k, v, index), atol=1e-5)
            dense = median_time(lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
            sparse = median_time(lambda: gathered(q, k, v, index))
        print(f"{b:>6} {1e3 * dense:16.2f} {1e3 * sparse:12.2f} {sparse / dense:17.2f}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [16, 128, 512])
