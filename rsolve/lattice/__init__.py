"""Abstract domains (lattices) over puzzle states and their sound transfer
functions (layer 2: imports puzzles and torch, nothing above)."""
