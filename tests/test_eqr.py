"""EqR's training recipe for TRM (rsolve.train --eqr): damped latent updates that are
part of the network, noise on every latent update, and a random latent start."""

import pytest
import torch

from rsolve.models import trm
from rsolve.train.recursive import Slots, refill
from rsolve.train.recursive_config import RecursiveTrainConfig

TINY = dict(dim=16, heads=2, layers=1, ffn_multiple=16, h_cycles=2, l_cycles=2, prefix_len=1)


def _pair(**arch):
    torch.manual_seed(0)
    model = trm.build("sudoku", "cpu", **TINY, **arch).eval()
    tokens = torch.randint(1, 11, (3, 81))
    return model, tokens


def test_damping_moves_the_latent_part_of_the_way_and_defaults_to_plain_trm():
    model, tokens = _pair()
    carry = model.initial_carry(3)
    plain = model(carry, tokens)
    model.cfg.damping = 0.5
    damped = model(carry, tokens)
    assert not torch.allclose(plain.carry[1], damped.carry[1])
    model.cfg.damping = 1.0
    assert torch.equal(model(carry, tokens).carry[1], plain.carry[1])
    with pytest.raises(ValueError, match="damping"):
        trm.build("sudoku", "cpu", **TINY, damping=0.0)


def test_latent_noise_draws_from_the_global_stream_and_is_replayable():
    model, tokens = _pair()
    carry = model.initial_carry(3)
    torch.manual_seed(5)
    a = model(carry, tokens, latent_noise=0.01)
    torch.manual_seed(5)
    b = model(carry, tokens, latent_noise=0.01)
    clean = model(carry, tokens)
    assert torch.equal(a.carry[1], b.carry[1]) and not torch.equal(a.carry[1], clean.carry[1])


def test_random_start_moves_only_the_refilled_latents():
    model, _ = _pair()
    cells = torch.zeros(4, 81, dtype=torch.long)
    carry = tuple(c + 3.0 for c in model.initial_carry(4))  # mid-puzzle states, unlike the start
    halted = torch.tensor([True, False, True, False])
    slots = Slots(cells, cells, torch.ones(4, dtype=torch.long), halted, carry)
    draw = lambda n: (torch.ones(n, 81, dtype=torch.long), torch.ones(n, 81, dtype=torch.long))
    out = refill(slots, model, draw, start_noise=1.0, generator=torch.Generator().manual_seed(0))
    y, z = out.carry
    fixed_y, fixed_z = model.initial_carry(1)
    assert torch.equal(y[0], fixed_y[0]) and torch.equal(z[1], carry[1][1]) and torch.equal(z[3], carry[1][3])
    shift = (z[[0, 2]] - fixed_z).std()
    assert 0.9 < shift < 1.1  # N(0, 1) on the refilled latents


def test_eqr_sets_its_recipe_and_an_explicit_value_wins():
    cfg = RecursiveTrainConfig(kind="sudoku", model="trm", eqr=True, latent_noise=0.02)
    assert (cfg.latent_noise, cfg.start_noise, cfg.overrides["damping"]) == (0.02, 1.0, 0.95)
    cfg = RecursiveTrainConfig(kind="sudoku", model="trm", eqr=True, overrides={"damping": 0.8})
    assert cfg.overrides["damping"] == 0.8
    with pytest.raises(ValueError, match="for --model trm"):
        RecursiveTrainConfig(kind="sudoku", model="hrm", eqr=True)
    with pytest.raises(ValueError, match="--latent-noise is out of range"):
        RecursiveTrainConfig(kind="sudoku", model="trm", latent_noise=-1)
