"""The grid network for mazes (rsolve.models.gridnet), its BFS training targets,
the TRM grid mixer, the descent labels and the maze curriculum options."""

import random

import networkx as nx
import numpy as np
import pytest
import torch

from rsolve import verify
from rsolve.generate import generate_maze
from rsolve.lattice.maze import FREE, MazeDomain, search_fields
from rsolve.models import gridnet, ldt, trm
from rsolve.models.layers import GridMixer, count_parameters
from rsolve.puzzles import Maze
from rsolve.puzzles.grid import START_TOKEN, descent_path
from rsolve.puzzles.dataset import Example
from rsolve.train.ldt_config import LDTTrainConfig
from rsolve.train.ldt_grid import stage
from rsolve.train.recursive import TokenSet


def _graph(maze: Maze, allowed) -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from(i for i in range(len(maze.grid)) if allowed[i])
    g.add_edges_from((i, j) for i in g for j in maze.neighbours(i) if j in g)
    return g


def _mazes(n, size=8, seed=3):
    rng = random.Random(seed)
    return [generate_maze(rng, size, size, min_path=size) for _ in range(n)]


def test_search_fields_match_networkx_on_states_with_forced_prefixes():
    rng = random.Random(0)
    for puzzle, solution in _mazes(12):
        domain = MazeDomain(puzzle.height, puzzle.width)
        cand = domain.encode([puzzle])[0][0].numpy()
        path = solution.ordered_path()
        k = rng.randrange(0, len(path) - 2)  # (a prefix beside G would walk on into G)
        cand[path[1:k + 1], FREE] = False  # force a prefix of the label path
        f = search_fields(cand, puzzle.start, puzzle.goal, puzzle.height, puzzle.width)
        end = path[k]
        allowed = cand[:, 1].copy()
        allowed[path[:k]] = False
        g = _graph(puzzle, allowed)
        to_goal = nx.single_source_shortest_path_length(g, puzzle.goal)
        from_end = nx.single_source_shortest_path_length(g, end)
        rest = to_goal[end]
        assert f["rest"] == rest == len(path) - 1 - k
        on = {i for i in g if i in to_goal and i in from_end and to_goal[i] + from_end[i] == rest}
        assert set(np.flatnonzero(f["on"]).tolist()) == on
        assert all(f["to_goal"][i] == to_goal.get(i, -1) for i in range(len(puzzle.grid)))


def test_descent_path_is_optimal_and_steps_to_the_first_nearer_neighbour():
    for puzzle, _ in _mazes(10):
        allowed = [ch != "#" for ch in puzzle.grid]
        path = descent_path(allowed, puzzle.start, puzzle.goal, puzzle.height, puzzle.width)
        dist = nx.single_source_shortest_path_length(_graph(puzzle, allowed), puzzle.goal)
        assert len(path) - 1 == dist[puzzle.start] and path[-1] == puzzle.goal
        for a, b in zip(path, path[1:]):
            first = next(j for j in puzzle.neighbours(a) if dist.get(j, -1) == dist[a] - 1)
            assert b == first
        assert verify.check(puzzle, puzzle.with_path(path[1:-1])).accepted


def test_trm_maze_labels_are_descent_paths_of_each_view():
    examples = [Example(p, s) for p, s in _mazes(6)]
    tokens = TokenSet("maze", examples)
    x, y = tokens.take(list(range(6)), random.Random(1))
    for px, py in zip(x.tolist(), y.tolist()):
        puzzle, answer = Maze.from_tokens(px, tokens.width), Maze.from_tokens(py, tokens.width)
        assert verify.check(puzzle, answer).accepted  # valid and optimal in the view
        allowed = [t != 1 for t in px]
        path = descent_path(allowed, px.index(START_TOKEN), puzzle.goal, puzzle.height, puzzle.width)
        assert answer.path_cells() == frozenset(path[1:-1])


def test_grid_network_runs_on_any_shape_and_is_equivariant_to_rotation():
    torch.manual_seed(0)
    model = gridnet.build(dim=8, hidden=8).eval()
    for h, w in ((5, 7), (12, 12)):
        keep, value, conflict = model(torch.rand(2, h * w, 7), loops=5, shape=(h, w))
        assert keep[0].shape == (2, h * w, 2) and conflict[0].shape == (2,)
        assert value[0].shape == (2, h * w, 2 + 3)  # the two values, then the phase logits
        assert torch.equal(value[0][..., 1], keep[0][..., 1]) and torch.equal(value[0][..., 0], -keep[0][..., 1])
    bits = torch.rand(1, 6, 6, 7)
    turned = bits.rot90(1, (1, 2))
    a = model(bits.reshape(1, 36, 7), loops=9, shape=(6, 6))[0][0].view(1, 6, 6, 2)
    b = model(turned.reshape(1, 36, 7), loops=9, shape=(6, 6))[0][0].view(1, 6, 6, 2)
    assert torch.allclose(a.rot90(1, (1, 2)), b, atol=1e-5)


def test_settling_stops_when_the_state_stands_still(monkeypatch):
    model = gridnet.build(dim=8, hidden=8).eval()
    calls = []
    step = model._step
    monkeypatch.setattr(model, "_step", lambda h, reads: calls.append(1) or step(h, reads))
    with torch.no_grad():
        model.mix.bias[8:] = -1e4  # the update gate shut: nothing ever moves
        model(torch.rand(3, 100, 7), shape=(10, 10))
    assert len(calls) == gridnet.SETTLE_EVERY
    with torch.no_grad():
        model.mix.bias[8:] = 1e4  # wide open: the state keeps moving, so the cap ends the pass
        model.mix.weight.normal_(0, 3)
    calls.clear()
    model(torch.rand(1, 16, 7), shape=(4, 4))
    assert len(calls) >= gridnet.iterations_for(4, 4)


def test_rollout_tracks_only_its_window():
    model = gridnet.build(dim=8, hidden=8)
    out = model.rollout(torch.rand(2, 25, 7), (5, 5), silent=6, tracked=3)
    assert len(out) == 3 and out[0][0].shape == (2, 25, gridnet.AUX)
    out[-1][1].sum().backward()
    assert model.message.weight.grad is not None and model.message.weight.grad.abs().sum() > 0


def test_ldt_maze_cpu_preset_is_the_grid_network():
    model = ldt.build("maze", "cpu")
    assert isinstance(model, gridnet.GridNet) and count_parameters(model) < 10_000
    clone = ldt.from_config(model.cfg.to_dict())
    clone.load_state_dict(model.state_dict())
    assert isinstance(ldt.build("maze", "paper"), ldt.LDT)
    with pytest.raises(ValueError, match="no setting 'heads'"):
        LDTTrainConfig(kind="maze", overrides={"heads": 2})


def test_trm_grid_mixer_is_local_and_refused_off_mazes():
    model = trm.build("maze", "cpu")
    assert model.cfg.mixer == "grid" and trm.grid_shape(model.cfg) == (30, 30, 1)
    with pytest.raises(ValueError, match="grid mixer"):
        trm.build("sudoku", "cpu", mixer="grid")
    mixer = GridMixer(4, 3, 3, 1)
    x = torch.zeros(1, 10, 4)
    x[0, 1 + 4] = 1.0  # only the centre cell of a 3x3 grid holds a signal
    y = mixer(x)
    moved = (y[0, 1:] - mixer(torch.zeros(1, 10, 4))[0, 1:]).abs().sum(-1) > 0
    assert moved.view(3, 3).tolist() == [[False, True, False], [True, False, True], [False, True, False]]


def test_curriculum_stages_and_options():
    assert [stage(p, [10, 20], 0.5) for p in (0.0, 0.24, 0.26, 0.5, 0.9)] == [0, 0, 1, -1, -1]
    assert stage(0.1, [], 0.5) == -1
    assert LDTTrainConfig(kind="maze").sizes == [10, 20]
    assert LDTTrainConfig(kind="maze", curriculum="none").sizes == []
    assert LDTTrainConfig(kind="maze", preset="paper").sizes == []
    assert LDTTrainConfig(kind="maze", curriculum="20,8").sizes == [8, 20]
    for bad, match in (("x", "sizes like"), ("2", "from 4 to 64")):
        with pytest.raises(ValueError, match=match):
            LDTTrainConfig(kind="maze", curriculum=bad)
    with pytest.raises(ValueError, match="only maze"):
        LDTTrainConfig(kind="sudoku", curriculum="10")


def test_split_mix_equals_the_concatenated_layer():
    """The pass computes the input's share of the mix layer once; the update is the
    layer applied to (state, neighbour max, input) all the same."""
    import torch.nn.functional as F

    from rsolve.models.layers import neighbour_max

    torch.manual_seed(1)
    model = gridnet.build(dim=8, hidden=12)
    h, x = torch.rand(2, 5, 6, 8) * 2 - 1, model.embed(torch.rand(2, 30, 7), (5, 6))
    a = model.mix(torch.cat([h, neighbour_max(model.message(h)), x], -1))
    hidden, gate = a.split([12, 8], -1)
    expect = h + torch.sigmoid(gate) * (torch.tanh(model.out(F.gelu(hidden))) - h)
    assert torch.allclose(model.step(h, x), expect, atol=1e-6)


def test_walk_steps_to_the_neighbour_one_phase_nearer_goal():
    """Beside the chain's end, a cell on another shortest path one step behind can carry
    the higher path logit; the distance-to-G phase (mod 3) after the two values decides."""
    puzzle = Maze.from_rows(["S..", "...", "..G"])
    domain = MazeDomain(3, 3)
    cand, _, static = domain.encode([puzzle])
    value = torch.zeros(1, 9, 2 + 3)
    value[0, :, 1], value[0, :, 0] = 1.0, -1.0
    value[0, 3, 1], value[0, 3, 0] = 5.0, -5.0  # cell below S: the higher path logit
    phases = {0: 1, 1: 0, 3: 2}  # S in phase 1; right of S one step nearer G (0), below one farther (2)
    for cell, ph in phases.items():
        value[0, cell, 2 + ph] = 3.0
    assert domain.branch_cells(cand, static, value[..., :2]).argmin().item() == 3  # path logits alone
    assert domain.branch_cells(cand, static, value).argmin().item() == 1


def test_grid_networks_read_shapes_by_cell_count():
    from rsolve.engines.neural import network_shapes

    shapes = network_shapes(ldt.build("maze", "cpu").cfg.to_dict(), "maze")
    assert (30, 30) in shapes and (128, 128) in shapes and (200, 100) not in shapes and (2, 8000) in shapes
    assert (1, 50) not in shapes and (129, 128) not in shapes
