"""The ptrm engine: noise on z only, chunk-independent rollouts, the selection rules
(on a scripted network), verifier-first early stopping, the eval report, bad options.
Tiny random TRM networks and fake forwards: fast, and deterministic."""

import pytest
import torch
from typer.testing import CliRunner

from rsolve import api, checkpoints, verify
from rsolve.cli import app
from rsolve.cli.data import _print_report
from rsolve.engines import EngineError, create
from rsolve.engines.ptrm import Rollout, pick_verify
from rsolve.models import trm
from rsolve.models.layers import RecursiveOutput
from rsolve.pipeline import Pipeline, SolveConfig
from rsolve.puzzles import Record, Sudoku
from rsolve.puzzles.dataset import Example

torch.set_num_threads(1)
PUZZLE = "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79"
SOLUTION = "534678912672195348198342567859761423426853791713924856961537284287419635345286179"
HARD = "8..........36......7..9.2...5...7.......457.....1...3...1....68..85...1..9....4.."


def _wrong(cell: int) -> str:
    """SOLUTION with one blank cell of PUZZLE changed: a duplicate, so the verifier rejects it."""
    digit = str(int(SOLUTION[cell]) % 9 + 1)
    return SOLUTION[:cell] + digit + SOLUTION[cell + 1:]


W1, W2 = _wrong(2), _wrong(3)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.manual_seed(0)
    model = trm.build("sudoku", "cpu", dim=16, heads=2, layers=1, ffn_multiple=8, h_cycles=2, l_cycles=2)
    folder = tmp_path_factory.mktemp("ptrm") / "trm-tiny"
    return str(checkpoints.save(folder, model.state_dict(), engine="trm", kind="sudoku",
                                architecture=model.cfg.to_dict(), card="test").path)


def engine(ckpt, **options):
    # scripted networks answer in the puzzle's own frame, so views are off unless a test sets them
    return create("ptrm", "sudoku", checkpoint=ckpt, device="cpu", options={"views": False, **options})


def logits_of(answers: list[str]) -> torch.Tensor:
    tokens = torch.tensor([[int(c) + 1 for c in a] for a in answers])
    return torch.nn.functional.one_hot(tokens, 11).float() * 10


def script(e, plan: list[list[tuple[str, float]]]):
    """Replace the network: row j (rollout j of the one puzzle) answers plan[j][step - 1]."""
    calls = []

    def forward(carry, tokens, h_cycles=None, l_cycles=None):
        step = len(calls)
        calls.append(len(tokens))
        rows = plan[:len(tokens)]  # one puzzle: its rollouts all run, or all stop, together
        q = torch.tensor([r[step][1] for r in rows])
        return RecursiveOutput(carry, logits_of([r[step][0] for r in rows]), q, q)

    e.model.forward = forward
    return calls


# rollout 0: wrong, highest final q; 1 and 2 end on the solution (2 reaches it at step 2 first);
# 3 is wrong but never changes
PLAN = [[(W1, 5.0), (W2, 5.0), (W1, 5.0), (W1, 5.0)],
        [(W2, 1.0), (W1, 1.0), (W2, 1.0), (SOLUTION, 1.0)],
        [(W1, 0.0), (SOLUTION, 0.0), (W1, 0.0), (SOLUTION, 0.0)],
        [(W2, -1.0), (W2, -1.0), (W2, -1.0), (W2, -1.0)]]


@pytest.mark.parametrize("select, rollout, answer", [("q", 0, W1), ("vote", 1, SOLUTION), ("converge", 3, W2),
                                                     ("verify", 2, SOLUTION)])
def test_rules_pick_the_hand_computed_rollout(tiny, select, rollout, answer):
    e = engine(tiny, samples=4, steps=4, sigma=0, select=select, report=True)
    script(e, PLAN)
    (a,) = e.solve_batch([Sudoku.from_string(PUZZLE)])
    assert a.stats["pick"]["rollout"] == rollout and a.solution.to_string() == answer
    assert a.stats["picks"] == {"q": False, "vote": True, "converge": False, "verify": True}
    assert a.stats["pass"] is True and a.stats["forwards"] == 16


def test_verify_stops_the_puzzle_at_its_first_accepted_step(tiny):
    e = engine(tiny, samples=4, steps=4, sigma=0)
    calls = script(e, PLAN)
    (a,) = e.solve_batch([Sudoku.from_string(PUZZLE)])
    assert calls == [4, 4] and a.stats["forwards"] == 8 < 4 * 4
    assert a.stats["pick"] == {"rollout": 2, "step": 2} and a.solution.to_string() == SOLUTION


def test_verify_ties_at_one_step_go_to_the_higher_q():
    first = [Rollout(0, k, None, accepted_at=s, accepted_q=q) for k, (s, q) in enumerate([(3, 9), (2, 1), (2, 4)])]
    assert pick_verify(first).index == 2 and pick_verify([Rollout(0, 0, None)]) is None


def test_noise_goes_to_z_only_and_differs_per_rollout(tiny):
    e = engine(tiny, samples=3, steps=1, sigma=0.5, select="q")
    seen, real = [], e.model.forward
    e.model.forward = lambda carry, tokens, **kw: (seen.append(carry), real(carry, tokens, **kw))[1]
    e.solve_batch([Sudoku.from_string(PUZZLE)])
    y0, z0 = e.model.initial_carry(3)
    (y, z), = seen
    assert torch.equal(y, y0)
    noise = z - z0
    assert 0.45 < noise.std().item() < 0.55 and not torch.allclose(noise[0], noise[1])


@pytest.mark.parametrize("select", ["q", "vote", "converge"])
def test_chunked_rows_give_the_same_picks_as_one_batch(tiny, select):
    puzzles = [Sudoku.from_string(PUZZLE), Sudoku.from_string(HARD)]
    runs = [engine(tiny, samples=5, steps=3, sigma=0.3, select=select, report=True, rows=rows).solve_batch(puzzles)
            for rows in (3, 256)]
    for small, big in zip(*runs):
        assert small.stats["pick"] == big.stats["pick"] and small.stats["picks"] == big.stats["picks"]
        assert small.stats["q_halt"] == pytest.approx(big.stats["q_halt"], abs=1e-3)


def test_verify_never_proposes_an_unverified_answer(tiny):
    p = Pipeline(SolveConfig(model="ptrm", checkpoint=tiny, device="cpu", options={"samples": "3", "steps": "2"}))
    results = p.run([Record(0, "t:0", Sudoku.from_string(HARD))])
    assert results[0].status == "abstained" and results[0].solution is None
    assert "rejected_by_verifier" not in results[0].stats and results[0].stats["forwards"] == 6


def test_oracle_network_is_accepted_at_step_one(tiny):
    e = engine(tiny, samples=8, steps=4)
    e.model.forward = lambda carry, tokens, **kw: RecursiveOutput(
        carry, logits_of([SOLUTION] * len(tokens)), torch.zeros(len(tokens)), torch.zeros(len(tokens)))
    (a,) = e.solve_batch([Sudoku.from_string(PUZZLE)])
    assert a.stats["forwards"] == 8 and a.stats["steps"] == 1
    assert verify.check(Sudoku.from_string(PUZZLE), a.solution).accepted


def test_eval_report_has_the_five_rates(tiny, capsys):
    examples = [Example(Sudoku.from_string(t), None, None, f"t:{i}") for i, t in enumerate([PUZZLE, HARD])]
    (r,) = api.evaluate(examples, ["ptrm"], checkpoint=tiny, device="cpu",
                        options={"report": "true", "samples": "2", "steps": "2"})
    assert set(r.to_dict()["picks_pct"]) == {"pass", "q", "vote", "converge", "verify"}
    _print_report("set", 2, [r])
    out = capsys.readouterr().out
    assert all(f"{rule}@K" in out for rule in ("pass", "q", "vote", "converge", "verify"))
    assert max(len(line) for line in out.splitlines()) <= 100


@pytest.mark.parametrize("args, says", [(["--samples", "0"], "samples"), (["--sigma", "-1"], "sigma"),
                                        (["--select", "best"], "choose from"), (["-O", "rows=0"], "rows")])
def test_bad_options_are_one_line_usage_errors(tiny, args, says):
    res = CliRunner().invoke(app, ["solve", "-m", "ptrm", "-c", tiny, *args], input=PUZZLE + "\n")
    assert res.exit_code == 2 and says in res.stderr and len(res.stderr.strip().splitlines()) == 1
    with pytest.raises(EngineError, match=says):
        engine(tiny, **dict([(args[0].lstrip("-"), args[1])] if args[0] != "-O" else [args[1].split("=")]))


def test_rows_per_forward_stay_under_the_cap(tiny):
    e = engine(tiny, samples=7, steps=2, select="q", rows=3)
    sizes, real = [], e.model.forward
    e.model.forward = lambda carry, tokens, **kw: (sizes.append(len(tokens)), real(carry, tokens, **kw))[1]
    out = e.solve_batch([Sudoku.from_string(PUZZLE), Sudoku.from_string(HARD)])
    assert max(sizes) == 3 and sum(sizes) == 2 * 7 * 2 == sum(a.stats["forwards"] for a in out)


def test_views_map_each_rollouts_answer_back_to_the_puzzle(tiny):
    """An oracle network that solves whatever view it is shown (and answers the unviewed
    row wrong): the viewed rollouts' answers, mapped back, must agree on the solution."""
    from rsolve.verify.sudoku import sat_for

    shown = []

    def oracle(carry, tokens, **kw):
        rows = ["".join(str(max(t - 1, 0)) for t in row) for row in tokens.tolist()]
        shown.extend(rows)
        solved = [W1 if r == PUZZLE.replace(".", "0") else sat_for(9).solve(Sudoku.from_string(r)).to_string()
                  for r in rows]
        return RecursiveOutput(carry, logits_of(solved), torch.zeros(len(rows)), torch.zeros(len(rows)))

    e = engine(tiny, samples=6, steps=1, sigma=0, select="vote", report=True, views=True)
    e.model.forward = oracle
    (a,) = e.solve_batch([Sudoku.from_string(PUZZLE)])
    assert shown[0] == PUZZLE.replace(".", "0") and len(set(shown)) == 6  # rollout 0 as given, the rest viewed
    assert a.solution.to_string() == SOLUTION and a.stats["pick"]["rollout"] != 0
    assert a.stats["picks"] == {"q": False, "vote": True, "converge": False, "verify": True}


def test_views_off_or_one_sample_reads_the_puzzle_as_given(tiny):
    puzzles = [Sudoku.from_string(PUZZLE), Sudoku.from_string(HARD)]
    plain = engine(tiny, samples=1, steps=2, select="q").solve_batch(puzzles)
    viewed = engine(tiny, samples=1, steps=2, select="q", views=True).solve_batch(puzzles)
    assert [a.stats["q_halt"] for a in plain] == [a.stats["q_halt"] for a in viewed]


def test_mazes_run_with_the_maze_noise_default(tmp_path):
    from rsolve.puzzles import Maze

    torch.manual_seed(0)
    model = trm.build("maze", "cpu", dim=16, heads=2, layers=1, ffn_multiple=8, h_cycles=2, l_cycles=2, seq_len=25)
    ckpt = checkpoints.save(tmp_path / "m", model.state_dict(), engine="trm", kind="maze",
                            architecture=model.cfg.to_dict(), card="test").path
    for views in (False, True):
        e = create("ptrm", "maze", checkpoint=str(ckpt), device="cpu",
                   options={"samples": 2, "steps": 2, "views": views})
        (a,) = e.solve_batch([Maze.from_rows("S...#\n.##.#\n...#.\n.#..G\n#####".split("\n"))])
        assert e.sigma == 1.0 and a.stats["rollouts"] == 2 and a.status in ("found", "abstained")


def test_maze_views_map_a_found_path_back(tmp_path):
    """An oracle that finds a shortest path in whatever view of the maze it is shown, and
    draws none for the unviewed row: the accepted answer comes from a viewed rollout."""
    from rsolve.puzzles import Maze
    from rsolve.puzzles.grid import PATH_TOKEN
    from rsolve.puzzles.maze import bfs_path

    torch.manual_seed(0)
    model = trm.build("maze", "cpu", dim=16, heads=2, layers=1, ffn_multiple=8, h_cycles=2, l_cycles=2, seq_len=25)
    ckpt = checkpoints.save(tmp_path / "m", model.state_dict(), engine="trm", kind="maze",
                            architecture=model.cfg.to_dict(), card="test").path
    maze = Maze.from_rows("S...#\n.##.#\n...#.\n.#..G\n#####".split("\n"))
    chars = {1: "#", 2: ".", 3: "S", 4: "G"}

    def oracle(carry, tokens, **kw):
        out = []
        for row in tokens.tolist():
            drawn = list(row)
            if row != maze.tokens():
                seen = Maze.from_rows(["".join(chars[t] for t in row[r * 5:r * 5 + 5]) for r in range(5)])
                for cell in bfs_path(seen):
                    drawn[cell] = PATH_TOKEN
            out.append(drawn)
        logits = torch.nn.functional.one_hot(torch.tensor(out), model.cfg.vocab_size).float() * 10
        return RecursiveOutput(carry, logits, torch.zeros(len(out)), torch.zeros(len(out)))

    e = create("ptrm", "maze", checkpoint=str(ckpt), device="cpu", options={"samples": 4, "steps": 1, "views": True})
    e.model.forward = oracle
    (a,) = e.solve_batch([maze])
    assert a.status == "found" and a.stats["pick"]["rollout"] != 0 and verify.check(maze, a.solution).accepted
