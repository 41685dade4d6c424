"""rsolve: Sudoku and maze solving with small recursive reasoning models.

Every answer an engine proposes is checked by a symbolic verifier before it is
reported as solved. The public Python API lives in :mod:`rsolve.api`.
"""

__version__ = "0.1.0"
