#!/usr/bin/env bash
# TRM checkpoints under PTRM (K 16, every rule) on the hard validation split (60 generated puzzles
# rated >= 8 backtracks, seed 7; never trained on). Usage: bench/eqr_compare.sh CKPT...   (data: bench/ldt_data.sh)
set -u
for c in "$@"; do
  echo "== runs/data/sudoku-hardval.jsonl $c"
  rsolve eval runs/data/sudoku-hardval.jsonl -m trm,ptrm -c $c -O report=true -O samples=16 2>&1 | grep -v '^\s*$' | tail -n 14
done
