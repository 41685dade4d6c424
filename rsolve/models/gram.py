"""Generative Recursive reAsoning Model (Baek et al. 2026): HRM's split state
z = (h, l) with a learned Gaussian step in h, so one puzzle has many trajectories.

One transition: `l = f_L(l, h + x)` K times (deterministic), a proposal
`u = f_H(h, l)`, then `h = u + eps`. At inference eps comes from a prior head
p(eps | u); in training from a posterior head q(eps | u, y) that also reads the
target, and the loss pays beta x KL(q || p) for what the posterior knows. The
decoder reads h only, so the noise is the model's only way to change its mind.

One supervision step = T transitions; as in HRM and TRM only the last keeps a
graph (truncated backpropagation), and the KL is taken there. Two small heads
read h: the Q head (position 0: "is the grid right now", for halting and for
`select=q`) and the process reward head (the mean over positions, detached: the
final accuracy its trajectory will reach, trained on trajectories from the prior).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, NamedTuple

import torch
from torch import nn

from .hrm import HRM
from .layers import config_from
from .trm import TOKEN_SHAPES, check_recursive

LOG_STD = (-7.0, 2.0)  # a Gaussian head's log std is squashed into this range: no 0 or inf variances


@dataclass
class GRAMConfig:
    kind: str = "sudoku"
    seq_len: int = 81
    vocab_size: int = 11
    dim: int = 512
    heads: int = 8
    h_layers: int = 2
    l_layers: int = 2
    expansion: float = 4.0
    mixer: str = "mlp"  # "mlp": TRM's sequence-axis SwiGLU (fixed grids); "attention": RoPE attention; "grid"
    ffn_multiple: int = 256
    h_cycles: int = 3  # T: transitions per supervision step
    l_cycles: int = 6  # K: deterministic low-level refinements per transition
    prefix_len: int = 16
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    init_log_std: float = -2.0  # where both Gaussian heads start: small steps, near-deterministic at first

    def to_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> "GRAMConfig":
        check_recursive(self)  # init_log_std's range there is LOG_STD
        return self


PRESETS = {
    # the published Sudoku-Extreme run (~10M parameters: two TRM-MLP-sized stacks,
    # f_L and f_H, each of 2 post-norm blocks at width 512)
    ("sudoku", "paper"): dict(dim=512, heads=8, h_layers=2, l_layers=2, mixer="mlp", h_cycles=3, l_cycles=6,
                              prefix_len=16),
    ("maze", "paper"): dict(dim=512, heads=8, h_layers=2, l_layers=2, mixer="attention", h_cycles=3, l_cycles=4,
                            prefix_len=16),
    # for a 2-core CPU: TRM's cpu widths, fewer refinements
    ("sudoku", "cpu"): dict(dim=128, heads=4, h_layers=2, l_layers=2, mixer="mlp", ffn_multiple=64, h_cycles=2,
                            l_cycles=3, prefix_len=1),
    # mazes: TRM's maze cpu shape (the grid mixer: attention over 900 cells is ~0.2 s a pass here)
    ("maze", "cpu"): dict(dim=32, heads=1, h_layers=2, l_layers=2, mixer="grid", expansion=2.0, ffn_multiple=16,
                          h_cycles=2, l_cycles=3, prefix_len=1),
}


class GRAMOutput(NamedTuple):
    carry: tuple  # (h, l), detached
    logits: torch.Tensor  # (B, seq_len, vocab)
    q_halt: torch.Tensor  # (B,)
    q_continue: torch.Tensor  # (B,) zeros: GRAM halts on q_halt alone
    prm: torch.Tensor  # (B,) process reward logit: will this trajectory end right?
    kl: torch.Tensor | None  # (B,) KL(q || p) of the last transition, nats per puzzle, when a target was given


class Gaussian(nn.Module):
    """A diagonal Gaussian over eps, one per position: (mean, log std) from a linear map."""

    def __init__(self, dim: int, init_log_std: float):
        super().__init__()
        self.proj = nn.Linear(dim, 2 * dim)
        lo, hi = LOG_STD
        with torch.no_grad():  # eps starts as N(0, exp(init_log_std)^2): the mean is learned from 0
            self.proj.weight.zero_()
            self.proj.bias.zero_()
            self.proj.bias[dim:] = torch.logit(torch.tensor((init_log_std - lo) / (hi - lo)).clamp(1e-4, 1 - 1e-4))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, raw = self.proj(x).float().chunk(2, dim=-1)
        lo, hi = LOG_STD
        return mean, lo + (hi - lo) * torch.sigmoid(raw)


def gaussian_kl(q: tuple, p: tuple) -> torch.Tensor:
    """KL(q || p) of diagonal Gaussians given as (mean, log std), summed over the last axis."""
    (mq, sq), (mp, sp) = q, p
    return (sp - sq + (torch.exp(2 * sq) + (mq - mp) ** 2) / (2 * torch.exp(2 * sp)) - 0.5).sum(-1)


def balanced_kl(q: tuple, p: tuple, balance: float) -> torch.Tensor:
    """`balance` of the KL's gradient trains the prior toward the posterior and the rest
    the posterior toward the prior (KL balancing): the prior should learn to predict,
    not the posterior to forget. Same value as the plain KL."""
    detach = lambda g: tuple(t.detach() for t in g)
    return balance * gaussian_kl(detach(q), p) + (1 - balance) * gaussian_kl(q, detach(p))


class GRAM(HRM):
    """HRM's embedding, heads, stacks and carry, plus the two Gaussian heads, the
    posterior's target embedding and the process reward head."""

    def __init__(self, cfg: GRAMConfig):
        super().__init__(cfg)
        self.prior = Gaussian(cfg.dim, cfg.init_log_std)
        # the posterior is the prior plus a correction read from (u, y), zero at the start:
        # KL 0 at initialisation, and the KL prices only what the target adds
        self.posterior = nn.Linear(cfg.dim, 2 * cfg.dim)
        nn.init.zeros_(self.posterior.weight)
        nn.init.zeros_(self.posterior.bias)
        self.target_embed = nn.Embedding(cfg.vocab_size, cfg.dim)  # what the posterior reads of y
        self.prm_head = nn.Linear(cfg.dim, 1)

    def _transition(self, x, h, l, y_embed, noise: Callable, rope, balance: float):
        for _ in range(self.cfg.l_cycles):
            l = self.low(l, h + x, rope)
        u = self.high(h, l, rope)
        prior = self.prior(u)
        if y_embed is None:
            mean, log_std = prior
            kl = None
        else:
            shift, widen = self.posterior(u + y_embed).float().chunk(2, dim=-1)
            lo, hi = LOG_STD
            post = (prior[0] + shift, (prior[1] + widen).clamp(lo, hi))
            mean, log_std = post
            # nats per puzzle (summed over positions and dims). Against a per-cell CE this
            # prices information through the noise ~seq_len times over, which is what keeps
            # the posterior from passing the answer to the decoder (a 3-minute run with the
            # per-position mean had the posterior at 98% of cells, the prior at 11%)
            kl = balanced_kl(post, prior, balance).sum(-1)
        eps = mean + torch.exp(log_std) * noise(mean)
        return u + eps.to(u.dtype), l, kl

    def forward(self, carry: tuple[torch.Tensor, torch.Tensor], tokens: torch.Tensor,
                target: torch.Tensor | None = None, noise: Callable | None = None,
                h_cycles: int | None = None, balance: float = 0.8) -> GRAMOutput:
        """One supervision step. With `target` (B, seq_len) the steps sample the
        posterior and the output carries the KL; without, the prior. `noise(like)`
        returns the standard normal draws for a (B, positions, dim) tensor (default:
        the global RNG; an engine passes per-rollout generators)."""
        noise = noise or torch.randn_like
        rope = (self.rope_cos, self.rope_sin) if self.rope else None
        x = self.io.embed_tokens(tokens)
        y_embed = None if target is None else self._embed_target(target)
        h, l = carry
        with torch.no_grad():
            for _ in range((h_cycles or self.cfg.h_cycles) - 1):
                h, l, _ = self._transition(x, h, l, y_embed, noise, rope, balance)
        h, l, kl = self._transition(x, h, l, y_embed, noise, rope, balance)
        logits, q_halt, _ = self.io.read(h)
        prm = self.prm_head(h.detach().mean(1)).float()[:, 0]
        return GRAMOutput((h.detach(), l.detach()), logits, q_halt, torch.zeros_like(q_halt), prm, kl)

    def _embed_target(self, target: torch.Tensor) -> torch.Tensor:
        e = self.target_embed(target.long())
        if self.cfg.prefix_len:
            e = torch.cat([e.new_zeros(e.shape[0], self.cfg.prefix_len, e.shape[-1]), e], dim=1)
        return e


def build(kind: str, preset: str = "cpu", **overrides) -> GRAM:
    """A GRAM for a puzzle kind from a preset (`paper` or `cpu`) plus overrides."""
    if (kind, preset) not in PRESETS:
        raise ValueError(f"no GRAM preset {preset!r} for {kind}; presets: paper, cpu")
    return GRAM(GRAMConfig(kind=kind, **{**TOKEN_SHAPES[kind], **PRESETS[(kind, preset)], **overrides}).validate())


def from_trm(trm_model) -> GRAM:
    """A GRAM that starts as a trained TRM: f_L and f_H both begin as TRM's one net
    (TRM's z-update reads (z, y + x) as f_L reads (l, h + x); its y-update reads
    (y, z) as f_H reads (h, l)), with TRM's embedding, heads and initial states.
    With the noise heads at their start the first trajectories are TRM's, jittered."""
    t = trm_model.cfg
    cfg = GRAMConfig(kind=t.kind, seq_len=t.seq_len, vocab_size=t.vocab_size, dim=t.dim, heads=t.heads,
                     h_layers=t.layers, l_layers=t.layers, expansion=t.expansion, mixer=t.mixer,
                     ffn_multiple=t.ffn_multiple, h_cycles=t.h_cycles, l_cycles=t.l_cycles, prefix_len=t.prefix_len,
                     rope_theta=t.rope_theta, norm_eps=t.norm_eps).validate()
    model = GRAM(cfg)
    model.io.load_state_dict(trm_model.io.state_dict())
    model.low.load_state_dict(trm_model.net.state_dict())
    model.high.load_state_dict(trm_model.net.state_dict())
    return model


def from_config(architecture: dict) -> GRAM:
    """The model a checkpoint's config.json describes (unknown keys are an error)."""
    return GRAM(config_from(GRAMConfig, architecture))
