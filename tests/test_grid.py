"""Grid geometry, symmetries and token ids (rsolve.puzzles.grid), exact labels, and the
layering rule that lower layers never import engines."""

import ast
import random
import subprocess
import sys
from pathlib import Path

import pytest

from rsolve.generate import generate_maze
from rsolve.puzzles import Maze, PuzzleError, Sudoku
from rsolve.puzzles import grid
from rsolve.puzzles.dataset import Example, to_token_arrays
from rsolve.puzzles.maze import GOAL, OPEN, PATH_CHAR, START, WALL, bfs_path
from rsolve.puzzles.symmetry import maze_symmetry
from rsolve.verify import check
from rsolve.verify.label import labelled, solve_exactly

ROOT = Path(__file__).resolve().parents[1] / "rsolve"
MAZE = ["S..#", ".#..", "...G"]
SOLVED = ["Soo#", ".#oo", "...G"]


def _random_maze(rng: random.Random, height: int, width: int) -> Maze:
    cells = [WALL if rng.random() < 0.3 else OPEN for _ in range(height * width)]
    s, g = rng.sample(range(height * width), 2)
    cells[s], cells[g] = START, GOAL
    return Maze(height, width, "".join(cells))


# ---------------------------------------------------------------- geometry
def test_neighbours_are_the_in_grid_4_neighbours_up_down_left_right():
    h, w = 3, 4
    for i in range(h * w):
        r, c = divmod(i, w)
        want = [rr * w + cc for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1))
                if 0 <= rr < h and 0 <= cc < w]
        assert list(grid.neighbours(i, h, w)) == want
    assert grid.neighbours(0, 1, 1) == ()


def test_bfs_distances_match_a_brute_force_relaxation():
    rng = random.Random(1)
    for _ in range(30):
        h, w = rng.randrange(1, 9), rng.randrange(1, 9)
        allowed = [rng.random() < 0.7 for _ in range(h * w)]
        source = rng.randrange(h * w)
        want = [-1] * (h * w)
        want[source] = 0
        for _ in range(h * w):  # Bellman-Ford on unit edges
            for i in range(h * w):
                if allowed[i]:
                    d = [want[j] for j in grid.neighbours(i, h, w) if want[j] >= 0]
                    if d and (want[i] < 0 or min(d) + 1 < want[i]) and i != source:
                        want[i] = min(d) + 1
        assert grid.bfs_distances(allowed, source, h, w) == want


def test_shortest_path_is_a_shortest_chain_or_none():
    rng = random.Random(2)
    for _ in range(50):
        maze = _random_maze(rng, rng.randrange(2, 10), rng.randrange(2, 10))
        h, w, allowed = maze.height, maze.width, [ch != WALL for ch in maze.grid]
        dist = grid.bfs_distances(allowed, maze.start, h, w)
        path = grid.shortest_path(allowed, maze.start, maze.goal, h, w)
        if dist[maze.goal] < 0:
            assert path is None and bfs_path(maze) is None
            continue
        assert path[0] == maze.start and path[-1] == maze.goal and len(path) == dist[maze.goal] + 1
        assert all(b in grid.neighbours(a, h, w) and allowed[b] for a, b in zip(path, path[1:]))
        assert bfs_path(maze) == path[1:-1]
        assert check(maze, maze.with_path(path[1:-1])).optimal


def test_ties_go_to_the_first_neighbour_in_order():
    # on an open 2x2 grid both ways from corner 0 to corner 3 are shortest: "down" comes first
    assert grid.shortest_path([True] * 4, 0, 3, 2, 2) == [0, 2, 3]


def test_walk_chain_stops_where_the_next_step_is_ambiguous_or_missing():
    # 3x3: marks 0 -> 1 -> 4, where 4 branches to 5 and 7
    marked = [True, True, False, False, True, True, False, True, False]
    assert grid.walk_chain(marked, 0, 3, 3) == [0, 1, 4]
    assert grid.walk_chain([False] * 9, 4, 3, 3) == [4]


def test_ordered_path_of_a_marked_maze_and_its_refusals():
    solved = Maze.from_rows(SOLVED)
    assert solved.ordered_path() == [0, 1, 2, 6, 7, 11]
    broken = Maze.from_rows(["So.#", ".#.o", "...G"])
    with pytest.raises(ValueError, match="not one chain"):
        broken.ordered_path()
    stray = Maze.from_rows(["Soo#", ".#oo", "..oG"])  # a mark branching off next to G
    with pytest.raises(ValueError, match="not one chain"):
        stray.ordered_path()


# ---------------------------------------------------------------- symmetries
@pytest.mark.parametrize("height,width,count", [(5, 5, 8), (3, 5, 4), (4, 2, 4)])
def test_grid_symmetries_are_distinct_adjacency_preserving_permutations(height, width, count):
    views = grid.grid_symmetries(height, width)
    assert len(set(views)) == count and views[0] == tuple(range(height * width))
    for cells in views:
        assert sorted(cells) == list(range(height * width))
        for i in range(height * width):
            mapped = sorted(cells[j] for j in grid.neighbours(i, height, width))
            assert mapped == sorted(grid.neighbours(cells[i], height, width))


def test_maze_symmetry_draws_all_four_symmetries_of_a_rectangle():
    # regression: rectangles used to get only the identity and the half turn
    rng = random.Random(0)
    assert len({maze_symmetry(3, 5, rng).cells for _ in range(200)}) == 4


def test_a_solved_maze_stays_solved_under_every_symmetry():
    puzzle, solution = generate_maze(random.Random(3), height=6, width=9, min_path=8)
    for cells in grid.grid_symmetries(6, 9):
        view = [""] * len(cells)
        for i, j in enumerate(cells):
            view[j] = solution.grid[i]
        answer = Maze(6, 9, "".join(view))
        assert check(answer.puzzle(), answer).optimal


# ---------------------------------------------------------------- tokens
def test_maze_tokens_round_trip_and_agree_with_the_maze_characters():
    assert grid.MAZE_TOKEN_CHARS[1:] == WALL + OPEN + START + GOAL + PATH_CHAR
    solved = Maze.from_rows(SOLVED)
    tokens = grid.maze_tokens(solved.grid)
    assert tokens[:4] == [grid.START_TOKEN, grid.PATH_TOKEN, grid.PATH_TOKEN, grid.WALL_TOKEN]
    assert grid.maze_chars(tokens) == solved.grid and Maze.from_tokens(tokens, 4) == solved
    assert solved.tokens() == tokens


@pytest.mark.parametrize("bad", [[0, 1], [6], ["x"], [None]])
def test_bad_maze_tokens_raise_puzzle_errors(bad):
    with pytest.raises(PuzzleError, match="maze tokens"):
        grid.maze_chars(bad)


def test_token_arrays_use_the_grid_encoding():
    maze = Example(Maze.from_rows(MAZE), Maze.from_rows(SOLVED))
    x, y = to_token_arrays([maze])
    assert x[0].tolist() == grid.maze_tokens(maze.puzzle.grid)
    assert y[0].tolist() == grid.maze_tokens(maze.solution.grid)
    sudoku = Sudoku.from_string("1.34" "3412" "2143" "4321")
    x, _ = to_token_arrays([Example(sudoku, sudoku.with_cells((1, 2, 3, 4, 3, 4, 1, 2, 2, 1, 4, 3, 4, 3, 2, 1)))])
    assert x[0].tolist() == grid.sudoku_tokens(sudoku.cells)
    assert x[0, 1] == grid.SUDOKU_BLANK_TOKEN and grid.sudoku_vocab(4) > max(x[0])


# ---------------------------------------------------------------- exact labels
def test_exact_labels_solve_mazes_and_only_unique_sudoku():
    maze = Maze.from_rows(MAZE)
    assert check(maze, solve_exactly(maze)).optimal
    assert solve_exactly(Maze.from_rows(["S#.", "##G"])) is None
    puzzle = Sudoku.from_string("1.34" "3412" "2143" "4321")
    assert solve_exactly(puzzle).cells[1] == 2
    assert solve_exactly(Sudoku.from_string("." * 16)) is None
    ex = labelled(Example(maze, None, None, "m"))
    assert ex.solution == solve_exactly(maze) and ex.source == "m"
    given = Example(maze, Maze.from_rows(SOLVED))
    assert labelled(given) is given


# ---------------------------------------------------------------- layering
LOW_LAYERS = ["puzzles", "verify", "lattice", "models", "generate.py", "checkpoints.py"]


def _imports(path: Path) -> set[str]:
    """Absolute names of the rsolve modules a file imports (relative imports resolved)."""
    package = ".".join(("rsolve",) + path.relative_to(ROOT).parent.parts)
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names |= {module} | {f"{module}.{a.name}" for a in node.names}
    return {n for n in names if n.startswith("rsolve")}


@pytest.mark.parametrize("layer", LOW_LAYERS)
def test_lower_layers_never_import_engines(layer):
    files = [ROOT / layer] if layer.endswith(".py") else sorted((ROOT / layer).glob("*.py"))
    for f in files:
        bad = sorted(n for n in _imports(f) if n.startswith(("rsolve.engines", "rsolve.train", "rsolve.cli")))
        assert not bad, f"{f.relative_to(ROOT)} imports {bad[0]}"


def test_puzzles_import_nothing_else_of_rsolve_and_grid_needs_no_numpy():
    for f in sorted((ROOT / "puzzles").glob("*.py")):
        assert all(n.startswith("rsolve.puzzles") for n in _imports(f)), f
    code = ("import sys, rsolve.puzzles.grid, rsolve.puzzles.maze; "
            "print('numpy' in sys.modules or 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("seed", range(5))
def test_token_views_keep_a_grid_valid_and_are_undone_exactly(seed):
    from rsolve.puzzles.symmetry import grid_token_view, sudoku_token_view
    from rsolve.verify.sudoku import sat_for

    rng = random.Random(seed)
    grid_ = sat_for(9).solve(Sudoku.from_string("." * 81))
    view = sudoku_token_view(9, rng)
    shown = view.show([v + 1 for v in grid_.cells])  # rows hold value + 1; predictions are values
    seen = Sudoku.from_string("".join(str(t - 1) for t in shown))
    assert seen.cells != grid_.cells and check(Sudoku.from_string("." * 81), seen).accepted
    assert view.back([t - 1 for t in shown]) == list(grid_.cells)
    maze = grid_token_view(6, 6, rng)
    row = [rng.randrange(6) for _ in range(36)]
    assert sorted(maze.show(row)) == sorted(row) and maze.back(maze.show(row)) == row
