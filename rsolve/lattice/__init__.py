"""Abstract domains (lattices) over puzzle states and their sound transfer
functions (layer 2: imports puzzles and torch, nothing above).

A domain works on batched boolean tensors `cand` (B, cells, values) and knows
how to encode puzzles, feed a network (`inputs`), close a state under its sound
rules, detect bottom (`settle` does both at once), pick branching cells and
decode an answer.
"""


def domain_for(kind: str, device="cpu", side: int = 9, height: int = 30, width: int = 30, rules: str | None = None):
    """The domain of a puzzle kind and shape; `rules`: which sound closure (Sudoku:
    singles, the default, or locked; mazes have one)."""
    if kind == "sudoku":
        from .sudoku import SudokuDomain

        return SudokuDomain(side, device, rules or "singles")
    if kind == "maze":
        from .maze import MazeDomain

        return MazeDomain(height, width, device)
    raise ValueError(f"no lattice for {kind!r} puzzles")
