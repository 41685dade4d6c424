"""Puzzle generators: unique-solution Sudoku of any supported side, and Maze-Hard style mazes.

Everything draws from a caller-supplied `random.Random`, so a seed reproduces a
whole stream of puzzles. No torch or numpy: this runs in light worker processes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .puzzles.maze import GOAL, OPEN, START, WALL, Maze, bfs_path
from .puzzles.sudoku import Sudoku, geometry, supported_sides
from .verify.sudoku import sat_for


class GenerationError(ValueError):
    """Bad generator arguments, or no puzzle met the filters within the allowed tries."""


# ---------------------------------------------------------------- rating solver
@dataclass(frozen=True)
class Rating:
    solved: Sudoku | None
    nodes: int       # states propagated: the root plus every guess
    backtracks: int  # states whose propagation hit a contradiction
    rating: int = field(init=False)  # tdoku-style difficulty, as in Sudoku-Extreme

    def __post_init__(self):
        object.__setattr__(self, "rating", self.backtracks)


def _propagate(cand: list[int], fixed: list[bool], queue: list[int], geo, full: int) -> bool:
    """Naked and hidden singles to a fixed point; False on a contradiction.

    `cand` holds one bitmask per cell (bit v-1 for value v); a fixed cell keeps its
    single bit so a peer fixed to the same value shows up as an emptied mask.
    """
    peers, units = geo.peers, geo.units
    while True:
        while queue:
            i = queue.pop()
            if fixed[i]:
                continue
            fixed[i] = True
            b = cand[i]
            for p in peers[i]:
                m = cand[p]
                if m & b:
                    m ^= b
                    if not m:
                        return False
                    cand[p] = m
                    if not m & (m - 1):
                        queue.append(p)
        for unit in units:
            once = twice = 0
            for c in unit:
                m = cand[c]
                twice |= once & m
                once |= m
            if once != full:
                return False  # some value has nowhere to go in this unit
            only = once & ~twice
            if not only:
                continue
            for c in unit:
                if fixed[c]:
                    continue
                m = cand[c] & only
                if m:
                    if m & (m - 1):
                        return False  # one cell is the only home of two values
                    cand[c] = m
                    queue.append(c)
        if not queue:
            return True


class _Search:
    """Depth-first search over bitmask states, counting nodes and dead ends."""

    def __init__(self, side: int, rng: random.Random | None = None):
        self.geo = geometry(side)
        self.full = (1 << side) - 1
        self.rng = rng  # None: values in increasing order, so ratings are reproducible
        self.nodes = self.backtracks = 0

    def run(self, cells) -> tuple[int, ...] | None:
        cand = [1 << (v - 1) if v else self.full for v in cells]
        found = self._node(cand, [False] * len(cand), [i for i, v in enumerate(cells) if v])
        return None if found is None else tuple(m.bit_length() for m in found)

    def _node(self, cand, fixed, queue):
        self.nodes += 1
        if not _propagate(cand, fixed, queue, self.geo, self.full):
            self.backtracks += 1
            return None
        best, best_count = -1, 99
        for i, m in enumerate(cand):
            if not fixed[i]:
                k = m.bit_count()
                if k < best_count:
                    best, best_count = i, k
                    if k == 2:
                        break  # singles are gone, so 2 is the minimum possible
        if best < 0:
            return cand
        m = cand[best]
        bits = []
        while m:
            b = m & -m
            bits.append(b)
            m ^= b
        if self.rng is not None:
            self.rng.shuffle(bits)
        for b in bits:
            child = cand[:]
            child[best] = b
            found = self._node(child, fixed[:], [best])
            if found is not None:
                return found
        return None


def rate_sudoku(puzzle: Sudoku) -> Rating:
    """Solve with singles plus first-solution DFS; deterministic for a given puzzle."""
    search = _Search(puzzle.side)
    cells = search.run(puzzle.cells)
    solved = None if cells is None else puzzle.with_cells(cells)
    return Rating(solved, search.nodes, search.backtracks)


# ---------------------------------------------------------------- Sudoku generation
def _random_grid(rng: random.Random, side: int) -> Sudoku:
    # Random value order on an empty grid gives varied full grids; propagation
    # keeps 16x16 fills from wandering into deep dead ends.
    cells = _Search(side, rng).run((0,) * (side * side))
    return Sudoku(side, cells)  # never None: every supported box shape has full grids


def dig_sudoku(rng: random.Random, solution: Sudoku, min_clues: int = 0) -> Sudoku:
    """A puzzle whose only solution is `solution` (a complete, valid grid): blank cells
    in random order while the solution stays unique.

    Each cell is tried once: a clue whose removal breaks uniqueness is needed by
    every sub-puzzle too, so the result is minimal unless min_clues stopped it.
    The known solution fits every dug puzzle, so "exactly one solution" is the
    same question as is_unique: one SAT call where count(p, 2) makes two, and
    count's cost per call grew with use (about 3x after 16,000 calls) where
    is_unique's stayed flat.
    """
    sat = sat_for(solution.side)
    cells = list(solution.cells)
    order = list(range(len(cells)))
    rng.shuffle(order)
    clues = len(cells)
    for i in order:
        if clues <= min_clues:
            break
        v, cells[i] = cells[i], 0
        if sat.is_unique(Sudoku(solution.side, tuple(cells)), solution):
            clues -= 1
        else:
            cells[i] = v
    return Sudoku(solution.side, tuple(cells))


def generate_sudoku(rng: random.Random, side: int = 9, min_clues: int | None = None,
                    max_clues: int | None = None, min_rating: int | None = None,
                    max_rating: int | None = None,
                    max_tries: int = 1000) -> tuple[Sudoku, Sudoku, Rating]:
    """(puzzle, solution, rating) for a puzzle with exactly one solution that passes the filters."""
    if side not in supported_sides():
        raise GenerationError(f"side {side} is not a supported Sudoku side "
                              f"({', '.join(map(str, supported_sides()))})")
    n = side * side
    lo = 0 if min_clues is None else min_clues
    hi = n if max_clues is None else max_clues
    if not 0 <= lo <= hi <= n:
        raise GenerationError(f"clue range {min_clues}..{max_clues} is empty or outside 0..{n}")
    if min_rating is not None and max_rating is not None and min_rating > max_rating:
        raise GenerationError(f"rating range {min_rating}..{max_rating} is empty")
    if max_tries < 1:
        raise GenerationError("max_tries must be at least 1")
    for _ in range(max_tries):
        solution = _random_grid(rng, side)
        puzzle = dig_sudoku(rng, solution, lo)
        if puzzle.clues > hi:
            continue
        rating = rate_sudoku(puzzle)
        if rating.solved != solution:  # unique by construction, so this would be a solver bug
            raise GenerationError("rating solver disagrees with the generated solution")
        if (min_rating is None or rating.rating >= min_rating) and \
                (max_rating is None or rating.rating <= max_rating):
            return puzzle, solution, rating
    raise GenerationError(f"no {side}x{side} Sudoku with clues {lo}..{hi} and rating "
                          f"{min_rating or 0}..{'any' if max_rating is None else max_rating} "
                          f"in {max_tries} tries")


def iter_sudoku(seed, count: int, **filters):
    """`count` generated (puzzle, solution, rating) triples from one seeded stream."""
    rng = random.Random(seed)
    for _ in range(count):
        yield generate_sudoku(rng, **filters)


# ---------------------------------------------------------------- maze generation
# Grids are Python ints with bit i = cell i: a whole BFS level is a few shifts, and
# with thousands of layouts rejected per maze this made generation about 7x faster
# than a cell-by-cell queue over a list of characters.

def _bernoulli_bits(rng: random.Random, n: int, p: float) -> int:
    """n bits, each set with probability p: per bit, a uniform U < p is decided
    one binary digit at a time, a dozen getrandbits calls instead of n random()s."""
    less, tied = 0, (1 << n) - 1
    for _ in range(53):  # a double has no more digits to compare
        if not tied:
            break
        p *= 2
        r = rng.getrandbits(n)
        if p >= 1:
            p -= 1
            less |= tied & ~r
            tied &= r
        else:
            tied &= ~r
    return less


def generate_maze(rng: random.Random, height: int = 30, width: int = 30,
                  wall_min: float = 0.28, wall_max: float = 0.45, min_path: int = 110,
                  max_tries: int = 100000) -> tuple[Maze, Maze]:
    """(puzzle, solution) for a random-wall maze whose shortest path has > min_path cells.

    Drawing S and G both at random (the plain Maze-Hard recipe) accepts about 1 in
    20,000 wall layouts at 30x30 / 110, seconds per maze. Instead S is drawn at
    random, one BFS from S finds every cell far enough away, and G is drawn
    uniformly among those; a layout is rejected only if there is none (about 1 in
    2,500 pass). Density, S and G stay random, but accepted layouts are weighted
    by "has a far cell" rather than by how many far cells they have. Checked on
    300 mazes against the real Maze-Hard train set: wall-density histogram, path
    lengths and S-G Manhattan distances (median 16 vs 18) match closely.
    """
    if height < 2 or width < 2:
        raise GenerationError(f"maze must be at least 2x2, got {height}x{width}")
    if not 0 <= wall_min <= wall_max < 1:
        raise GenerationError(f"need 0 <= wall_min <= wall_max < 1, got {wall_min}, {wall_max}")
    if min_path < 0:
        raise GenerationError(f"min_path must be >= 0, got {min_path}")
    n = height * width
    if min_path > n - 3:
        raise GenerationError(f"a {height}x{width} maze has no path of more than {min_path} cells")
    if max_tries < 1:
        raise GenerationError("max_tries must be at least 1")
    need = min_path + 2  # BFS steps from S to G = path cells + 1
    everything = (1 << n) - 1
    col0 = sum(1 << (r * width) for r in range(height))
    not_first, not_last = everything & ~col0, everything & ~(col0 << (width - 1))
    for _ in range(max_tries):
        density = rng.uniform(wall_min, wall_max)
        free = everything & ~_bernoulli_bits(rng, n, density)
        if free.bit_count() <= need:
            continue
        while True:  # uniform over open cells, without listing them
            start = rng.randrange(n)
            if free >> start & 1:
                break
        seen = frontier = 1 << start
        far, steps = 0, 0
        while frontier:
            frontier = (((frontier << 1) & not_first) | ((frontier >> 1) & not_last)
                        | (frontier << width) | (frontier >> width)) & free & ~seen
            seen |= frontier
            steps += 1
            if steps >= need:
                far |= frontier
        if not far:
            continue
        goal = rng.choice([i for i in range(n) if far >> i & 1])
        grid = [OPEN if free >> i & 1 else WALL for i in range(n)]
        grid[start], grid[goal] = START, GOAL
        puzzle = Maze(height, width, "".join(grid))
        path = bfs_path(puzzle)
        if path is None or len(path) <= min_path:  # bfs_path is the reference: trust it
            raise GenerationError("maze distances disagree with bfs_path")
        return puzzle, puzzle.with_path(path)
    raise GenerationError(f"no {height}x{width} maze with a path of more than {min_path} cells "
                          f"in {max_tries} tries (walls {wall_min}..{wall_max})")


def iter_maze(seed, count: int, **kw):
    """`count` generated (puzzle, solution) pairs from one seeded stream."""
    rng = random.Random(seed)
    for _ in range(count):
        yield generate_maze(rng, **kw)
