"""Grid geometry and HRM/TRM token ids, the one home for both (layer 1: pure Python).

Cells are numbered row-major, i = r * width + c. Neighbours are the 4-neighbourhood
in one fixed order, up, down, left, right: every search here breaks ties the same
way, so a generated maze's label path does not depend on who solved it.

Token ids, as in the HRM and TRM data sets (0 pads and never names a cell):

    maze:   1 wall, 2 open, 3 S, 4 G, 5 path
    Sudoku: 1 blank, value v -> v + 1
"""

from __future__ import annotations

from collections import deque
from functools import lru_cache

from .sudoku import SYMBOLS, PuzzleError

PAD_TOKEN, WALL_TOKEN, OPEN_TOKEN, START_TOKEN, GOAL_TOKEN, PATH_TOKEN = range(6)
MAZE_TOKEN_CHARS = "?#.SGo"  # the maze character of each token id ("?": the pad)
SUDOKU_BLANK_TOKEN = 1
SUDOKU_TOKEN_CHARS = "?." + SYMBOLS  # the Sudoku text character of each token id
MAZE_VOCAB = len(MAZE_TOKEN_CHARS)
_MAZE_IDS = {ch: t for t, ch in enumerate(MAZE_TOKEN_CHARS) if t != PAD_TOKEN}


# ---------------------------------------------------------------- geometry
@lru_cache(maxsize=None)
def neighbour_table(height: int, width: int) -> tuple[tuple[int, ...], ...]:
    """The 4-neighbours of every cell (up, down, left, right), built once per shape:
    hot loops index this table instead of recomputing row and column per step."""
    table = []
    for i in range(height * width):
        r, c = divmod(i, width)
        table.append(tuple(j for j, ok in ((i - width, r > 0), (i + width, r < height - 1),
                                           (i - 1, c > 0), (i + 1, c < width - 1)) if ok))
    return tuple(table)


def neighbours(i: int, height: int, width: int) -> tuple[int, ...]:
    return neighbour_table(height, width)[i]


def _search(allowed, source: int, height: int, width: int, target: int = -1) -> tuple[list[int], list[int]]:
    """BFS from `source` over cells with allowed[i] true: (steps to each cell, the cell
    each was first reached from), -1 where unreached. Stops once `target` is dequeued."""
    table = neighbour_table(height, width)
    dist, parent = [-1] * (height * width), [-1] * (height * width)
    dist[source] = 0
    queue = deque([source])
    while queue:
        u = queue.popleft()
        if u == target:
            break
        step = dist[u] + 1
        for v in table[u]:
            if dist[v] < 0 and allowed[v]:
                dist[v], parent[v] = step, u
                queue.append(v)
    return dist, parent


def bfs_distances(allowed, source: int, height: int, width: int) -> list[int]:
    """Steps from `source` to every cell over allowed cells (-1: unreachable). `allowed`
    is indexed per cell; a list is much faster to index than a numpy array."""
    return _search(allowed, source, height, width)[0]


def shortest_path(allowed, source: int, target: int, height: int, width: int) -> list[int] | None:
    """One shortest path from `source` to `target` over allowed cells, both ends included,
    or None when `target` cannot be reached."""
    dist, parent = _search(allowed, source, height, width, target)
    if dist[target] < 0:
        return None
    path = [target]
    while path[-1] != source:
        path.append(parent[path[-1]])
    return path[::-1]


def descent_path(allowed, source: int, target: int, height: int, width: int) -> list[int] | None:
    """The shortest path from `source` to `target` that steps, at every cell, to the
    first neighbour (up, down, left, right) one step nearer the target: a function of
    the grid alone, and a local rule (a network can follow it from a distance field),
    so a label made this way never contradicts another optimal path of a rotated view."""
    dist = bfs_distances(allowed, target, height, width)
    if dist[source] < 0:
        return None
    table, path = neighbour_table(height, width), [source]
    while path[-1] != target:
        d = dist[path[-1]] - 1
        path.append(next(j for j in table[path[-1]] if dist[j] == d))
    return path


def walk_chain(marked, start: int, height: int, width: int) -> list[int]:
    """The chain of marked cells walked from `start` (included) while the next step is
    unambiguous: exactly one marked neighbour not yet on the chain."""
    table = neighbour_table(height, width)
    chain, seen = [start], {start}
    while True:
        nxt = [j for j in table[chain[-1]] if marked[j] and j not in seen]
        if len(nxt) != 1:
            return chain
        chain.append(nxt[0])
        seen.add(nxt[0])


def ordered_path(marked, start: int, goal: int, height: int, width: int) -> list[int]:
    """The cells of a marked S-G path in order, S and G included (`marked` must mark G;
    S need not be). ValueError unless the marks walk as one chain from S to G."""
    chain = walk_chain(marked, start, height, width)
    if chain[-1] != goal:
        raise ValueError("the marked path is not one chain from S to G")
    return chain


# ---------------------------------------------------------------- symmetries
def _view_cell(r: int, c: int, height: int, width: int, flip: bool, turns: int) -> tuple[int, int]:
    """Where cell (r, c) lands after an optional left-right flip, then `turns` quarter turns."""
    if flip:
        c = width - 1 - c
    if turns >= 2:  # a half turn keeps any rectangle's shape
        r, c = height - 1 - r, width - 1 - c
    if turns % 2:  # a quarter turn keeps only a square's
        r, c = c, height - 1 - r
    return r, c


@lru_cache(maxsize=None)
def grid_symmetries(height: int, width: int) -> tuple[tuple[int, ...], ...]:
    """The dihedral symmetries that keep the grid's shape, each as a map original cell ->
    view cell, identity first: all 8 of a square, the 4 of a rectangle (identity, half
    turn, left-right and top-bottom flips). The order is fixed: seeded draws repeat."""
    turns = range(4) if height == width else (0, 2)
    out = []
    for flip in (False, True):
        for t in turns:
            cells = []
            for r in range(height):
                for c in range(width):
                    rr, cc = _view_cell(r, c, height, width, flip, t)
                    cells.append(rr * width + cc)
            out.append(tuple(cells))
    return tuple(out)


# ---------------------------------------------------------------- tokens
def maze_tokens(grid: str) -> list[int]:
    """Token ids of a maze grid string over "#.SGo"."""
    return [_MAZE_IDS[ch] for ch in grid]


def maze_chars(tokens) -> str:
    """The grid string of maze token ids; PuzzleError for anything but ids 1-5."""
    try:
        ids = [int(t) for t in tokens]
    except (TypeError, ValueError) as exc:
        raise PuzzleError(f"bad maze tokens: {exc}") from None
    if any(not PAD_TOKEN < t <= PATH_TOKEN for t in ids):
        raise PuzzleError(f"maze tokens outside {WALL_TOKEN}-{PATH_TOKEN}")
    return "".join(MAZE_TOKEN_CHARS[t] for t in ids)


def sudoku_tokens(cells) -> list[int]:
    """Token ids of Sudoku cells (0 blank, else the value)."""
    return [v + SUDOKU_BLANK_TOKEN for v in cells]


def sudoku_vocab(side: int) -> int:
    """Token ids a network needs for Sudoku of this side: pad, blank and the values."""
    return side + 2
