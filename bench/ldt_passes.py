"""What one LDT network pass buys on a validation split, per setting: eliminations
beyond the sound rules, how many of them were wrong (the solution's value dropped),
how often the value head's first choice at the search's branch cell is the
solution's value (a wrong one is a branch the search must undo; the share a uniform
pick among the cell's candidates would get is printed beside it), and the pass's
CPU cost, so settings are compared by eliminations per CPU-second.
States: each labelled puzzle closed under the sound rules (puzzles the rules solve
alone are skipped), under a random symmetry, projected at the engine's threshold.

Usage: python bench/ldt_passes.py DATASET [CHECKPOINT] [--loops 2,3,4,6] [--threads N]
(nothing else on the machine)."""

from __future__ import annotations

import argparse
import time

import torch

from rsolve import checkpoints
from rsolve.engines.neural import load_model
from rsolve.lattice import domain_for
from rsolve.lattice.rounds import SymmetryPool, choose_branch, project, run_network
from rsolve.puzzles.dataset import load_examples


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("checkpoint", nargs="?")
    ap.add_argument("--loops", default="2,3,4,6")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, ckpt = load_model("ldt", "sudoku", a.checkpoint, torch.device("cpu"))
    threshold = float(ckpt.config.get("threshold", 0.1))
    examples = [e for e in load_examples(a.dataset) if e.solution is not None]
    domain = domain_for("sudoku", "cpu", side=examples[0].puzzle.side)
    top, fixed, static = domain.encode([e.puzzle for e in examples])
    root = domain.close(top, static)
    open_rows = ~domain.decided(root, static)
    root, fixed, static = root[open_rows], fixed[open_rows], static[open_rows]
    truth = torch.tensor([[v - 1 for v in e.solution.cells] for e, keep in zip(examples, open_rows) if keep])
    solution = torch.nn.functional.one_hot(truth, domain.values).bool()
    undecided = (root & ~fixed[..., None]).sum().item()
    print(f"{a.dataset}: {len(root)} states open after the sound rules ({undecided} candidates), "
          f"{ckpt.path.name}, threshold {threshold}, {a.threads} threads")
    rows = torch.arange(len(root))
    print(f"{'loops':>5} {'elim/state':>10} {'wrong':>6} {'branch value right':>18} {'(uniform)':>9} "
          f"{'ms/state':>9} {'elim per CPU-s':>15}")
    for loops in [int(x) for x in a.loops.split(",")]:
        pool = SymmetryPool(domain, 256, seed=0)
        gen = torch.Generator().manual_seed(0)
        times = []
        with torch.inference_mode():
            for _ in range(a.repeats):
                t0 = time.perf_counter()
                keep, value, _ = run_network(model, domain, pool, root, static, loops, gen)
                times.append(time.perf_counter() - t0)
        projected, dropped = project(root, fixed, keep.float(), threshold)
        # the engine branches after the projection and the closure; here, on the root state
        cell, choice = choose_branch(domain, root, static, value.float(), 0.0)
        right = (choice == truth[rows, cell]).float().mean().item()
        uniform = (1 / root[rows, cell].sum(-1).float()).mean().item()
        wrong = (solution & root & ~projected).sum().item()
        seconds = min(times)
        per_state = dropped.sum().item() / len(root)
        print(f"{loops:>5} {per_state:10.2f} {wrong:>6} {right:18.3f} {uniform:9.3f} {1e3 * seconds / len(root):9.3f} "
              f"{dropped.sum().item() / (seconds * a.threads):15.0f}")


if __name__ == "__main__":
    main()
