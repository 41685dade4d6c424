"""Puzzle types and text formats (layer 1: imports nothing else of rsolve, no torch)."""

from .formats import KINDS, Record, parse_text, read_records
from .maze import Maze
from .sudoku import PuzzleError, Sudoku, geometry, supported_sides

Puzzle = Sudoku | Maze

__all__ = ["KINDS", "Maze", "Puzzle", "PuzzleError", "Record", "Sudoku", "geometry",
           "parse_text", "read_records", "supported_sides"]
