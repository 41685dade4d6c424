"""Hierarchical Reasoning Model (Wang et al. 2025): a fast low-level module f_L
and a slow high-level module f_H, both post-norm transformer stacks.

One supervision step = N high cycles of T low steps:
`z_L = f_L(z_L, z_H + x)` T times, then `z_H = f_H(z_H, z_L)`. Only the final f_L
and f_H calls keep a graph (the "one-step gradient", an implicit-function-theorem
approximation that makes memory independent of N*T). The Q head reads z_H at the
first (prefix) position and gives halt and continue logits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from .layers import RecurrentStack, RecursiveIO, RecursiveOutput, config_from, rope_1d
from .trm import TOKEN_SHAPES, check_recursive, grid_shape


@dataclass
class HRMConfig:
    kind: str = "sudoku"
    seq_len: int = 81
    vocab_size: int = 11
    dim: int = 512
    heads: int = 8
    h_layers: int = 4
    l_layers: int = 4
    expansion: float = 4.0
    mixer: str = "attention"  # or "mlp": TRM's sequence-axis SwiGLU (fixed grids only); "grid": mazes
    ffn_multiple: int = 256  # SwiGLU inner widths round up to this
    h_cycles: int = 2  # N: high-level updates per supervision step
    l_cycles: int = 2  # T: low-level updates per high-level update
    prefix_len: int = 1  # extra positions in front of the cells; the Q head reads the first
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5

    def to_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> "HRMConfig":
        check_recursive(self)
        return self


PRESETS = {
    # the published runs (Sudoku 27,275,266 params; maze 27,270,146 with its 6-token vocab)
    ("sudoku", "paper"): dict(dim=512, heads=8, h_layers=4, l_layers=4, h_cycles=2, l_cycles=2),
    ("maze", "paper"): dict(dim=512, heads=8, h_layers=4, l_layers=4, h_cycles=2, l_cycles=2),
    # for a 2-core CPU. Sudoku mixes positions with TRM's MLP mixer: with attention
    # this width sat at 46% cell accuracy after 18 minutes of training, where the
    # MLP-mixer TRM was past 90% (README "TRM and HRM results")
    ("sudoku", "cpu"): dict(dim=128, heads=4, h_layers=2, l_layers=2, ffn_multiple=64, h_cycles=2, l_cycles=2,
                            mixer="mlp"),
    ("maze", "cpu"): dict(dim=96, heads=4, h_layers=2, l_layers=2, ffn_multiple=64, h_cycles=2, l_cycles=2),
}


class HRM(nn.Module):
    def __init__(self, cfg: HRMConfig):
        super().__init__()
        self.cfg = cfg
        tokens = cfg.seq_len + cfg.prefix_len
        self.io = RecursiveIO(cfg.vocab_size, cfg.dim, cfg.prefix_len)
        block = dict(expansion=cfg.expansion, mixer=cfg.mixer, tokens=tokens, multiple=cfg.ffn_multiple,
                     eps=cfg.norm_eps, grid=grid_shape(cfg) if cfg.mixer == "grid" else ())
        self.high = RecurrentStack(cfg.h_layers, cfg.dim, cfg.heads, **block)
        self.low = RecurrentStack(cfg.l_layers, cfg.dim, cfg.heads, **block)
        self.rope = cfg.mixer == "attention"
        if self.rope:
            cos, sin = rope_1d(tokens, cfg.dim // cfg.heads, cfg.rope_theta)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)

    def initial_carry(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(z_H, z_L) for `batch` fresh puzzles, each (batch, prefix + seq_len, dim)."""
        return self.io.initial_carry(batch, self.cfg.seq_len + self.cfg.prefix_len)

    def reset_carry(self, carry: tuple[torch.Tensor, torch.Tensor], halted: torch.Tensor):
        """Restart the slots flagged in `halted` (B,) bool; the others keep their states."""
        return self.io.reset_carry(carry, halted)

    def forward(self, carry: tuple[torch.Tensor, torch.Tensor], tokens: torch.Tensor,
                h_cycles: int | None = None, l_cycles: int | None = None) -> RecursiveOutput:
        """One supervision step. tokens (B, seq_len) ints; carry (z_H, z_L) from
        `initial_carry` or a previous step."""
        N, T = h_cycles or self.cfg.h_cycles, l_cycles or self.cfg.l_cycles
        rope = (self.rope_cos, self.rope_sin) if self.rope else None
        x = self.io.embed_tokens(tokens)
        z_h, z_l = carry
        with torch.no_grad():
            # every low step but the last; f_H after each full group of T low steps
            for step in range(1, N * T):
                z_l = self.low(z_l, z_h + x, rope)
                if step % T == 0:
                    z_h = self.high(z_h, z_l, rope)
        z_l = self.low(z_l, z_h + x, rope)
        z_h = self.high(z_h, z_l, rope)
        logits, q_halt, q_continue = self.io.read(z_h)
        return RecursiveOutput((z_h.detach(), z_l.detach()), logits, q_halt, q_continue)


def build(kind: str, preset: str = "cpu", **overrides) -> HRM:
    """An HRM for a puzzle kind from a preset (`paper` or `cpu`) plus overrides."""
    if (kind, preset) not in PRESETS:
        raise ValueError(f"no HRM preset {preset!r} for {kind}; presets: paper, cpu")
    return HRM(HRMConfig(kind=kind, **{**TOKEN_SHAPES[kind], **PRESETS[(kind, preset)], **overrides}).validate())


def from_config(architecture: dict) -> HRM:
    """The model a checkpoint's config.json describes (unknown keys are an error)."""
    return HRM(config_from(HRMConfig, architecture))
