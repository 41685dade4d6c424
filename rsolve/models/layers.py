"""Shared building blocks for rsolve's models (torch modules only, no I/O)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
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
