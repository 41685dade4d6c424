"""Shared building blocks for rsolve's models: torch modules and the checks of their configs (no I/O)."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import nn


def rope_2d(height: int, width: int, head_dim: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables (height*width, head_dim) for 2D rotary positions: the first half
    of each head rotates with the row, the second half with the column."""
    quarter = head_dim // 4
    freqs = base ** (-torch.arange(quarter, dtype=torch.float32) / quarter)
    rows = torch.arange(height, dtype=torch.float32).repeat_interleave(width)
    cols = torch.arange(width, dtype=torch.float32).repeat(height)
    angles = torch.cat([rows[:, None] * freqs, cols[:, None] * freqs], dim=-1)  # (S, head_dim/2)
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the last dim of x (B, H, S, D) by (S, D) tables; extra leading tokens
    (e.g. a CLS token placed first) are left unrotated."""
    extra = x.shape[-2] - cos.shape[0]
    head, body = x[..., :extra, :], x[..., extra:, :]
    half = body.shape[-1] // 2
    rotated = torch.cat([-body[..., half:], body[..., :half]], dim=-1)
    return torch.cat([head, body * cos + rotated * sin], dim=-2)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(dim, 3 * dim, bias=bias)
        self.out = nn.Linear(dim, dim, bias=bias)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        b, s, d = x.shape
        q, k, v = self.qkv(x).view(b, s, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(b, s, d))


class PreNormBlock(nn.Module):
    """x + attn(LN(x)), then x + GELU-FFN(LN(x)), with dropout (the LDT block)."""

    def __init__(self, dim: int, heads: int, ffn_mult: int = 4, dropout: float = 0.0):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, dropout)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_mult * dim), nn.GELU(), nn.Linear(ffn_mult * dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, rope=None, mask=None) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x), rope, mask))
        return x + self.drop(self.ffn(self.norm2(x)))


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# --- HRM / TRM blocks: post-norm, parameter-free RMSNorm, SwiGLU, no biases ---


def trunc_normal_(t: torch.Tensor, std: float) -> torch.Tensor:
    """Normal init cut at two deviations, widened so the result really has `std`
    (a plain cut at +-2 sigma shrinks the spread to about 0.88 sigma)."""
    wide = std / 0.8796256610342398
    return nn.init.trunc_normal_(t, std=wide, a=-2 * wide, b=2 * wide)


def lecun_init_(module: nn.Module) -> nn.Module:
    """Truncated LeCun-normal weights, zero biases, for every Linear in `module`:
    with post-norm blocks this keeps each residual branch at unit scale."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight.data, 1.0 / m.in_features ** 0.5)
            if m.bias is not None:
                nn.init.zeros_(m.bias.data)
    return module


def rms_norm(x: torch.Tensor, eps: float = 1e-5, dim: int = -1) -> torch.Tensor:
    """RMSNorm without a learned scale over `dim`; computed in fp32 so bf16 runs
    do not lose the small variances of long recursions."""
    h = x.float()
    h = h * torch.rsqrt(h.square().mean(dim, keepdim=True) + eps)
    return h.to(x.dtype)


def rope_1d(length: int, head_dim: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables (length, head_dim) for 1D rotary positions, in the half-split
    layout `apply_rope` expects."""
    freqs = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = torch.arange(length, dtype=torch.float32)[:, None] * freqs
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def swiglu_width(dim: int, expansion: float, multiple: int = 256) -> int:
    """Inner width of a SwiGLU: 2/3 of expansion*dim (three matrices cost what two
    would at full width), rounded up to `multiple` for friendly matmul shapes."""
    inner = round(expansion * dim * 2 / 3)
    return -(-inner // multiple) * multiple


class SwiGLU(nn.Module):
    def __init__(self, dim: int, expansion: float = 4.0, multiple: int = 256):
        super().__init__()
        inner = swiglu_width(dim, expansion, multiple)
        self.gate_up = nn.Linear(dim, 2 * inner, bias=False)
        self.down = nn.Linear(inner, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up(x).chunk(2, dim=-1)
        return self.down(F.silu(gate) * up)


class TokenMixer(nn.Module):
    """A SwiGLU across the token axis (TRM-MLP): every cell reads every other cell
    through fixed, position-specific weights, so a fixed grid needs no positions."""

    def __init__(self, tokens: int, expansion: float = 4.0, multiple: int = 256):
        super().__init__()
        self.mlp = SwiGLU(tokens, expansion, multiple)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x.transpose(1, 2)).transpose(1, 2)


def neighbour_max(g: torch.Tensor) -> torch.Tensor:
    """(B, H, W, D) -> the elementwise max over each cell's 4 neighbours (off-grid
    positions never win): one hop of message passing, aligned with breadth-first search."""
    low = torch.finfo(g.dtype).min / 4
    p = F.pad(g, (0, 0, 1, 1, 1, 1), value=low)
    return torch.maximum(torch.maximum(p[:, :-2, 1:-1], p[:, 2:, 1:-1]), torch.maximum(p[:, 1:-1, :-2], p[:, 1:-1, 2:]))


class GridMixer(nn.Module):
    """Token mixing on a grid instead of attention: each cell reads the max of its 4
    neighbours' messages, so a pass costs O(cells) and reach grows with the recursion;
    the prefix positions (the Q head reads the first) read the mean over the cells."""

    def __init__(self, dim: int, height: int, width: int, prefix: int):
        super().__init__()
        self.shape, self.prefix = (height, width), prefix
        self.message = nn.Linear(dim, dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)
        self.summary = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, d = x.shape
        cells = x[:, self.prefix:]
        near = neighbour_max(self.message(cells).view(b, *self.shape, d)).view(b, -1, d)
        pooled = self.summary(cells.mean(1, keepdim=True)).expand(b, self.prefix, d)
        return torch.cat([pooled, self.out(near)], 1)


class PostNormBlock(nn.Module):
    """h = rmsnorm(h + mix(h)); h = rmsnorm(h + swiglu(h)): the HRM/TRM block.
    `mixer` is "attention" (bias-free self-attention, RoPE given at call time),
    "mlp" (TokenMixer over `tokens` positions) or "grid" (GridMixer over `grid`:
    height, width, prefix positions)."""

    def __init__(self, dim: int, heads: int, expansion: float = 4.0, mixer: str = "attention",
                 tokens: int = 0, multiple: int = 256, eps: float = 1e-5, grid: tuple = ()):
        super().__init__()
        if mixer == "attention":
            self.mix: nn.Module = Attention(dim, heads, bias=False)
        elif mixer == "mlp":
            self.mix = TokenMixer(tokens, expansion, multiple)
        elif mixer == "grid":
            self.mix = GridMixer(dim, *grid)
        else:
            raise ValueError(f"unknown mixer {mixer!r}: attention, mlp or grid")
        self.attends = mixer == "attention"
        # the official TRM-MLP normalizes the mixer's residual while it is transposed,
        # i.e. over the token axis; kept so paper checkpoints mean the same thing
        self.mix_norm_dim = -1 if self.attends else -2
        self.ffn = SwiGLU(dim, expansion, multiple)
        self.eps = eps

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        mixed = self.mix(x, rope) if self.attends else self.mix(x)
        x = rms_norm(x + mixed, self.eps, self.mix_norm_dim)
        return rms_norm(x + self.ffn(x), self.eps)


class RecurrentStack(nn.Module):
    """`net(h, inject)`: add the injected input once, then run the post-norm blocks.
    Applied over and over to the same state, it is one recurrent module of HRM/TRM."""

    def __init__(self, layers: int, dim: int, heads: int, **block_kw):
        super().__init__()
        self.blocks = nn.ModuleList(PostNormBlock(dim, heads, **block_kw) for _ in range(layers))
        # a training setting, not architecture: keep only each call's inputs for
        # the backward pass and run the call again there (see `recompute`)
        self.recompute = False
        lecun_init_(self)

    def forward(self, h: torch.Tensor, inject: torch.Tensor,
                rope: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        if self.recompute and self.training and torch.is_grad_enabled():
            return torch.utils.checkpoint.checkpoint(self._run, h, inject, rope, use_reentrant=False)
        return self._run(h, inject, rope)

    def _run(self, h, inject, rope):
        h = h + inject
        for block in self.blocks:
            h = block(h, rope)
        return h


def recompute(model: nn.Module, on: bool = True) -> None:
    """Activation recomputation for every recurrent net of `model`: the gradient
    recursion then holds two input states per net call instead of every
    intermediate of every call (at TRM-MLP batch 256, ~0.1 GB against ~2.2 GB a
    call), for one more forward pass of that recursion."""
    for m in model.modules():
        if isinstance(m, RecurrentStack):
            m.recompute = on


class RecursiveOutput(NamedTuple):
    carry: tuple[torch.Tensor, torch.Tensor]  # detached states to feed the next supervision step
    logits: torch.Tensor  # (B, L, vocab)
    q_halt: torch.Tensor  # (B,) float32
    q_continue: torch.Tensor  # (B,) float32


class RecursiveIO(nn.Module):
    """What HRM and TRM share around their recurrent nets: the scaled token
    embedding with `prefix` extra positions in front (the official puzzle-embedding
    slots, here zero inputs), the answer head, the Q head on the first position,
    and the two fixed random initial states (answer/high, latent/low)."""

    def __init__(self, vocab: int, dim: int, prefix: int):
        super().__init__()
        self.prefix, self.scale = prefix, dim ** 0.5
        self.embed = nn.Embedding(vocab, dim)
        self.head = nn.Linear(dim, vocab, bias=False)
        self.q_head = nn.Linear(dim, 2)  # (halt, continue); both outputs are in the published counts
        # unit-variance inputs after the sqrt(dim) scale, but Adam steps act on the small stored weights
        trunc_normal_(self.embed.weight.data, 1.0 / self.scale)
        lecun_init_(self.head)
        with torch.no_grad():
            # Q starts near "never halt" so early training is not cut short by a random head
            self.q_head.weight.zero_()
            self.q_head.bias.fill_(-5.0)
        # not learned (the published counts exclude them), but saved so a checkpoint reproduces them
        self.register_buffer("init_states", trunc_normal_(torch.empty(2, dim), 1.0))

    def embed_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        e = self.embed(tokens.long())
        if self.prefix:
            e = torch.cat([e.new_zeros(e.shape[0], self.prefix, e.shape[-1]), e], dim=1)
        return self.scale * e

    def read(self, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        q = self.q_head(state[:, 0]).float()
        return self.head(state[:, self.prefix:]), q[:, 0], q[:, 1]

    def initial_carry(self, batch: int, tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.init_states[:, None, None, :].expand(2, batch, tokens, -1)
        return s[0].clone(), s[1].clone()

    def reset_carry(self, carry: tuple[torch.Tensor, torch.Tensor], halted: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Slots where `halted` is true start over from the initial states."""
        keep = ~halted.to(carry[0].device).view(-1, 1, 1)
        return tuple(torch.where(keep, c, init.to(c.dtype)) for c, init in zip(carry, self.init_states))


# --- config checks: a checkpoint's config.json and --arch overrides are untrusted input ---

# caps that keep a network buildable and one pass bounded in time and memory
MAX_DIM, MAX_HEADS, MAX_LAYERS, MAX_LOOPS, MAX_CELLS = 4096, 64, 64, 256, 4096


def config_from(cls, architecture: dict):
    """A validated `cls` config from a checkpoint's architecture. An unknown key is a TypeError
    (as the dataclass itself would raise); a missing key takes its default, which is what
    checkpoints written before that setting existed mean."""
    if not isinstance(architecture, dict):
        raise TypeError("the architecture is not a JSON object")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = [k for k in architecture if k not in known]
    if unknown:
        raise TypeError(f"unknown setting {str(unknown[0])[:40]!r}")
    return cls(**architecture).validate()


def check_fields(cfg, ranges: dict, choices: dict) -> None:
    """ValueError (one line) unless every field of dataclass `cfg` has its default's type
    (an int also passes for a float; a bool is not a number), numbers lie within
    `ranges[name]` = (lo, hi) inclusive and strings are among `choices[name]`."""
    for f in dataclasses.fields(cfg):
        value, kind = getattr(cfg, f.name), type(f.default)
        shown = repr(value)[:40]
        if kind is str:
            if not isinstance(value, str) or value not in choices[f.name]:
                raise ValueError(f"{f.name}={shown}: choose from {', '.join(choices[f.name])}")
            continue
        allowed = (int,) if kind is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, allowed):
            raise ValueError(f"{f.name}={shown}: expected {'an integer' if kind is int else 'a number'}")
        lo, hi = ranges[f.name]
        if not lo <= value <= hi:  # NaN fails too
            raise ValueError(f"{f.name}={shown}: must be from {lo} to {hi}")


def check_heads(dim: int, heads: int, multiple: int, why: str) -> None:
    """ValueError unless `dim` splits into `heads` heads whose width is a multiple of `multiple`
    (which `why` needs)."""
    if dim % heads:
        raise ValueError(f"dim {dim} is not divisible by heads {heads}")
    if (dim // heads) % multiple:
        raise ValueError(f"{why} needs a head width (dim / heads = {dim // heads}) divisible by {multiple}")


def sudoku_boxes(side: int) -> tuple[int, int]:
    """The box shape of a Sudoku side, or a ValueError when rsolve reads no Sudoku of that side."""
    from ..puzzles.sudoku import box_shape

    if isinstance(side, bool) or not isinstance(side, int):
        raise ValueError(f"Sudoku side {repr(side)[:40]}: expected an integer")
    return box_shape(side)  # a PuzzleError (a ValueError) for unsupported sides
