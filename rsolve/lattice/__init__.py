"""Abstract domains (lattices) over puzzle states and their sound transfer
functions (layer 2: imports puzzles and torch, nothing above).

A domain works on batched boolean tensors `cand` (B, cells, values) and knows
how to encode puzzles, feed a network (`inputs`), close a state under its sound
rules, detect bottom (`settle` does both at once), pick branching cells and
decode an answer.
"""


def rules_for(kind: str) -> tuple[str, ...]:
    """The names of a puzzle kind's sound closures, weakest first."""
    return _domain_class(kind).RULES


def _domain_class(kind: str):
    if kind == "sudoku":
        from .sudoku import SudokuDomain

        return SudokuDomain
    if kind == "maze":
        from .maze import MazeDomain

        return MazeDomain
    raise ValueError(f"no lattice for {kind!r} puzzles")


def domain_for(kind: str, device="cpu", side: int = 9, height: int = 30, width: int = 30, rules: str | None = None):
    """The domain of a puzzle kind and shape; `rules`: which sound closure (Sudoku:
    singles, the default, or locked; mazes have one)."""
    if kind == "sudoku":
        return _domain_class(kind)(side, device, rules or "singles")
    return _domain_class(kind)(height, width, device)
