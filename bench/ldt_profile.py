"""Where an LDT solve spends its time: wall time per part of a round, measured by
wrapping the parts the search calls (the network, the symmetry mapping around it,
projection, the sound closure, bottom/decided checks, branching, the verifier);
the rest of the engine's time is the search's own bookkeeping (Python per row).

Usage: python bench/ldt_profile.py DATASET [LIMIT] [--stream SLOTS] [-O KEY=VALUE ...]
(run it with nothing else on the machine). Without --stream the puzzles run as one
batch; with it they stream through an engine session of SLOTS puzzles (continuous
batching, as `rsolve solve` and `rsolve eval` run them: 64 slots by default)."""

from __future__ import annotations

import sys
import time
from collections import defaultdict

import torch

from rsolve import engines, verify
from rsolve.engines import ldt_search
from rsolve.lattice import rounds
from rsolve.puzzles.dataset import load_examples

spent: dict = defaultdict(float)
calls: dict = defaultdict(int)
rows: dict = defaultdict(int)  # batch rows per part (first argument's length)


inside: list = []  # the part being timed: a part called from within another counts for the outer one


def timed(name, fn):
    def wrapper(*args, **kwargs):
        if inside and name != "network (model forward)" and name != "symmetry mapping":
            return fn(*args, **kwargs)
        t0 = time.perf_counter()
        inside.append(name)
        try:
            return fn(*args, **kwargs)
        finally:
            inside.pop()
            spent[name] += time.perf_counter() - t0
            calls[name] += 1
            rows[name] += len(args[0]) if args and hasattr(args[0], "shape") and args[0].dim() else 0
    return wrapper


def streamed(engine, puzzles: list, slots: int) -> list:
    """Every puzzle through one engine session, new ones joining as slots free."""
    session, todo, out = engine.session(slots), list(enumerate(puzzles)), [None] * len(puzzles)
    while todo or session.busy():
        room = slots - session.busy()
        if room and todo:
            session.add(todo[:room])
            todo = todo[room:]
        for i, attempt in session.step():
            out[i] = attempt
    return out


def main(argv: list[str]) -> None:
    path, rest = argv[0], argv[1:]
    limit = int(rest.pop(0)) if rest and not rest[0].startswith("-") else 100
    options, stream = {}, 0
    while rest:
        flag, kv = rest.pop(0), rest.pop(0)
        if flag == "--stream":
            stream = int(kv)
            continue
        assert flag == "-O", flag
        key, value = kv.split("=", 1)
        options[key] = value
    puzzles = [e.puzzle for e in load_examples(path)[:limit]]
    engine = engines.create("ldt", puzzles[0].kind, seed=0, options=options)
    domain, pool = engine._domain(puzzles[0])
    model = engine.model
    model.forward = timed("network (model forward)", model.forward)
    for name in ("to_view", "from_view"):
        setattr(pool, name, timed("symmetry mapping", getattr(pool, name)))
    ldt_search.run_network = timed("pass incl. symmetry and inputs", rounds.run_network)
    ldt_search.project = timed("projection", rounds.project)
    ldt_search.choose_branch = timed("branch choice", rounds.choose_branch)
    ldt_search.assign = timed("branch assign", rounds.assign)
    for name, label in (("settle", "sound closure and bottom check"), ("close", "sound closure"),
                        ("bottom", "bottom check"), ("decided", "decided check"),
                        ("decode", "decode")):
        setattr(domain, name, timed(label, getattr(domain, name)))
    ldt_search.verify.check = timed("verifier", verify.check)
    if engine.opt["propagate"] == "none":
        spent.pop("sound closure", None)
        spent.pop("sound closure and bottom check", None)
    t0 = time.perf_counter()
    attempts = engine.solve_batch(puzzles) if not stream else streamed(engine, puzzles, stream)
    total = time.perf_counter() - t0
    solved = sum(a.status == "found" for a in attempts)
    passes = sum(a.stats.get("passes", 0) for a in attempts)
    print(f"{path}: {len(puzzles)} puzzles, {solved} found, {total:.2f} s ({len(puzzles) / total:.2f}/s), "
          f"{passes / len(puzzles):.1f} passes per puzzle, torch threads {torch.get_num_threads()}, "
          f"options {options or 'defaults'}, "
          f"{f'streamed through {stream} slots' if stream else 'one batch'}")
    pass_time = spent.pop("pass incl. symmetry and inputs", 0.0)
    network, mapping = spent["network (model forward)"], spent["symmetry mapping"]
    spent["network inputs and the rest of a pass"] = max(0.0, pass_time - network - mapping)
    parts = sorted(spent.items(), key=lambda kv: -kv[1])
    print(f"{'part':<40} {'seconds':>8} {'share':>7} {'calls':>7} {'rows/call':>9}")
    for name, sec in parts:
        n = calls.get(name, 0)
        print(f"{name:<40} {sec:8.2f} {100 * sec / total:6.1f}% {n:7d} {rows.get(name, 0) / max(n, 1):9.1f}")
    rest_time = total - sum(spent.values())
    print(f"{'search bookkeeping (the rest)':<40} {rest_time:8.2f} {100 * rest_time / total:6.1f}%")


if __name__ == "__main__":
    main(sys.argv[1:])
