"""Tiny Recursive Model (Jolicoeur-Martineau 2025): one small net refines an answer
state y and a latent state z.

One supervision step = T recursions; each recursion updates z n times from
(x, y, z) and then y once from (y, z). Only the last recursion keeps a graph: the
earlier ones just move (y, z) to a better starting point, and backpropagating
through all of them would multiply memory by T. The returned carry is detached
so a trainer can keep it across optimizer steps (deep supervision).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .layers import (MAX_CELLS, MAX_DIM, MAX_HEADS, MAX_LAYERS, MAX_LOOPS, RecurrentStack, RecursiveIO,
                     RecursiveOutput, check_fields, check_heads, config_from, rope_1d, sudoku_boxes)

# token layout of the HRM/TRM data: Sudoku 0 pad, 1 blank, 2-10 digits; maze 0 pad, 1-5 "# SGo"
TOKEN_SHAPES = {"sudoku": dict(seq_len=81, vocab_size=11), "maze": dict(seq_len=900, vocab_size=6)}
MAZE_TOKENS = 6
MAX_RECURSIONS = 1024  # h_cycles * l_cycles: what one supervision step may cost

# the settings TRM and HRM share, and HRM's two stacks
RANGES = dict(seq_len=(4, MAX_CELLS), vocab_size=(2, 1024), dim=(1, MAX_DIM), heads=(1, MAX_HEADS),
              layers=(1, MAX_LAYERS), h_layers=(1, MAX_LAYERS), l_layers=(1, MAX_LAYERS), expansion=(1.0, 16.0),
              ffn_multiple=(1, 4096), h_cycles=(1, MAX_LOOPS), l_cycles=(1, MAX_LOOPS), prefix_len=(0, 256),
              rope_theta=(1.0, 1e9), norm_eps=(1e-12, 0.1), damping=(1e-3, 1.0),
              init_log_std=(-7.0, 2.0))
CHOICES = dict(kind=("sudoku", "maze"), mixer=("mlp", "attention", "grid"))


def grid_shape(cfg) -> tuple[int, int, int]:
    """(height, width, prefix) for the grid mixer: mazes are square in the HRM/TRM data."""
    side = math.isqrt(cfg.seq_len)
    return side, side, cfg.prefix_len


def check_recursive(cfg) -> None:
    """One-line ValueError unless a TRM or HRM config is a network rsolve can build and run."""
    check_fields(cfg, RANGES, CHOICES)
    if cfg.h_cycles * cfg.l_cycles > MAX_RECURSIONS:
        raise ValueError(f"h_cycles x l_cycles is {cfg.h_cycles * cfg.l_cycles}, over {MAX_RECURSIONS}")
    if cfg.kind == "sudoku":
        side = math.isqrt(cfg.seq_len)
        if side * side != cfg.seq_len:
            raise ValueError(f"seq_len {cfg.seq_len} is not the cell count of a square Sudoku")
        sudoku_boxes(side)
        if cfg.vocab_size < side + 2:
            raise ValueError(f"vocab_size {cfg.vocab_size} is too small for {side}x{side} Sudoku (pad, blank, digits)")
    elif cfg.vocab_size < MAZE_TOKENS:
        raise ValueError(f"vocab_size {cfg.vocab_size} is too small for mazes ({MAZE_TOKENS} tokens)")
    if cfg.mixer == "attention":
        check_heads(cfg.dim, cfg.heads, 2, "rotary attention")
    if cfg.mixer == "grid" and (cfg.kind != "maze" or math.isqrt(cfg.seq_len) ** 2 != cfg.seq_len
                                or cfg.prefix_len < 1):
        raise ValueError("the grid mixer is for square mazes with at least one prefix position")


@dataclass
class TRMConfig:
    kind: str = "sudoku"
    seq_len: int = 81
    vocab_size: int = 11
    dim: int = 512
    heads: int = 8
    layers: int = 2
    expansion: float = 4.0
    ffn_multiple: int = 256  # SwiGLU inner widths round up to this
    mixer: str = "mlp"  # "mlp": SwiGLU across tokens (TRM-MLP); "attention": RoPE self-attention (TRM-Att)
    h_cycles: int = 3  # T: recursions per supervision step, the last one with gradient
    l_cycles: int = 6  # n: latent updates per recursion
    prefix_len: int = 16  # extra positions in front of the cells; the Q head reads the first
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    # EqR: each latent update moves z only this share of the way to the net's output
    # (1: the plain TRM update); part of the network, so inference damps the same way
    damping: float = 1.0

    def to_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> "TRMConfig":
        check_recursive(self)
        return self


PRESETS = {
    # the published runs: TRM-MLP Sudoku 5,028,866 params (mixer="attention" gives
    # TRM-Att, 6,828,034); Maze-Hard TRM-Att with n=4, 6,822,914
    ("sudoku", "paper"): dict(dim=512, heads=8, layers=2, mixer="mlp", h_cycles=3, l_cycles=6, prefix_len=16),
    ("maze", "paper"): dict(dim=512, heads=8, layers=2, mixer="attention", h_cycles=3, l_cycles=4, prefix_len=16),
    # for a 2-core CPU (about 0.42M params each): narrow, one prefix position,
    # Sudoku with fewer latent steps
    ("sudoku", "cpu"): dict(dim=128, heads=4, layers=2, mixer="mlp", ffn_multiple=64, h_cycles=3, l_cycles=4,
                            prefix_len=1),
    # mazes: 4-neighbour message passing instead of attention over 900 positions
    # (rsolve.models.layers.GridMixer), narrow so a step costs little; 2 layers x 7
    # net calls x 3 recursions reach 42 cells per supervision step
    ("maze", "cpu"): dict(dim=32, heads=1, layers=2, mixer="grid", expansion=2.0, ffn_multiple=16, h_cycles=3,
                          l_cycles=6, prefix_len=1),
}


class TRM(nn.Module):
    def __init__(self, cfg: TRMConfig):
        super().__init__()
        self.cfg = cfg
        tokens = cfg.seq_len + cfg.prefix_len
        self.io = RecursiveIO(cfg.vocab_size, cfg.dim, cfg.prefix_len)
        self.net = RecurrentStack(cfg.layers, cfg.dim, cfg.heads, expansion=cfg.expansion, mixer=cfg.mixer,
                                  tokens=tokens, multiple=cfg.ffn_multiple, eps=cfg.norm_eps,
                                  grid=grid_shape(cfg) if cfg.mixer == "grid" else ())
        if cfg.mixer == "attention":
            cos, sin = rope_1d(tokens, cfg.dim // cfg.heads, cfg.rope_theta)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)

    def initial_carry(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(y, z) for `batch` fresh puzzles, each (batch, prefix + seq_len, dim)."""
        return self.io.initial_carry(batch, self.cfg.seq_len + self.cfg.prefix_len)

    def reset_carry(self, carry: tuple[torch.Tensor, torch.Tensor], halted: torch.Tensor):
        """Restart the slots flagged in `halted` (B,) bool; the others keep their states."""
        return self.io.reset_carry(carry, halted)

    def _recursion(self, x, y, z, n: int, rope, noise: float):
        damping = self.cfg.damping
        for _ in range(n):
            new = self.net(z, y + x, rope)
            z = new if damping == 1.0 else z + damping * (new - z)
            if noise:  # EqR's training noise: the global RNG, so a resumed run replays it
                z = z + noise * torch.randn_like(z)
        return self.net(y, z, rope), z

    def forward(self, carry: tuple[torch.Tensor, torch.Tensor], tokens: torch.Tensor,
                h_cycles: int | None = None, l_cycles: int | None = None,
                latent_noise: float = 0.0) -> RecursiveOutput:
        """One supervision step. tokens (B, seq_len) ints; carry (y, z) from
        `initial_carry` or a previous step. Cycle counts may be overridden (e.g.
        more thinking at test time); `latent_noise` adds N(0, noise^2) to every
        latent update (EqR training)."""
        cfg = self.cfg
        T, n = h_cycles or cfg.h_cycles, l_cycles or cfg.l_cycles
        rope = (self.rope_cos, self.rope_sin) if cfg.mixer == "attention" else None
        x = self.io.embed_tokens(tokens)
        y, z = carry
        with torch.no_grad():
            for _ in range(T - 1):
                y, z = self._recursion(x, y, z, n, rope, latent_noise)
        y, z = self._recursion(x, y, z, n, rope, latent_noise)
        logits, q_halt, q_continue = self.io.read(y)
        return RecursiveOutput((y.detach(), z.detach()), logits, q_halt, q_continue)


def build(kind: str, preset: str = "cpu", **overrides) -> TRM:
    """A TRM for a puzzle kind from a preset (`paper` or `cpu`) plus overrides
    (e.g. mixer="attention" for TRM-Att, seq_len/vocab_size for other sizes)."""
    if (kind, preset) not in PRESETS:
        raise ValueError(f"no TRM preset {preset!r} for {kind}; presets: paper, cpu")
    return TRM(TRMConfig(kind=kind, **{**TOKEN_SHAPES[kind], **PRESETS[(kind, preset)], **overrides}).validate())


def from_config(architecture: dict) -> TRM:
    """The model a checkpoint's config.json describes (unknown keys are an error)."""
    return TRM(config_from(TRMConfig, architecture))
