"""TRM and HRM model modules: published sizes, shapes on real Sudoku and maze
tokens, gradients only through the last recursion, config round trips."""

import random

import pytest
import torch

from rsolve.generate import generate_maze, iter_sudoku
from rsolve.models import hrm, trm
from rsolve.models.layers import count_parameters

torch.set_num_threads(1)

TINY_TRM = dict(dim=32, heads=2, layers=1, ffn_multiple=16, h_cycles=2, l_cycles=2, prefix_len=2)
TINY_HRM = dict(dim=32, heads=2, h_layers=1, l_layers=1, ffn_multiple=16, h_cycles=2, l_cycles=2)


def sudoku_tokens(count: int = 2) -> torch.Tensor:
    # HRM/TRM layout: 0 pad, 1 blank, 2-10 digits
    return torch.tensor([[v + 1 for v in p.cells] for p, _, _ in iter_sudoku(seed=3, count=count)])


def maze_tokens(count: int = 2) -> torch.Tensor:
    rng = random.Random(5)
    return torch.tensor([generate_maze(rng)[0].tokens() for _ in range(count)])


def meta_build(module, *args, **kw):
    with torch.device("meta"):  # counts without allocating 27M weights
        return module.build(*args, **kw)


def test_paper_presets_match_published_counts():
    assert count_parameters(meta_build(trm, "sudoku", "paper")) == 5_028_866  # TRM-MLP
    assert count_parameters(meta_build(trm, "sudoku", "paper", mixer="attention")) == 6_828_034  # TRM-Att
    assert count_parameters(meta_build(hrm, "sudoku", "paper")) == 27_275_266
    # maze: same networks, 900 cells and a 6-token vocab
    maze_trm, maze_hrm = meta_build(trm, "maze", "paper"), meta_build(hrm, "maze", "paper")
    assert maze_trm.cfg.seq_len == maze_hrm.cfg.seq_len == 900 and maze_trm.cfg.vocab_size == 6
    assert count_parameters(maze_trm) == 6_822_914 and count_parameters(maze_hrm) == 27_270_146


@pytest.mark.parametrize("module", [trm, hrm])
def test_cpu_presets_are_small(module):
    kinds = ("sudoku",) if module is trm else ("sudoku", "maze")
    for kind in kinds:
        assert 300_000 <= count_parameters(meta_build(module, kind, "cpu")) <= 1_000_000
    if module is trm:  # the maze grid mixer: tens of thousands, like the EqR maze TRMs (40-66K)
        assert 10_000 <= count_parameters(meta_build(trm, "maze", "cpu")) <= 70_000
    with pytest.raises(ValueError):
        module.build("sudoku", "huge")


@pytest.mark.parametrize("module,kind,extra", [
    (trm, "sudoku", dict(mixer="mlp")), (trm, "sudoku", dict(mixer="attention")),
    (trm, "maze", dict(mixer="attention")), (hrm, "sudoku", {}), (hrm, "maze", {}),
])
def test_forward_shapes(module, kind, extra):
    torch.manual_seed(0)
    tiny = TINY_TRM if module is trm else TINY_HRM
    model = module.build(kind, "cpu", **tiny, **extra)
    tokens = sudoku_tokens() if kind == "sudoku" else maze_tokens()
    cfg = model.cfg
    assert tokens.shape == (2, cfg.seq_len) and int(tokens.max()) < cfg.vocab_size
    carry = model.initial_carry(2)
    out = model(carry, tokens)
    assert out.logits.shape == (2, cfg.seq_len, cfg.vocab_size)
    assert out.q_halt.shape == out.q_continue.shape == (2,) and out.q_halt.dtype == torch.float32
    for state in out.carry:
        assert state.shape == (2, cfg.seq_len + cfg.prefix_len, cfg.dim)
        assert not state.requires_grad and state.grad_fn is None
    assert out.logits.requires_grad
    # the Q head starts at halt = continue = -5 (zero weights), so nothing halts early
    assert torch.allclose(out.q_halt, torch.full((2,), -5.0)) and torch.allclose(out.q_continue, out.q_halt)
    # the carry feeds the next supervision step
    assert model(out.carry, tokens).logits.shape == out.logits.shape


def grads(model, out) -> dict:
    model.zero_grad()
    (out.logits.square().mean() + out.q_halt.sum()).backward()
    return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


def saved_tensors(model, carry, tokens, **cycles) -> int:
    """Tensors autograd keeps for backward: counts the graph a call builds."""
    count = 0

    def pack(t):
        nonlocal count
        count += 1
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(carry, tokens, **cycles)
    return count


@pytest.mark.parametrize("mixer", ["mlp", "attention"])
def test_trm_gradient_only_through_last_recursion(mixer):
    torch.manual_seed(1)
    model = trm.build("sudoku", "cpu", **{**TINY_TRM, "mixer": mixer})
    tokens = sudoku_tokens()
    carry = model.initial_carry(2)
    full = model(carry, tokens, h_cycles=3)
    g_full = grads(model, full)
    # the same result as two plain recursions followed by one differentiated one
    before = model(carry, tokens, h_cycles=2).carry
    last = model(before, tokens, h_cycles=1)
    g_last = grads(model, last)
    assert torch.allclose(full.logits, last.logits, atol=1e-6)
    assert g_full.keys() == g_last.keys() == {k for k, _ in model.named_parameters()}
    for k in g_full:
        assert torch.allclose(g_full[k], g_last[k], atol=1e-6), k
    # earlier recursions build no graph: the saved-tensor count ignores T
    assert saved_tensors(model, carry, tokens, h_cycles=4) == saved_tensors(model, carry, tokens, h_cycles=1) > 0


@pytest.mark.parametrize("mixer", ["attention", "mlp"])
def test_hrm_one_step_gradient(mixer):
    torch.manual_seed(2)
    model = hrm.build("sudoku", "cpu", **{**TINY_HRM, "mixer": mixer})
    tokens = sudoku_tokens()
    carry = model.initial_carry(2)
    out = model(carry, tokens)
    g_model = grads(model, out)
    # reference: N*T - 1 low steps and N - 1 high steps without a graph, then one of each
    rope = (model.rope_cos, model.rope_sin) if mixer == "attention" else None
    x = model.io.embed_tokens(tokens)
    z_h, z_l = carry
    with torch.no_grad():
        for _ in range(2):
            z_l = model.low(z_l, z_h + x, rope)
        z_h = model.high(z_h, z_l, rope)
        z_l = model.low(z_l, z_h + x, rope)
    z_l = model.low(z_l, z_h + x, rope)
    z_h = model.high(z_h, z_l, rope)
    logits, q_halt, q_continue = model.io.read(z_h)
    assert torch.allclose(logits, out.logits, atol=1e-6) and torch.allclose(q_continue, out.q_continue)
    g_ref = grads(model, out._replace(logits=logits, q_halt=q_halt))
    assert g_model.keys() == g_ref.keys() == {k for k, _ in model.named_parameters()}
    for k in g_model:
        assert torch.allclose(g_model[k], g_ref[k], atol=1e-6), k
    one = saved_tensors(model, carry, tokens, h_cycles=1, l_cycles=1)
    assert saved_tensors(model, carry, tokens, h_cycles=3, l_cycles=3) == one > 0


@pytest.mark.parametrize("module", [trm, hrm])
def test_config_round_trip_and_reset(module):
    torch.manual_seed(3)
    tiny = TINY_TRM if module is trm else TINY_HRM
    model = module.build("maze", "cpu", **tiny)
    clone = module.from_config(model.cfg.to_dict())
    assert clone.cfg == model.cfg and clone.cfg.kind == "maze"
    clone.load_state_dict(model.state_dict())  # strict: same keys, including the initial states
    tokens = maze_tokens(1)
    carry = model.initial_carry(1)
    assert torch.equal(model(carry, tokens).logits, clone(clone.initial_carry(1), tokens).logits)
    with pytest.raises(TypeError):
        module.from_config({**model.cfg.to_dict(), "bogus": 1})
    # a halted slot restarts from the initial states, the others keep theirs
    states = model(model.initial_carry(2), maze_tokens(2)).carry
    reset = model.reset_carry(states, torch.tensor([True, False]))
    fresh = model.initial_carry(2)
    for r, s, f in zip(reset, states, fresh):
        assert torch.equal(r[0], f[0]) and torch.equal(r[1], s[1])
