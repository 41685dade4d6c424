"""Lattice Deduction Transformer: a looped transformer that reads a lattice state
(the candidate bits of every cell) and says which candidates to keep.

Each loop re-injects the input and wraps the shared blocks in an outer
LayerNorm, `h = LN(h + blocks(h + h0))`, which keeps long loops stable. Three
heads read every loop: a keep logit per candidate, value logits per cell (for
branching) and a conflict logit from a CLS token (the state holds no solution).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from . import gridnet
from .layers import (MAX_CELLS, MAX_DIM, MAX_HEADS, MAX_LAYERS, MAX_LOOPS, PreNormBlock, check_fields, check_heads,
                     config_from, rope_2d, sudoku_boxes)

MAZE_CHANNELS, MAZE_VALUES = 5, 2  # rsolve.lattice.maze: bits per cell in, open/wall candidates out


@dataclass
class LDTConfig:
    kind: str = "sudoku"
    height: int = 9
    width: int = 9
    in_channels: int = 9  # bits per cell fed to the network
    values: int = 9  # candidates per cell the heads score
    dim: int = 128
    heads: int = 4
    layers: int = 4
    loops: int = 16
    ffn_mult: int = 4
    dropout: float = 0.1
    positions: str = "rowcol"  # "rowcol": learned row/column embeddings; "rope2d": 2D rotary
    box_height: int = 0  # > 0: also a learned embedding per Sudoku box of this shape
    box_width: int = 0
    attention: str = "full"  # "peers": a cell attends only to cells sharing its row, column or box (and CLS)

    def to_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> "LDTConfig":
        """self, or a one-line ValueError when this is not a network rsolve can build and run."""
        check_fields(self, RANGES, CHOICES)
        if self.height * self.width > MAX_CELLS:
            raise ValueError(f"height x width is {self.height * self.width} cells, over {MAX_CELLS}")
        if self.kind == "sudoku":
            if not self.height == self.width == self.in_channels == self.values:
                raise ValueError("a Sudoku network has height = width = in_channels = values (the side)")
            boxes = sudoku_boxes(self.height)
            if (self.box_height, self.box_width) not in ((0, 0), boxes):
                raise ValueError(f"box_height x box_width must be 0 x 0 or {boxes[0]} x {boxes[1]} "
                                 f"for side {self.height}")
        elif (self.in_channels, self.values, self.box_height, self.box_width) != (MAZE_CHANNELS, MAZE_VALUES, 0, 0):
            raise ValueError(f"a maze network has in_channels {MAZE_CHANNELS}, values {MAZE_VALUES} and no boxes")
        check_heads(self.dim, self.heads, 4 if self.positions == "rope2d" else 1, "positions=rope2d")
        return self


RANGES = dict(height=(2, MAX_CELLS), width=(2, MAX_CELLS), in_channels=(1, 64), values=(1, 64),
              dim=(1, MAX_DIM), heads=(1, MAX_HEADS), layers=(1, MAX_LAYERS), loops=(1, MAX_LOOPS),
              ffn_mult=(1, 16), dropout=(0.0, 0.9), box_height=(0, 64), box_width=(0, 64))
CHOICES = dict(kind=("sudoku", "maze"), positions=("rowcol", "rope2d"), attention=("full", "peers"))


PRESETS = {
    # the published sizes (about 800K and 1.8M parameters)
    ("sudoku", "paper"): dict(dim=128, heads=4, layers=4, loops=16, dropout=0.1),
    ("maze", "paper"): dict(dim=192, heads=4, layers=4, loops=16, dropout=0.1, positions="rope2d"),
    # chosen for samples/s on a 2-core CPU: narrow and shallow, fewer loops per pass
    ("sudoku", "cpu"): dict(dim=96, heads=4, layers=2, loops=6, dropout=0.0, box_height=3, box_width=3,
                            attention="peers"),
}
# Mazes on a CPU: the grid network (rsolve.models.gridnet), not attention over 900 cells.


class LDT(nn.Module):
    def __init__(self, cfg: LDTConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.dim
        self.input = nn.Linear(cfg.in_channels, d)
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        if cfg.positions == "rowcol":
            self.row = nn.Parameter(torch.randn(cfg.height, d) * 0.02)
            self.col = nn.Parameter(torch.randn(cfg.width, d) * 0.02)
            if cfg.box_height:
                # box membership is a third coordinate; handing it over saves the net learning it
                rows, cols = torch.arange(cfg.height), torch.arange(cfg.width)
                box = (rows[:, None] // cfg.box_height) * (cfg.width // cfg.box_width) + cols[None, :] // cfg.box_width
                self.register_buffer("box_index", box.flatten(), persistent=False)
                boxes = -(-cfg.height // cfg.box_height) * (cfg.width // cfg.box_width)  # no tensor read: meta-safe
                self.box = nn.Parameter(torch.randn(boxes, d) * 0.02)
        if cfg.attention == "peers":
            # Sudoku constraints only link peers; masking the rest hands the net the constraint graph.
            # A maze has no boxes (1x1 below): its peers share a row or a column.
            rows, cols = torch.arange(cfg.height), torch.arange(cfg.width)
            r, c = rows.repeat_interleave(cfg.width), cols.repeat(cfg.height)
            bh, bw = cfg.box_height or 1, cfg.box_width or 1
            box = (r // bh) * (cfg.width // bw) + c // bw
            peers = (r[:, None] == r[None]) | (c[:, None] == c[None]) | (box[:, None] == box[None])
            allowed = torch.ones(len(r) + 1, len(r) + 1, dtype=torch.bool)
            allowed[1:, 1:] = peers
            self.register_buffer("attn_mask", allowed, persistent=False)
        if cfg.positions == "rope2d":
            cos, sin = rope_2d(cfg.height, cfg.width, d // cfg.heads)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        self.blocks = nn.ModuleList(PreNormBlock(d, cfg.heads, cfg.ffn_mult, cfg.dropout) for _ in range(cfg.layers))
        self.loop_norm = nn.LayerNorm(d)
        self.keep_head = nn.Linear(d, cfg.values)
        self.value_head = nn.Linear(d, cfg.values)
        self.conflict_head = nn.Linear(d, 1)

    def forward(self, bits: torch.Tensor, loops: int | None = None):
        """bits: (B, cells, in_channels) float. Returns per-loop lists of keep logits
        (B, cells, values), value logits (B, cells, values) and conflict logits (B,)."""
        cfg = self.cfg
        h0 = self.input(bits)
        rope = None
        if cfg.positions == "rowcol":
            pos = (self.row[:, None, :] + self.col[None, :, :]).reshape(-1, cfg.dim)
            if cfg.box_height:
                pos = pos + self.box[self.box_index]
            h0 = h0 + pos
        else:
            rope = (self.rope_cos, self.rope_sin)
        h0 = torch.cat([self.cls.expand(bits.shape[0], -1, -1), h0], dim=1)
        h = torch.zeros_like(h0)
        keep, value, conflict = [], [], []
        for _ in range(loops or cfg.loops):
            x = h + h0
            for block in self.blocks:
                x = block(x, rope, getattr(self, "attn_mask", None))
            h = self.loop_norm(h + x)
            cells = h[:, 1:]
            keep.append(self.keep_head(cells))
            value.append(self.value_head(cells))
            conflict.append(self.conflict_head(h[:, 0]).squeeze(-1))
        return keep, value, conflict


def build(kind: str, preset: str = "cpu", **overrides):
    """An LDT for a puzzle kind from a preset (`paper` or `cpu`) plus overrides; the
    maze cpu preset is the grid network."""
    if (kind, preset) == ("maze", "cpu"):
        return gridnet.build("cpu", **overrides)
    if (kind, preset) not in PRESETS:
        raise ValueError(f"no LDT preset {preset!r} for {kind}; presets: paper, cpu")
    shape = dict(height=9, width=9, in_channels=9, values=9) if kind == "sudoku" else \
        dict(height=30, width=30, in_channels=MAZE_CHANNELS, values=MAZE_VALUES)
    cfg = {**shape, **PRESETS[(kind, preset)], **overrides}
    if cfg.get("box_height"):  # boxes follow the grid side (2x2 for 4x4, 2x3 for 6x6, ...)
        cfg["box_height"], cfg["box_width"] = sudoku_boxes(cfg["height"])
    return LDT(LDTConfig(kind=kind, **cfg).validate())


def from_config(architecture: dict):
    """The model a checkpoint's config.json describes (unknown keys are an error)."""
    if architecture.get("network") == "grid":
        return gridnet.from_config(architecture)
    return LDT(config_from(LDTConfig, architecture))


def config_fields(kind: str, preset: str) -> list[str]:
    """The settings `--arch` may change for this kind and preset."""
    cls = gridnet.GridConfig if (kind, preset) == ("maze", "cpu") else LDTConfig
    return [f.name for f in fields(cls)]
