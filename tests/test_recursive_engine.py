"""The trm and hrm engines: batch semantics, decoding, options, refusals of bad
checkpoints, maze tokens. Tiny random networks: they answer wrong, and the
verifier must turn every wrong answer into `abstained`."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rsolve import checkpoints, verify
from rsolve.engines import EngineError, create
from rsolve.devices import can_compile
from rsolve.models import hrm, trm
from rsolve.models.layers import RecursiveOutput
from rsolve.pipeline import Pipeline, SolveConfig
from rsolve.puzzles import Maze, Record, Sudoku
from rsolve.puzzles.dataset import Example, to_token_arrays

torch.set_num_threads(1)
RSOLVE = str(Path(sys.executable).parent / "rsolve")
PUZZLE = "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79"
SOLUTION = "534678912672195348198342567859761423426853791713924856961537284287419635345286179"
HARD = "8..........36......7..9.2...5...7.......457.....1...3...1....68..85...1..9....4.."
MAZE = "S...#\n.##.#\n...#.\n.#..G\n#####"  # 5x5, the tiny maze networks' grid
SMALL_MAZE = "S.#\n..G"  # fits inside it, walled in
TINY = {"trm": dict(dim=16, heads=2, layers=1, ffn_multiple=8, h_cycles=2, l_cycles=2),
        "hrm": dict(dim=16, heads=2, h_layers=1, l_layers=1, ffn_multiple=8)}
MODULES = {"trm": trm, "hrm": hrm}


def tiny(name, kind, **over):
    torch.manual_seed(0)
    shape = dict(seq_len=25, mixer="attention") if kind == "maze" else {}
    if name == "hrm":
        shape.pop("mixer", None)
    return MODULES[name].build(kind, "cpu", **{**TINY[name], **shape, **over})


def save(folder, model, name, kind=None, **extra):
    return checkpoints.save(folder, model.state_dict(), engine=name, kind=kind or model.cfg.kind,
                            architecture=model.cfg.to_dict(), card="test", extra=extra or None).path


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    root = tmp_path_factory.mktemp("recursive")
    return {(n, k): save(root / f"{n}-{k}", tiny(n, k), n) for n in ("trm", "hrm") for k in ("sudoku", "maze")}


def records(*texts):
    return [Record(i, f"t:{i}", Maze.from_rows(t.split("\n")) if "\n" in t else Sudoku.from_string(t))
            for i, t in enumerate(texts)]


def oracle(engine, answers):
    """Replace the network by one whose logits are the one-hot of the given token rows."""
    target = torch.tensor(answers)

    def forward(carry, tokens, h_cycles=None, l_cycles=None):
        rows = (tokens[:, None, :] == target[None]).sum(-1).argmax(-1)  # the answer closest to each input
        logits = torch.nn.functional.one_hot(target[rows], engine.model.cfg.vocab_size).float() * 10
        q = torch.full((len(rows),), -5.0)
        return RecursiveOutput(carry, logits, q, q)

    engine.model.forward = forward


@pytest.mark.parametrize("name", ["trm", "hrm"])
def test_random_network_answers_are_rejected_never_wrong(ckpts, name):
    p = Pipeline(SolveConfig(model=name, checkpoint=str(ckpts[name, "sudoku"]), device="cpu"))
    results = p.run(records(PUZZLE, HARD, "1.3.....2..4.1..", PUZZLE))
    assert len(results) == 4 and [r.index for r in results] == [0, 1, 2, 3]
    for r in results:
        assert r.status in ("abstained", "solved")
        if r.status == "solved":  # only ever with a grid the verifier accepts
            assert verify.check(r.puzzle, r.solution).accepted
    wrong = [r for r in results if r.status == "abstained" and "rejected_by_verifier" in r.stats]
    assert wrong and all(r.stats["steps"] == 16 and r.solution is None for r in wrong)
    assert "no %s network for 4x4 Sudoku" % name in results[2].stats["reason"]


def test_oracle_logits_decode_to_verified_answers(ckpts):
    p = Pipeline(SolveConfig(model="trm", checkpoint=str(ckpts["trm", "sudoku"]), device="cpu"))
    engine = p.engine("sudoku", "trm")
    answer = [int(c) + 1 for c in SOLUTION]
    answer[0] = 3  # the network disagrees with the given 5 in the first cell: the given stays
    oracle(engine, [answer])
    (r,) = p.run(records(PUZZLE))
    assert r.status == "solved" and r.verified and r.solution.to_string() == SOLUTION
    assert r.stats["disagreed_with_puzzle"] == 1
    for name in ("trm", "hrm"):
        p = Pipeline(SolveConfig(model=name, checkpoint=str(ckpts[name, "maze"]), device="cpu"))
        engine = p.engine("maze", name)
        solved = [bfs_solution(MAZE), bfs_solution(SMALL_MAZE)]
        oracle(engine, [padded(engine, m) for m in solved])
        got = p.run(records(MAZE, SMALL_MAZE))
        assert [g.status for g in got] == ["solved", "solved"], [g.stats for g in got]
        assert [g.solution.grid for g in got] == [s.grid for s in solved]


def bfs_solution(text):
    from rsolve import api

    return api.solve(text + "\n", model="bfs")[0].solution


def padded(engine, solved):
    """Token row of a solved smaller maze placed in the network's grid (path cells kept)."""
    n, row = engine.side, [1] * engine.side ** 2
    for r in range(solved.height):
        row[r * n:r * n + solved.width] = solved.tokens()[r * solved.width:(r + 1) * solved.width]
    return row


def test_steps_halt_and_cycles_options(ckpts, tmp_path):
    puzzles = [Sudoku.from_string(PUZZLE), Sudoku.from_string(HARD)]
    e = create("trm", "sudoku", checkpoint=str(ckpts["trm", "sudoku"]), device="cpu", steps=3)
    assert [a.stats["steps"] for a in e.solve_batch(puzzles)] == [3, 3]
    model = tiny("trm", "sudoku")
    e = create("trm", "sudoku", checkpoint=str(save(tmp_path / "t5", model, "trm",
                                                     training={"max_steps_per_puzzle": 5})), device="cpu")
    assert e.solve_batch(puzzles)[0].stats["steps"] == 5
    for name in ("trm", "hrm"):
        e = create(name, "sudoku", checkpoint=str(ckpts[name, "sudoku"]), device="cpu", halt="q")
        with torch.no_grad():
            e.model.io.q_head.bias.copy_(torch.tensor([5.0, -5.0]))  # the Q head says halt at once
        a = e.solve_batch(puzzles)
        assert [x.stats["steps"] for x in a] == [1, 1] and a[0].stats["halted_by_q"]
        e.opt["halt"] = "max"
        a = e.solve_batch(puzzles)
        assert a[0].stats["steps"] == 16 and a[0].stats["q_halt_at"] == 1 and not a[0].stats["halted_by_q"]
    e = create("trm", "sudoku", checkpoint=str(ckpts["trm", "sudoku"]), device="cpu", halt="verify")
    oracle(e, [[int(c) + 1 for c in SOLUTION]])
    assert e.solve_batch(puzzles[:1])[0].stats["steps"] == 1
    calls = {}
    for cycles in (None, 3):
        e = create("trm", "sudoku", checkpoint=str(ckpts["trm", "sudoku"]), device="cpu", steps=2, cycles=cycles)
        inner, calls[cycles] = e.model._recursion, 0

        def counted(*a, inner=inner, cycles=cycles):
            calls[cycles] += 1
            return inner(*a)

        e.model._recursion = counted
        e.solve_batch(puzzles[:1])
    assert calls == {None: 4, 3: 6}  # h_cycles 2 (the checkpoint's) or 3, per step, 2 steps
    a = create("hrm", "sudoku", checkpoint=str(ckpts["hrm", "sudoku"]), device="cpu", steps=2,
               precision="bf16").solve_batch(puzzles[:1])[0]
    from rsolve.devices import native_bf16  # bf16 only where the hardware has it, else fp32

    assert a.stats["precision"] == ("bf16" if native_bf16("cpu") else "fp32") and a.stats["steps"] == 2
    with pytest.raises(EngineError, match="choose from max, q, verify"):
        create("trm", "sudoku", checkpoint=str(ckpts["trm", "sudoku"]), halt="never")


def one_line_error(**kw) -> str:
    with pytest.raises(EngineError) as info:
        create(**kw)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_bad_checkpoints_are_one_line_errors(ckpts, tmp_path, monkeypatch):
    good = ckpts["trm", "sudoku"]
    assert "for sudoku puzzles, not maze" in one_line_error(name="trm", kind="maze", checkpoint=str(good))
    assert "for model 'trm', not 'hrm'" in one_line_error(name="hrm", kind="sudoku", checkpoint=str(good))
    tampered = save(tmp_path / "tampered", tiny("trm", "sudoku"), "trm")
    weights = tampered / checkpoints.WEIGHTS
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert "checksum" in one_line_error(name="trm", kind="sudoku", checkpoint=str(tampered))
    # a TRM config under the hrm label: keys HRMConfig does not have
    foreign = save(tmp_path / "foreign", tiny("trm", "sudoku"), "hrm")
    assert "not one for model 'hrm'" in one_line_error(name="hrm", kind="sudoku", checkpoint=str(foreign))
    # right keys, other sizes: the weights do not fit
    arch = tiny("trm", "sudoku").cfg.to_dict()
    misfit = checkpoints.save(tmp_path / "misfit", tiny("trm", "sudoku").state_dict(), engine="trm", kind="sudoku",
                              architecture={**arch, "dim": 32}, card="test").path
    assert "do not fit" in one_line_error(name="trm", kind="sudoku", checkpoint=str(misfit))
    monkeypatch.setattr(checkpoints, "find_default", lambda engine, kind: None)
    assert "rsolve train maze --model hrm" in one_line_error(name="hrm", kind="maze")
    # the command line: exit 2, one line, no traceback
    for args, bad in ((["-k", "sudoku"], tampered), ([], misfit)):
        p = subprocess.run([RSOLVE, "solve", "-", "-m", "trm", "--checkpoint", str(bad), *args], input=PUZZLE,
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
        assert ("checksum" if bad == tampered else "do not fit") in p.stderr.splitlines()[0]
        if args:
            assert p.stderr.count("\n") == 1
    p = subprocess.run([RSOLVE, "info", str(misfit)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "do not fit" in p.stderr
    p = subprocess.run([RSOLVE, "info", str(good)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "ok - model trm" in p.stdout


def test_maze_tokens_round_trip(ckpts):
    e = create("hrm", "maze", checkpoint=str(ckpts["hrm", "maze"]), device="cpu")
    maze, solved = Maze.from_rows(MAZE.split("\n")), bfs_solution(MAZE)
    assert Maze.from_tokens(e._tokens(maze), maze.width) == maze
    inputs, labels = to_token_arrays([Example(maze, solved)])
    assert e._tokens(maze) == inputs[0].tolist() == e._tokens(solved)  # a drawn path is cleared
    answer, disagree = e._decode(labels[0].tolist(), maze)
    assert answer == solved and disagree == 0
    small = Maze.from_rows(SMALL_MAZE.split("\n"))
    grid = e._tokens(small)
    assert grid[:3] == small.tokens()[:3] and grid[5:8] == small.tokens()[3:] and grid.count(1) == 25 - 5
    assert e._decode(grid, small) == (small, 0)
    too_big = Maze.from_rows(["S.....", "#####G"])
    (a,) = e.solve_batch([too_big])
    assert a.status == "abstained" and "2x6 maze" in a.reason
    json.dumps(a.stats)


def test_solve_cli_steps_and_halt_flags(ckpts):
    """`--steps` and `--halt` reach the trm/hrm engines; engines without them refuse clearly."""
    for name in ("trm", "hrm"):
        p = subprocess.run([RSOLVE, "solve", "-", "-m", name, "-c", str(ckpts[name, "sudoku"]), "--steps", "3",
                            "--halt", "max", "-f", "jsonl", "-q"], input=HARD, capture_output=True, text=True,
                           timeout=120)
        assert p.returncode == 1, p.stderr  # a tiny random network does not solve it
        assert json.loads(p.stdout)["stats"]["steps"] == 3
    p = subprocess.run([RSOLVE, "solve", "-", "-m", "trm", "-c", str(ckpts["trm", "sudoku"]), "--halt", "never"],
                       input=HARD, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stderr and "halt" in p.stderr
    p = subprocess.run([RSOLVE, "solve", "-", "-m", "sat", "--steps", "3"], input=HARD, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stderr and "steps" in p.stderr


@pytest.mark.skipif(not can_compile("cpu"), reason="torch.compile needs a C++ compiler")
def test_compiled_network_gives_the_same_answers(ckpts):
    puzzles = [Sudoku.from_string(HARD), Sudoku.from_string(PUZZLE)]
    plain = create("trm", "sudoku", checkpoint=str(ckpts["trm", "sudoku"]), device="cpu", steps=2)
    fast = create("trm", "sudoku", checkpoint=str(ckpts["trm", "sudoku"]), device="cpu", steps=2, compile="on")
    assert fast.run is not fast.model
    for a, b in zip(plain.solve_batch(puzzles), fast.solve_batch(puzzles)):
        timeless = [{k: v for k, v in x.stats.items() if k != "seconds"} for x in (a, b)]
        assert a.solution == b.solution and timeless[0] == timeless[1]
