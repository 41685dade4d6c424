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

import numpy as np
import torch
import torch.nn.functional as F

from ..puzzles.grid import bfs_distances, neighbour_table, walk_chain
from ..puzzles.maze import GOAL, START, WALL, Maze
from ..puzzles.symmetry import maze_symmetry

FREE, ON_PATH = 0, 1  # the two values of a cell: off the path, on it
# static channels: wall, start, goal
WALL_CH, START_CH, GOAL_CH = 0, 1, 2
# the grid network's value logits carry the distance to G mod PHASE (three phases tell a
# step forward from a step back); a neighbour in the forward phase outranks any path logit
PHASE, PHASE_RANK = 3, 1e4
CHAIN_CACHE = 8192  # walked chains kept per domain (a few MB)


class MazeDomain:
    kind = "maze"
    RULES = ("dead-ends",)  # the sound closure (dead ends, no chords)
    permute_values = False  # whether symmetries relabel values

    def __init__(self, height: int = 30, width: int = 30, device: str | torch.device = "cpu"):
        self.height, self.width, self.device = height, width, torch.device(device)
        self.cells, self.values, self.in_channels = height * width, 2, 5
        self._walks: dict = {}  # (S, forced marks) -> chain (see _chains)
        self._kernel = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]],
                                    device=self.device).view(1, 1, 3, 3)

    def encode(self, puzzles: list[Maze]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(candidates, fixed mask, static [wall, start, goal]) for a list of mazes."""
        for p in puzzles:
            if (p.height, p.width) != (self.height, self.width):
                raise ValueError(f"maze is {p.height}x{p.width}; this model reads {self.height}x{self.width}")
        grid = np.array([np.frombuffer(p.puzzle().grid.encode(), dtype=np.uint8) for p in puzzles])
        wall, start, goal = (grid == ord(ch) for ch in (WALL, START, GOAL))
        static = torch.from_numpy(np.stack([wall, start, goal], -1).astype(np.float32)).to(self.device)
        cand = torch.ones(len(puzzles), self.cells, 2, dtype=torch.bool, device=self.device)
        fixed = torch.from_numpy(wall | start | goal).to(self.device)
        cand[..., ON_PATH] &= ~torch.from_numpy(wall).to(self.device)
        cand[..., FREE] &= ~torch.from_numpy(start | goal).to(self.device)
        return cand, fixed, static

    def inputs(self, cand: torch.Tensor, static: torch.Tensor, channels: int = 5) -> torch.Tensor:
        """Network input per cell: wall, start, goal, the two candidate bits and, with
        channels=7, the forced chain walked from S (its cells but the end, its end)."""
        bits = torch.cat([static, cand.float()], -1)
        if channels == 5:
            return bits
        prefix, end = chain_marks(self._chains(cand, static)[0], self.cells)
        marks = torch.from_numpy(np.stack([prefix, end], -1).astype(np.float32)).to(cand.device)
        return torch.cat([bits, marks], -1)

    def _path_neighbours(self, path: torch.Tensor) -> torch.Tensor:
        """(B, N) how many 4-neighbours may be on the path."""
        grid = path.float().view(-1, 1, self.height, self.width)
        return F.conv2d(grid, self._kernel, padding=1).view(path.shape[0], -1)

    def close(self, cand: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
        ends = static[..., START_CH].bool() | static[..., GOAL_CH].bool()
        for _ in range(self.cells):
            for _ in range(self.cells):  # dead ends first: cheap tensor steps
                path = cand[..., ON_PATH]
                dead = path & ~ends & (self._path_neighbours(path) < 2)
                if not dead.any():
                    break
                cand = cand.clone()
                cand[..., ON_PATH] &= ~dead
            chords = self._chords(cand, static)  # then the chain walk, once per sweep
            if not chords.any():
                return cand
            cand = cand.clone()
            cand[..., ON_PATH] &= ~chords
        return cand

    def _chains(self, cand: torch.Tensor, static: torch.Tensor):
        """Per row: (the chain of forced path cells walked from S, and as numpy arrays
        (B, N): forced marks, may-be-path marks). A search asks for the chains of the
        same states several times a step (closure, bottom, answers, branching), so
        walks are cached by (S, forced marks): a chain is a function of those alone."""
        path = cand[..., ON_PATH]
        forced = (path & ~cand[..., FREE]).cpu().numpy()
        starts = static[..., START_CH].argmax(-1).tolist()
        chains = []
        for row, s in zip(forced, starts):
            key = (s, row.tobytes())
            chain = self._walks.get(key)
            if chain is None:
                if len(self._walks) >= CHAIN_CACHE:
                    self._walks.clear()
                # list indexing is several times faster than numpy's for a cell-by-cell walk
                chain = self._walks[key] = walk_chain(row.tolist(), s, self.height, self.width)
            chains.append(chain)
        return chains, forced, path.cpu().numpy()

    def _chords(self, cand: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
        """(B, N) cells that touch the forced chain from S anywhere but at its end. A
        shortest path has no chords (a chord would be a shortcut), so such cells
        cannot continue an optimal path: only optimal answers are accepted."""
        chains, _, path = self._chains(cand, static)
        prefix, end = chain_marks(chains, self.cells)
        touch = self._path_neighbours(torch.from_numpy(prefix).to(cand.device)) > 0
        return torch.from_numpy(path & ~prefix & ~end).to(cand.device) & touch

    def settle(self, cand: torch.Tensor, static: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        closed = self.close(cand, static)
        return closed, self.bottom(closed, static)

    def bottom(self, cand: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
        ends = static[..., START_CH].bool() | static[..., GOAL_CH].bool()
        isolated_end = (ends & (self._path_neighbours(cand[..., ON_PATH]) < 1)).any(-1)
        return (cand.sum(-1) == 0).any(-1) | isolated_end | self._stuck(cand, static)

    def _stuck(self, cand: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
        """(B,) the chain walked from S ends short of G where no neighbour can continue it
        (none may be on the path), or branches (two forced continuations): no simple path."""
        table = neighbour_table(self.height, self.width)
        goals = static[..., GOAL_CH].argmax(-1).tolist()
        chains, forced, path = self._chains(cand, static)
        prefix = chain_marks(chains, self.cells)[0]
        out = []
        for b, (chain, goal) in enumerate(zip(chains, goals)):
            end = chain[-1]
            nxt = [j for j in table[end] if path[b, j] and not prefix[b, j]]
            out.append(end != goal and (not nxt or sum(bool(forced[b, j]) for j in nxt) > 1))
        return torch.tensor(out, dtype=torch.bool, device=cand.device)

    def decided(self, cand: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
        """(B,) the forced-path chain walked from S reaches G: that chain is the answer
        (cells off it need no decision; the verifier judges the chain)."""
        goals = static[..., GOAL_CH].argmax(-1).tolist()
        chains = self._chains(cand, static)[0]
        return torch.tensor([chain[-1] == goal for chain, goal in zip(chains, goals)],
                            dtype=torch.bool, device=cand.device)

    def branch_cells(self, cand: torch.Tensor, static: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """Undecided neighbours of the end of the chain walked from S, the likeliest
        path cell first (by the value head). Value logits with the three phase logits
        after the two values (distance to G mod 3: the grid network) put first the
        neighbours one step nearer G than the chain's end: a neighbour whose phase is
        one step *farther* lies on a shortest path the chain has already overshot."""
        undecided = cand.sum(-1) > 1
        noise = 0.01 * torch.rand(undecided.shape, device=cand.device)
        score = (value[..., FREE] - value[..., ON_PATH]).float() + noise
        table = neighbour_table(self.height, self.width)
        ends = np.zeros((cand.shape[0], self.cells), dtype=bool)
        chain_ends = [chain[-1] for chain in self._chains(cand, static)[0]]
        for b, end in enumerate(chain_ends):
            ends[b, list(table[end])] = True
        mask = torch.from_numpy(ends).to(cand.device) & undecided
        if value.shape[-1] >= 2 + PHASE:
            phase = value[..., 2:2 + PHASE].argmax(-1)
            end_phase = phase.gather(1, torch.tensor(chain_ends, device=cand.device)[:, None])
            score = score - PHASE_RANK * (phase == (end_phase - 1) % PHASE)
        return torch.where(mask, score, torch.full_like(score, float("inf")))

    def decode(self, cand: torch.Tensor, puzzle: Maze) -> Maze:
        forced = (cand[:, ON_PATH] & ~cand[:, FREE]).cpu().numpy()
        chain = walk_chain(forced.tolist(), puzzle.start, self.height, self.width)
        return puzzle.with_path(chain[1:-1] if chain[-1] == puzzle.goal else np.flatnonzero(forced).tolist())

    def symmetry(self, rng) -> tuple[list[int], list[int]]:
        return list(maze_symmetry(self.height, self.width, rng).cells), [0, 1]


def maze_target(cand: np.ndarray, start: int, goal: int, distance: int, height: int, width: int):
    """Training target for one state: (keep (N, 2) bool, consistent). The path bit
    stays on cells of some shortest S-G path that extends the forced chain walked
    from S; the free bit goes on cells every such path crosses. `distance` is the
    maze's BFS distance S-G. Inconsistent states (no such path) return False."""
    path_ok, free_ok = cand[:, ON_PATH], cand[:, FREE]
    forced = path_ok & ~free_ok
    prefix = walk_chain(forced.tolist(), start, height, width)
    end, steps = prefix[-1], len(prefix) - 1
    allowed = path_ok.copy()
    allowed[prefix[:-1]] = False
    allowed = allowed.tolist()
    d1 = np.array(bfs_distances(allowed, end, height, width))
    d2 = np.array(bfs_distances(allowed, goal, height, width))
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
    keep[:, ON_PATH] = path_ok & (on | must)
    keep[prefix, ON_PATH] = True
    keep[:, FREE] = free_ok & ~must
    return keep, True


def chain_marks(chains, cells: int) -> tuple[np.ndarray, np.ndarray]:
    """(prefix, end) per row as (B, cells) bool arrays, for chains walked from S: the
    grid network reads where the forced path ends instead of walking it itself."""
    prefix = np.zeros((len(chains), cells), dtype=bool)
    end = np.zeros((len(chains), cells), dtype=bool)
    for b, chain in enumerate(chains):
        prefix[b, chain[:-1]] = True
        end[b, chain[-1]] = True
    return prefix, end


def search_fields(cand: np.ndarray, start: int, goal: int, height: int, width: int) -> dict:
    """What breadth-first search computes on a state, for the grid network's
    auxiliary targets: over the cells that may be on the path, minus the forced
    chain from S but its end E, `to_goal` (steps to G, -1 unreached), `from_end`
    (steps from E), and `on` (cells of shortest E-G paths)."""
    path_ok, free_ok = cand[:, ON_PATH], cand[:, FREE]
    prefix = walk_chain((path_ok & ~free_ok).tolist(), start, height, width)
    allowed = path_ok.copy()
    allowed[prefix[:-1]] = False
    allowed = allowed.tolist()
    to_goal = np.array(bfs_distances(allowed, goal, height, width))
    from_end = np.array(bfs_distances(allowed, prefix[-1], height, width))
    rest = to_goal[prefix[-1]]
    on = (to_goal >= 0) & (from_end >= 0) & (to_goal + from_end == rest) if rest >= 0 else np.zeros_like(path_ok)
    return {"to_goal": to_goal, "from_end": from_end, "on": on, "rest": int(rest)}
