"""The pieces of one LDT solve round, shared by the engine and the trainer:
random symmetric views, projection (the network's eliminations) and branching."""

from __future__ import annotations

import random

import torch


class SymmetryPool:
    """A fixed pool of random symmetries of a domain, as index tensors, so a batch
    can take a fresh view per row without Python work per row."""

    def __init__(self, domain, size: int = 512, seed: int = 0):
        rng = random.Random(seed)
        perms = [domain.symmetry(rng) for _ in range(size)]
        dev = domain.device
        self.cells = torch.tensor([c for c, _ in perms], dtype=torch.long, device=dev)  # orig -> view
        self.values = torch.tensor([v for _, v in perms], dtype=torch.long, device=dev)
        self.size = size

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randint(self.size, (n,), generator=generator, device=self.cells.device)

    def to_view(self, x: torch.Tensor, idx: torch.Tensor, permute_values: bool = True) -> torch.Tensor:
        """out[b, cells[i], values[v]] = x[b, i, v]."""
        cells, values = self.cells[idx], self.values[idx]
        b, n, v = x.shape
        out = torch.empty_like(x).scatter_(1, cells[:, :, None].expand(b, n, v), x)
        if permute_values:
            out = torch.empty_like(out).scatter_(2, values[:, None, :].expand(b, n, v), out)
        return out

    def from_view(self, y: torch.Tensor, idx: torch.Tensor, permute_values: bool = True) -> torch.Tensor:
        """x[b, i, v] = y[b, cells[i], values[v]] (the inverse of to_view)."""
        cells, values = self.cells[idx], self.values[idx]
        b, n, v = y.shape
        x = y.gather(1, cells[:, :, None].expand(b, n, v))
        if permute_values:
            x = x.gather(2, values[:, None, :].expand(b, n, v))
        return x

    def to_view_cells(self, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """For (B, N) per-cell tensors."""
        return torch.empty_like(x).scatter_(1, self.cells[idx], x)

    def from_view_cells(self, y: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return y.gather(1, self.cells[idx])


def run_network(model, domain, pool: SymmetryPool, cand, static, loops=None, generator=None, all_loops=False):
    """One network pass under a random view per row, outputs mapped back to the
    original cells: (keep logits, value logits, conflict logits) of the last loop,
    or lists over loops with all_loops (training)."""
    idx = pool.sample(cand.shape[0], generator)
    permute = domain.permute_values
    if getattr(model, "any_size", False):  # the grid network: any shape, and it reads the forced chain
        bits = domain.inputs(cand, static, channels=model.cfg.in_channels)
        keep, value, conflict = model(pool.to_view(bits, idx, permute), loops=loops,
                                      shape=(domain.height, domain.width))
    else:
        keep, value, conflict = model(pool.to_view(domain.inputs(cand, static), idx, permute), loops=loops)
    back = [(pool.from_view(k, idx, permute), pool.from_view(v, idx, permute), c)
            for k, v, c in (zip(keep, value, conflict) if all_loops else [(keep[-1], value[-1], conflict[-1])])]
    return back if all_loops else back[0]


def project(cand, fixed, keep_logits, threshold):
    """Eliminate alive, non-fixed candidates whose keep probability is under the
    threshold (a float, or a tensor with one per row; never revives). Returns
    (new state, eliminations per row)."""
    if torch.is_tensor(threshold):
        cut = torch.logit(threshold.clamp(1e-6, 1 - 1e-6)).to(keep_logits.dtype)[:, None, None]
    else:
        cut = _logit(threshold)
    drop = (keep_logits < cut) & ~fixed[..., None] & cand
    return cand & ~drop, drop.flatten(1).sum(-1)


def choose_branch(domain, cand, static, value_logits, temperature: float, generator=None):
    """(cell, value) per row: a cell from the domain's branching order and a value
    sampled from the value logits among the cell's alive candidates. Value logits may
    carry extra per-cell channels after the domain's values, for its branching order."""
    score = domain.branch_cells(cand, static, value_logits)
    cell = score.argmin(-1)
    rows = torch.arange(cand.shape[0], device=cand.device)
    alive = cand[rows, cell]
    logits = value_logits[rows, cell, :domain.values].float() / max(temperature, 1e-6)
    logits = logits.masked_fill(~alive, float("-inf"))
    if temperature <= 0:
        value = logits.argmax(-1)
    else:
        value = torch.multinomial(torch.softmax(logits, -1), 1, generator=generator).squeeze(-1)
    return cell, value


def assign(cand, rows, cell, value):
    """The state with cell := value in the given rows (a branch)."""
    cand = cand.clone()
    cand[rows, cell] = False
    cand[rows, cell, value] = True
    return cand


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return float(torch.logit(torch.tensor(p)))
