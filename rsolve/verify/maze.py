"""Maze checking with networkx BFS.

A marked path is valid when its cells are open and form one simple chain from S
to G (each step to a 4-neighbour, no branches, no loops, no stray marks). It is
optimal when its number of steps equals the BFS distance from S to G. Validity
and optimality are reported apart; label match is a dataset question, not ours.
"""

from __future__ import annotations

from ..puzzles.maze import OPEN, PATH_CHAR, WALL, Maze
from .sudoku import Verdict


def maze_graph(maze: Maze):
    """networkx graph of the open cells (S and G included), 4-neighbourhood."""
    import networkx as nx

    g, w = maze.grid, maze.width
    adj: dict[int, dict] = {i: {} for i, ch in enumerate(g) if ch != WALL}
    for i in adj:
        for j in ((i + 1) if (i + 1) % w else -1, i + w):
            if j in adj:
                adj[i][j] = adj[j][i] = {}
    graph = nx.Graph()
    if isinstance(getattr(graph, "_adj", None), dict) and isinstance(getattr(graph, "_node", None), dict):
        # Fill networkx's documented dict-of-dicts store directly: add_edges_from
        # costs ~2 ms per 30x30 maze, half the verifier's time.
        graph._adj, graph._node = adj, {i: {} for i in adj}
    else:
        graph.add_nodes_from(adj)
        graph.add_edges_from((i, j) for i, nbrs in adj.items() for j in nbrs if i < j)
    return graph


def shortest_distance(maze: Maze) -> int | None:
    """Steps on a shortest S-G path, or None when G cannot be reached."""
    import networkx as nx

    try:
        return nx.shortest_path_length(maze_graph(maze), maze.start, maze.goal)
    except nx.NetworkXNoPath:
        return None


def count_shortest_paths(maze: Maze, limit: int = 2) -> int:
    """Number of distinct shortest S-G paths, capped at `limit`."""
    import networkx as nx

    graph = maze_graph(maze)
    dist = nx.single_source_shortest_path_length(graph, maze.start)
    if maze.goal not in dist:
        return 0
    ways = {maze.start: 1}
    for node in sorted(dist, key=dist.get)[1:]:
        ways[node] = min(limit, sum(ways.get(p, 0) for p in graph[node] if dist.get(p) == dist[node] - 1))
    return ways[maze.goal]


def check_path(puzzle: Maze, answer: Maze) -> Verdict:
    """Validity of the `o` cells of `answer` as a path for `puzzle`, then optimality."""
    if (answer.height, answer.width) != (puzzle.height, puzzle.width):
        return Verdict(False, f"answer is {answer.height}x{answer.width}, maze is {puzzle.height}x{puzzle.width}")
    base = puzzle.puzzle().grid
    for i, (p, a) in enumerate(zip(base, answer.grid)):
        if a != p and not (a == PATH_CHAR and p == OPEN):
            r, c = divmod(i, puzzle.width)
            what = "crosses a wall" if p == WALL else f"changes {p!r} to {a!r}"
            return Verdict(False, f"answer {what} at row {r + 1}, column {c + 1}")
    marked = answer.path_cells()
    goal = puzzle.goal
    cur, prev, steps = puzzle.start, -1, 0
    while cur != goal:
        nxt = [n for n in puzzle.neighbours(cur) if n != prev and (n in marked or n == goal)]
        if goal in nxt:
            nxt = [goal]  # reaching G ends the chain
        if len(nxt) != 1:
            why = "the path breaks off" if not nxt else "the path branches"
            r, c = divmod(cur, puzzle.width)
            return Verdict(False, f"{why} at row {r + 1}, column {c + 1}")
        prev, cur = cur, nxt[0]
        steps += 1
        if steps > len(marked) + 1:
            return Verdict(False, "the path loops")
    if steps != len(marked) + 1:
        return Verdict(False, f"{len(marked) + 1 - steps} marked cells are off the S-G chain")
    best = shortest_distance(puzzle)
    if steps != best:
        return Verdict(True, f"path has {steps} steps, the shortest has {best}", optimal=False)
    return Verdict(True, optimal=True)
