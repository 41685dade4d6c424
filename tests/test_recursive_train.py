"""The TRM/HRM trainer: tiny end-to-end runs (checkpoint with EMA weights, resume,
CLI, bad input), the slot and halting logic, augmentation validity, and two
DistributedDataParallel ranks on the CPU ending with identical weights."""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rsolve import checkpoints, verify
from rsolve.generate import iter_maze, iter_sudoku
from rsolve.models import trm
from rsolve.puzzles import Maze, Sudoku
from rsolve.puzzles.dataset import Example, write_examples
from rsolve.train.common import load_state
from rsolve.train.recursive import TokenSet, empty_slots, halt_decision, refill
from rsolve.train.recursive_config import RecursiveTrainConfig
from rsolve.train.recursive_loop import train

RSOLVE = str(Path(sys.executable).parent / "rsolve")
TINY = {"trm": dict(dim=16, heads=2, layers=1, ffn_multiple=16, h_cycles=2, l_cycles=2, prefix_len=1),
        "hrm": dict(dim=16, heads=2, h_layers=1, l_layers=1, ffn_multiple=16, h_cycles=2, l_cycles=1)}
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("recursive")
    sudoku, maze = root / "sudoku.jsonl", root / "maze.jsonl"
    write_examples(sudoku, [Example(p, s, r.rating) for p, s, r in iter_sudoku(seed=5, count=20)])
    write_examples(maze, [Example(p, s) for p, s in iter_maze(seed=5, count=6, height=8, width=8, min_path=8)])
    return {"sudoku": sudoku, "maze": maze, "root": root}


def _cfg(model, files, out, **kw):
    return RecursiveTrainConfig(**{"kind": "sudoku", "model": model, "data": str(files["sudoku"]),
                                   "out": str(out), "max_steps": 3, "batch": 4, "max_steps_per_puzzle": 2,
                                   "precision": "fp32", "val_limit": 4, "overrides": TINY[model],
                                   "command": "test", **kw})


@pytest.mark.parametrize("model", ["trm", "hrm"])
def test_tiny_training_writes_ema_checkpoint_and_resumes(model, data):
    out = data["root"] / f"{model}-ckpt"
    path = train(_cfg(model, data, out))
    ckpt = checkpoints.validate(path, engine=model, kind="sudoku")
    assert ckpt.config["training"]["steps"] == 3 and ckpt.architecture["dim"] == 16
    assert ckpt.config["data_sha256"] and "val_exact" in ckpt.config["validation"]
    card = ckpt.card()
    assert "Command: `test`" in card and "never trained on" in card and "Machine" in card
    state = load_state(out.with_name(out.name + ".run") / "state.pt")
    weights = load_file(str(path / "model.safetensors"))
    ema, raw = state["family"]["ema"]["weights"], state["family"]["model"]
    assert all(torch.equal(weights[k], ema[k]) for k in weights)  # the checkpoint holds the EMA...
    assert any(not torch.equal(weights[k], raw[k]) for k in weights)  # ...not the raw weights
    records = [json.loads(line) for line in (out.parent / f"{out.name}.run" / "metrics.jsonl").open()]
    assert {"loss", "cell_acc", "exact_acc", "halt_acc", "samples_per_s", "eta"} <= set(records[0])
    again = train(_cfg(model, data, out, max_steps=5, resume=True, command="again"))
    config = checkpoints.validate(again).config
    assert config["training"]["steps"] == 5 and config["history"]["commands"] == ["test", "again"]


def test_halted_slots_are_refilled_and_restarted():
    model = trm.build("sudoku", "cpu", **TINY["trm"])
    slots = empty_slots(model, 4, 81, "cpu")
    fresh = iter(range(10, 100))

    def draw(n):
        rows = torch.tensor([[next(fresh)] * 81 for _ in range(n)])
        return rows, rows + 1

    slots = refill(slots, model, draw)  # every slot starts halted
    assert slots.tokens[:, 0].tolist() == [10, 11, 12, 13] and not slots.halted.any()
    out = model(slots.carry, slots.tokens % 11)
    slots.carry, slots.steps = out.carry, slots.steps + 1
    slots.halted = torch.tensor([False, True, False, True])
    after = refill(slots, model, draw)
    assert after.tokens[:, 0].tolist() == [10, 14, 12, 15] and after.labels[1, 0] == 15
    assert after.steps.tolist() == [1, 0, 1, 0]
    init = model.initial_carry(1)[0][0]
    assert torch.equal(after.carry[0][1], init) and torch.equal(after.carry[0][3], init)
    assert torch.equal(after.carry[0][0], out.carry[0][0]) and not torch.equal(after.carry[0][0], init)


def test_halting_rule_max_steps_and_exploration():
    steps = torch.tensor([1, 1, 4, 2])
    q_halt, q_cont = torch.tensor([5.0, -5.0, -5.0, 5.0]), torch.tensor([9.0, -1.0, -9.0, -9.0])
    trm_rule = halt_decision(steps, q_halt, q_cont, 4, explore=0.0, use_continue=False)
    assert trm_rule.tolist() == [True, False, True, True]  # q_halt > 0, or the last step
    hrm_rule = halt_decision(steps, q_halt, q_cont, 4, explore=0.0, use_continue=True)
    assert hrm_rule.tolist() == [False, False, True, True]  # q_halt > q_continue
    many = torch.ones(2000, dtype=torch.long)
    forced = ~halt_decision(many, torch.full((2000,), 5.0), torch.zeros(2000), 16, 0.1, False,
                            torch.Generator().manual_seed(0))
    assert 100 < int(forced.sum()) < 300  # about 10% must go on before halting


@pytest.mark.parametrize("kind", ["sudoku", "maze"])
def test_augmented_solutions_still_solve_augmented_puzzles(kind, data):
    from rsolve.puzzles.dataset import load_examples

    tokens = TokenSet(kind, load_examples(data[kind]))
    x, y = tokens.take(list(range(len(tokens))) * 4, random.Random(1))
    seen = set()
    for px, py in zip(x.tolist(), y.tolist()):
        if kind == "sudoku":
            puzzle, answer = (Sudoku.from_string("".join(".123456789"[t - 1] for t in row)) for row in (px, py))
        else:
            puzzle, answer = Maze.from_tokens(px, tokens.width), Maze.from_tokens(py, tokens.width)
        assert verify.check(puzzle, answer).accepted
        seen.add(tuple(px))
    assert len(seen) > len(tokens)  # the views differ from the originals


def _cli(*args, timeout=120):
    return subprocess.run([RSOLVE, *args], capture_output=True, text=True, env=ENV, timeout=timeout)


def _tiny_args(model):
    return [a for k, v in TINY[model].items() for a in ("--arch", f"{k}={v}")]


def test_cli_trains_trm_end_to_end_and_rejects_bad_input(data):
    out = data["root"] / "cli-trm"
    r = _cli("train", "sudoku", "--model", "trm", "-d", str(data["sudoku"]), "-o", str(out), "--steps", "2",
             "-b", "4", "--max-steps-per-puzzle", "2", "--precision", "fp32", "--threads", "1", *_tiny_args("trm"))
    assert r.returncode == 0, r.stderr
    ckpt = checkpoints.validate(out, engine="trm", kind="sudoku")
    assert ckpt.config["training"]["command"].startswith("rsolve train sudoku --model trm")
    wrong = _cli("train", "sudoku", "--model", "trm", "-d", str(data["maze"]), "-o", str(data["root"] / "x"),
                 "--steps", "1")
    assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1 and "maze puzzles, not sudoku" in wrong.stderr
    kind = _cli("train", "maze", "--model", "trm", "-d", str(data["maze"]), "-o", str(data["root"] / "y"),
                "--steps", "1", "--init", str(out))
    assert kind.returncode == 2 and kind.stderr.count("\n") == 1 and "not maze" in kind.stderr


def test_two_cpu_ranks_keep_identical_weights(data):
    out = data["root"] / "ddp"
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        RSOLVE, "train", "sudoku", "--model", "trm", "-d", str(data["sudoku"]), "-o", str(out),
                        "--steps", "3", "-b", "2", "--micro-batch", "1",  # pieces: one gradient sync per step
                        "--max-steps-per-puzzle", "2", "--precision", "fp32", "--device", "cpu", *_tiny_args("trm")],
                       capture_output=True, text=True, env=ENV, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    records = [json.loads(line) for line in (out.parent / "ddp.run" / "metrics.jsonl").open()]
    check = next(rec for rec in records if "rank_weights_sha256" in rec)
    assert len(check["rank_weights_sha256"]) == 2 and check["ranks_agree"]
    ckpt = checkpoints.validate(out, engine="trm", kind="sudoku")
    assert ckpt.config["world_size"] == 2 and ckpt.config["training"]["steps"] == 3


def test_ranks_take_rank_zeros_precision(monkeypatch):
    # `auto` times bf16 in each process; a rank that measured otherwise follows rank 0
    from rsolve.train import distributed, loop

    cfg = RecursiveTrainConfig(kind="sudoku", data="-", out="-", model="trm", precision="fp32", compile=False)
    sent = []
    monkeypatch.setattr(distributed, "start", lambda device: (1, 2, device))
    monkeypatch.setattr(distributed, "stop", lambda: None)
    monkeypatch.setattr(distributed, "agree", lambda values, world, device: sent.append(values) or [1.0])
    monkeypatch.setattr(loop, "Run", lambda cfg, rank, world, device: type("Done", (), {"run": lambda self: None})())
    loop.train(cfg)
    assert sent == [[0.0]] and cfg.precision == "bf16"


def test_data_of_the_wrong_shape_is_one_clear_error(data):
    small = [Example(p, s) for p, s, _ in iter_sudoku(seed=2, count=4, side=4)]
    big = [Example(p, s) for p, s, _ in iter_sudoku(seed=2, count=4)]
    mixed, four = data["root"] / "mixed.jsonl", data["root"] / "four.jsonl"
    write_examples(mixed, small + big)
    write_examples(four, small)
    with pytest.raises(ValueError, match="another size"):
        train(_cfg("trm", data, data["root"] / "mixed", data=str(mixed)))
    nine = train(_cfg("trm", data, data["root"] / "nine", max_steps=1))
    with pytest.raises(ValueError, match="reads 81 cells"):
        train(_cfg("trm", data, data["root"] / "four", data=str(four), init=str(nine), overrides={}))


def test_preset_recipes_fill_only_what_the_user_left_unset():
    base = dict(data="-", out="-", model="trm", precision="fp32", compile=False)
    sudoku = RecursiveTrainConfig(kind="sudoku", preset="cpu", **base)
    maze = RecursiveTrainConfig(kind="maze", preset="cpu", **base)
    paper = RecursiveTrainConfig(kind="maze", preset="paper", **base)
    assert (sudoku.batch, maze.batch, paper.batch) == (32, 16, 768)
    assert maze.lr == sudoku.lr == 1e-3 and paper.max_steps_per_puzzle == 16
    assert RecursiveTrainConfig(kind="maze", preset="cpu", batch=5, lr=2e-4, **base).batch == 5
    # on a CPU a step runs in pieces of 32 slots, which the cpu batches fit in whole; the paper
    # widths then need no recomputation, but do when the batch runs in one pass; a flag wins
    assert sudoku.micro_batch == maze.micro_batch == paper.micro_batch == 32
    assert paper.recompute is sudoku.recompute is maze.recompute is False
    whole = RecursiveTrainConfig(kind="sudoku", preset="paper", micro_batch=0, **base)
    assert whole.recompute is True
    assert RecursiveTrainConfig(kind="sudoku", preset="paper", micro_batch=0, recompute=False, **base).recompute is False
    with pytest.raises(ValueError, match="--micro-batch"):
        RecursiveTrainConfig(kind="sudoku", preset="cpu", micro_batch=-1, **base)


@pytest.mark.parametrize("model", ["trm", "hrm"])
def test_micro_batches_give_the_whole_batch_step_in_less_memory(model):
    """A batch of 5 run in pieces of 2, 2 and 1 updates the weights as one pass over all 5
    does, carries the same states, halts the same slots, and keeps less for backward."""
    from rsolve.train.recursive_loop import MODULES, Stepper

    def two_steps(micro):
        cfg = RecursiveTrainConfig(kind="sudoku", model=model, data="-", out="-", precision="fp32", compile=False,
                                   batch=5, micro_batch=micro, explore=0.5)
        torch.manual_seed(0)
        net = MODULES[model].build("sudoku", "cpu", **TINY[model])
        stepper = Stepper(net, cfg, torch.device("cpu"))
        draws, gen = torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)

        def draw(n):
            return (torch.randint(1, 11, (n, 81), generator=draws), torch.randint(2, 11, (n, 81), generator=draws))

        saved = []  # bytes kept for backward by each forward pass (one per piece)
        loss = stepper.loss

        def counted(*args):
            saved.append(0)
            return loss(*args)

        def pack(t):
            saved[-1] += t.numel() * t.element_size()
            return t

        stepper.loss = counted
        slots = empty_slots(net, 5, 81, torch.device("cpu"))
        losses = []
        for _ in range(2):
            saved.clear()
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                slots, stats = stepper.step(slots, draw, 1e-2, gen)
            losses.append(stats["loss"])
        return (len(saved), max(saved)), losses, slots, [p.detach().clone() for p in net.parameters()], stats

    whole, split = two_steps(0), two_steps(2)
    assert whole[0][0] == 1 and split[0][0] == 3 and split[0][1] < whole[0][1] * 0.7  # a piece keeps less
    assert split[1] == pytest.approx(whole[1], rel=1e-5)
    for a, b in zip(whole[3], split[3]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)  # Adam: sums in another order
    for a, b in zip(whole[2].carry, split[2].carry):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert torch.equal(whole[2].halted, split[2].halted) and torch.equal(whole[2].steps, split[2].steps)
    assert whole[4]["halted"] == split[4]["halted"] and whole[4]["halt_right"] == split[4]["halt_right"]


@pytest.mark.parametrize("model", ["trm", "hrm"])
def test_recompute_saves_less_for_backward_and_gives_the_same_step(model):
    from rsolve.train.recursive_loop import MODULES, Stepper

    def one_step(on):
        cfg = RecursiveTrainConfig(kind="sudoku", model=model, data="-", out="-", precision="fp32", compile=False,
                                   batch=3, recompute=on)
        torch.manual_seed(0)
        net = MODULES[model].build("sudoku", "cpu", **TINY[model])
        stepper = Stepper(net, cfg, torch.device("cpu"))
        draws = torch.Generator().manual_seed(1)

        def draw(n):
            return (torch.randint(1, 11, (n, 81), generator=draws), torch.randint(2, 11, (n, 81), generator=draws))

        saved = []

        def pack(t):
            saved.append(t.numel() * t.element_size())
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            slots, stats = stepper.step(empty_slots(net, 3, 81, torch.device("cpu")), draw, 1e-3,
                                        torch.Generator().manual_seed(2))
        return sum(saved), stats["loss"], [p.detach().clone() for p in net.parameters()]

    plain, on = one_step(False), one_step(True)
    assert on[0] < plain[0] / 2  # the recursion's intermediates are not kept
    assert on[1] == pytest.approx(plain[1], rel=1e-6)
    for a, b in zip(plain[2], on[2]):
        torch.testing.assert_close(a, b)
