"""The maze lattice, batched in torch.

An element is a boolean tensor (B, cells, 2): whether each cell may still be
*free* (off the path) or on the *path*. Walls are fixed free, S and G fixed
path; open cells start with both. A state is bottom when some cell has neither
value left or S or G has no possible path neighbour; it is decided when every
cell is a singleton, and the path cells are then the answer to verify.

`close` is the sound transfer function, to a fixed point: an open cell with
fewer than two neighbours that may be on the path cannot lie inside a simple
S-G path (dead-end elimination, which also clears long dead-end corridors); a
cell touching the forced chain from S other than at its end cannot continue a
shortest path (no chords). It never removes an optimal solution, the only kind
rsolve accepts.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import torch
import torch.nn.functional as F

from ..puzzles.maze import Maze
from ..puzzles.symmetry import maze_symmetry

FREE, PATH = 0, 1
# static channels: wall, start, goal
WALL_CH, START_CH, GOAL_CH = 0, 1, 2


class MazeDomain:
    kind = "maze"
    permute_values = False  # whether symmetries relabel values

    def __init__(self, height: int = 30, width: int = 30, device: str | torch.device = "cpu"):
        self.height, self.width, self.device = height, width, torch.device(device)
        self.cells, self.values, self.in_channels = height * width, 2, 5
        self._kernel = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]],
                                    device=self.device).view(1, 1, 3, 3)

    def encode(self, puzzles: list[Maze]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(candidates, fixed mask, static [wall, start, goal]) for a list of mazes."""
        for p in puzzles:
            if (p.height, p.width) != (self.height, self.width):
                raise ValueError(f"maze is {p.height}x{p.width}; this model reads {self.height}x{self.width}")
        grid = np.array([np.frombuffer(p.puzzle().grid.encode(), dtype=np.uint8) for p in puzzles])
        wall, start, goal = grid == ord("#"), grid == ord("S"), grid == ord("G")
        static = torch.from_numpy(np.stack([wall, start, goal], -1).astype(np.float32)).to(self.device)
        cand = torch.ones(len(puzzles), self.cells, 2, dtype=torch.bool, device=self.device)
        fixed = torch.from_numpy(wall | start | goal).to(self.device)
        cand[..., PATH] &= ~torch.from_numpy(wall).to(self.device)
        cand[..., FREE] &= ~torch.from_numpy(start | goal).to(self.device)
        return cand, fixed, static

    def inputs(self, cand: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
        return torch.cat([static, cand.float()], -1)

    def _path_neighbours(self, path: torch.Tensor) -> torch.Tensor:
        """(B, N) how many 4-neighbours may be on the path."""
        grid = path.float().view(-1, 1, self.height, self.width)
        return F.conv2d(grid, self._kernel, padding=1).view(path.shape[0], -1)

    def close(self, cand: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
        ends = static[..., START_CH].bool() | static[..., GOAL_CH].bool()
        for _ in range(self.cells):
            for _ in range(self.cells):  # dead ends first: cheap tensor steps
                path = cand[..., PATH]
                dead = path & ~ends & (self._path_neighbours(path) < 2)
                if not dead.any():
                    break
                cand = cand.clone()
                cand[..., PATH] &= ~dead
            chords = self._chords(cand, static)  # then the chain walk, once per sweep
            if not chords.any():
                return cand
            cand = cand.clone()
            cand[..., PATH] &= ~chords
        return cand

    def _chords(self, cand: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
        """(B, N) cells that touch the forced chain from S anywhere but at its end. A
        shortest path has no chords (a chord would be a shortcut), so such cells
        cannot continue an optimal path: only optimal answers are accepted."""
        forced = (cand[..., PATH] & ~cand[..., FREE]).cpu().numpy()
        path = cand[..., PATH].cpu().numpy()
        starts = static[..., START_CH].argmax(-1).tolist()
        out = np.zeros_like(path)
        for b in range(cand.shape[0]):
            chain = walk_prefix(forced[b], starts[b], self.height, self.width)
            inside = set(chain)
            for i in chain[:-1]:
                for j in neighbours(i, self.height, self.width):
                    if path[b, j] and j not in inside:
                        out[b, j] = True
        return torch.from_numpy(out).to(cand.device)

    def bottom(self, cand: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
        ends = static[..., START_CH].bool() | static[..., GOAL_CH].bool()
        isolated_end = (ends & (self._path_neighbours(cand[..., PATH]) < 1)).any(-1)
        return (cand.sum(-1) == 0).any(-1) | isolated_end | self._stuck(cand, static)

    def _stuck(self, cand: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
        """(B,) the chain walked from S ends short of G where no neighbour can continue it
        (none may be on the path), or branches (two forced continuations): no simple path."""
        path = cand[..., PATH].cpu().numpy()
        forced = path & ~cand[..., FREE].cpu().numpy()
        starts = static[..., START_CH].argmax(-1).tolist()
        goals = static[..., GOAL_CH].argmax(-1).tolist()
        out = []
        for b in range(cand.shape[0]):
            chain = walk_prefix(forced[b], starts[b], self.height, self.width)
            end, seen = chain[-1], set(chain)
            nxt = [j for j in neighbours(end, self.height, self.width) if path[b, j] and j not in seen]
            out.append(end != goals[b] and (not nxt or sum(forced[b, j] for j in nxt) > 1))
        return torch.tensor(out, dtype=torch.bool, device=cand.device)

    def decided(self, cand: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
        """(B,) the forced-path chain walked from S reaches G: that chain is the answer
        (cells off it need no decision; the verifier judges the chain)."""
        forced = (cand[..., PATH] & ~cand[..., FREE]).cpu().numpy()
        starts = static[..., START_CH].argmax(-1).tolist()
        goals = static[..., GOAL_CH].argmax(-1).tolist()
        return torch.tensor([walk_prefix(forced[b], starts[b], self.height, self.width)[-1] == goals[b]
                             for b in range(cand.shape[0])], dtype=torch.bool, device=cand.device)

    def branch_cells(self, cand: torch.Tensor, static: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """Undecided neighbours of the end of the chain walked from S, the likeliest
        path cell first (by the value head)."""
        undecided = cand.sum(-1) > 1
        score = (value[..., FREE] - value[..., PATH]).float() + 0.01 * torch.rand(undecided.shape, device=cand.device)
        forced = (cand[..., PATH] & ~cand[..., FREE]).cpu().numpy()
        und = undecided.cpu().numpy()
        starts = static[..., START_CH].argmax(-1).tolist()
        mask = np.zeros_like(und)
        for b in range(cand.shape[0]):
            prefix = walk_prefix(forced[b], starts[b], self.height, self.width)
            for j in neighbours(prefix[-1], self.height, self.width):
                mask[b, j] = und[b, j]
        mask = torch.from_numpy(mask).to(cand.device)
        return torch.where(mask, score, torch.full_like(score, float("inf")))

    def decode(self, cand: torch.Tensor, puzzle: Maze) -> Maze:
        forced = (cand[:, PATH] & ~cand[:, FREE]).cpu().numpy()
        chain = walk_prefix(forced, puzzle.start, self.height, self.width)
        return puzzle.with_path(chain[1:-1] if chain[-1] == puzzle.goal else np.flatnonzero(forced).tolist())

    def symmetry(self, rng) -> tuple[list[int], list[int]]:
        return list(maze_symmetry(self.height, self.width, rng).cells), [0, 1]


def neighbours(i: int, height: int, width: int):
    r, c = divmod(i, width)
    if r > 0:
        yield i - width
    if r < height - 1:
        yield i + width
    if c > 0:
        yield i - 1
    if c < width - 1:
        yield i + 1


def walk_prefix(forced, start: int, height: int, width: int) -> list[int]:
    """The chain of forced-path cells walked from S while the next step is unambiguous."""
    prefix, seen = [start], {start}
    while True:
        nxt = [j for j in neighbours(prefix[-1], height, width) if forced[j] and j not in seen]
        if len(nxt) != 1:
            return prefix
        prefix.append(nxt[0])
        seen.add(nxt[0])


def _bfs(allowed, source: int, height: int, width: int) -> np.ndarray:
    dist = np.full(height * width, -1, dtype=np.int64)
    dist[source] = 0
    queue = deque([source])
    while queue:
        u = queue.popleft()
        for v in neighbours(u, height, width):
            if allowed[v] and dist[v] < 0:
                dist[v] = dist[u] + 1
                queue.append(v)
    return dist


def maze_target(cand: np.ndarray, start: int, goal: int, distance: int, height: int, width: int):
    """Training target for one state: (keep (N, 2) bool, consistent). The path bit
    stays on cells of some shortest S-G path that extends the forced chain walked
    from S; the free bit goes on cells every such path crosses. `distance` is the
    maze's BFS distance S-G. Inconsistent states (no such path) return False."""
    path_ok, free_ok = cand[:, PATH], cand[:, FREE]
    forced = path_ok & ~free_ok
    prefix = walk_prefix(forced, start, height, width)
    end, steps = prefix[-1], len(prefix) - 1
    allowed = path_ok.copy()
    allowed[prefix[:-1]] = False
    d1 = _bfs(allowed, end, height, width)
    d2 = _bfs(allowed, goal, height, width)
    rest = distance - steps
    if rest < 0 or d1[goal] != rest:  # the chain is already too long, or G is cut off
        return None, False
    on = (d1 >= 0) & (d2 >= 0) & (d1 + d2 == rest)
    others = forced.copy()
    others[prefix] = False
    if (others & ~on).any():
        return None, False
    levels = np.bincount(d1[on], minlength=rest + 1)
    must = on & (levels[np.where(on, d1, 0)] == 1)
    must[prefix] = True
    keep = np.zeros_like(cand)
    keep[:, PATH] = path_ok & (on | must)
    keep[prefix, PATH] = True
    keep[:, FREE] = free_ok & ~must
    return keep, True
