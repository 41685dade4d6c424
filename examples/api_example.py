#!/usr/bin/env python3
"""api_example.py - rsolve's Python API in a few lines.

Solves one Sudoku given as a string, checks a deliberately wrong answer with the
symbolic verifier, then generates two fresh puzzles and solves them. Run it with
the Python that has rsolve installed:

    python examples/api_example.py

Expected output (the exact generated puzzles depend on rsolve's generator):

    status: solved
    solution: 4xxxx...  (81 digits)
    verified: True
    wrong answer accepted: False
    reason: ...  (the verifier's explanation, e.g. a repeated digit)
    generated 1: <puzzle> -> solved (unique: True)
    generated 2: <puzzle> -> solved (unique: True)
"""

from rsolve import api
from rsolve.puzzles import Sudoku

# Any format `rsolve solve` reads works here: one line, a grid, a maze, JSONL.
PUZZLE = "7.......3.....81.2....6..8...1.7.4...32.4...9..........7.6....169.3.4.7.1.....5.."


def main() -> None:
    # 1. Solve a puzzle string. api.solve returns one Result per record found in the text.
    [result] = api.solve(PUZZLE, model="sat")
    print("status:", result.status)
    print("solution:", result.solution.to_string())
    print("verified:", result.verified)

    # 2. Verify a wrong answer: swap two different digits of the solution in a row
    #    that the puzzle leaves blank there, so each digit repeats in a column.
    puzzle = Sudoku.from_string(PUZZLE)
    cells = list(result.solution.cells)
    blank = [i for i, v in enumerate(puzzle.cells) if v == 0]
    a, b = next((i, j) for i in blank for j in blank if i < j and i // 9 == j // 9)
    cells[a], cells[b] = cells[b], cells[a]
    verdict = api.verify(puzzle, puzzle.with_cells(cells))
    print("wrong answer accepted:", verdict.accepted)
    print("reason:", verdict.reason)

    # 3. Generate two puzzles (deterministic for a seed) and solve them,
    #    asking the solver to also prove the solution is unique.
    generated = [p for p, _solution, _rating in api.generate_sudoku(2, seed=7)]
    for n, res in enumerate(api.solve(generated, model="sat", check_unique=True), 1):
        print(f"generated {n}: {res.puzzle.to_string()} -> {res.status} (unique: {res.unique})")


if __name__ == "__main__":
    main()
