"""The example scripts in examples/ and the example puzzles in puzzles/ actually work.

Runs the shell scripts and api_example.py as a user would (the `rsolve` console
script next to this Python first on PATH), with small counts to stay fast.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PUZZLES = ROOT / "puzzles"
BIN = Path(sys.executable).parent
RSOLVE = BIN / "rsolve"

pytestmark = pytest.mark.skipif(not RSOLVE.exists(), reason=f"no rsolve console script in {BIN}")
needs_jq = pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")

# puzzle file -> (kind(s) in it, number of records)
PUZZLE_FILES = {
    "sudoku9.txt": ({"sudoku"}, 5),
    "sudoku9-grid.sdk": ({"sudoku"}, 1),
    "sudoku4.txt": ({"sudoku"}, 3),
    "sudoku6.txt": ({"sudoku"}, 3),
    "sudoku16.txt": ({"sudoku"}, 2),
    "maze-small.txt": ({"maze"}, 2),
    "maze30.txt": ({"maze"}, 1),
    "mixed.txt": ({"sudoku", "maze"}, 2),
}


def _env(**extra) -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("RSOLVE_DEBUG", None)
    env.update(extra)
    return env


def run(args, timeout=60, **env) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout,
                          env=_env(**env), cwd=ROOT)


def jsonl(path_or_text) -> list[dict]:
    text = path_or_text.read_text() if isinstance(path_or_text, Path) else path_or_text
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def puzzle_lines(path: Path) -> list[str]:
    return [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


# --- examples/ -----------------------------------------------------------------------------


@needs_bash
@needs_jq
def test_solve_many(tmp_path):
    p = run(["bash", EXAMPLES / "solve_many.sh", 50, tmp_path], timeout=120)
    assert p.returncode == 0, p.stderr
    assert "puzzles: 50" in p.stdout and "results: 50" in p.stdout
    assert re.search(r"^\s*50 solved$", p.stdout, re.M), p.stdout  # the `uniq -c` tally
    assert "ok: one result per puzzle" in p.stdout
    assert len(puzzle_lines(tmp_path / "puzzles.txt")) == 50
    results = jsonl(tmp_path / "results.jsonl")
    assert len(results) == 50
    assert {r["status"] for r in results} == {"solved"} and all(r["verified"] for r in results)


@needs_bash
@needs_jq
def test_keep_abstained_nothing_abstains(tmp_path):
    p = run(["bash", EXAMPLES / "keep_abstained.sh", PUZZLES / "sudoku9.txt", tmp_path])
    assert p.returncode == 0, p.stderr
    assert "first pass: 5 records, 5 solved" in p.stdout
    assert "kept 0 records" in p.stdout and "nothing to re-solve" in p.stdout
    assert (tmp_path / "kept.jsonl").exists() and (tmp_path / "kept.jsonl").read_text() == ""
    assert not (tmp_path / "retry.jsonl").exists()


@needs_bash
@needs_jq
def test_keep_abstained_resolves_the_kept_records(tmp_path):
    # `bfs` cannot solve Sudoku, so every record comes back not solved (status invalid,
    # puzzle kept): the kept records must then be re-solved by the retry model.
    p = run(["bash", EXAMPLES / "keep_abstained.sh", PUZZLES / "sudoku9.txt", tmp_path],
            FIRST_MODEL="bfs", RETRY_MODEL="sat")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "first pass: 5 records, 0 solved" in p.stdout
    kept = jsonl(tmp_path / "kept.jsonl")
    assert len(kept) == 5 and all(r["status"] != "solved" for r in kept)
    retry = jsonl(tmp_path / "retry.jsonl")
    assert [r["puzzle"] for r in retry] == [r["puzzle"] for r in kept]
    assert all(r["status"] == "solved" and r["engine"] == "sat" for r in retry)
    assert "re-solved with sat: 5 records, 5 solved" in p.stdout


@needs_bash
def test_parallel_split(tmp_path):
    puzzles = puzzle_lines(PUZZLES / "sudoku9.txt") * 8  # 40 puzzles
    big = tmp_path / "big.txt"
    big.write_text("# forty puzzles\n" + "\n".join(puzzles) + "\n")
    work = tmp_path / "work"
    p = run(["bash", EXAMPLES / "parallel_split.sh", big, 3, work])
    assert p.returncode == 0, p.stderr
    out = (work / "solutions.txt").read_text().splitlines()
    assert p.stdout.splitlines() == out
    assert len(out) == 40
    assert "40 puzzles in 3 parts -> 40 result lines (40 solved)" in p.stderr
    assert len(list((work / "parts").glob("part.*.out"))) == 3
    for puzzle, solution in zip(puzzles, out):  # same order as the input
        assert len(solution) == 81 and "." not in solution and "0" not in solution
        assert all(g in ".0" or g == s for g, s in zip(puzzle, solution))


def test_api_example():
    p = run([sys.executable, EXAMPLES / "api_example.py"])
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert "status: solved" in lines and "verified: True" in lines
    assert "wrong answer accepted: False" in lines
    reason = next(ln for ln in lines if ln.startswith("reason: "))
    assert reason != "reason: None"
    generated = [ln for ln in lines if ln.startswith("generated ")]
    assert len(generated) == 2 and all(ln.endswith("-> solved (unique: True)") for ln in generated)


# --- puzzles/ ------------------------------------------------------------------------------


def test_puzzle_files_are_all_listed():
    files = {p.name for p in PUZZLES.iterdir()} - {"README.md"}
    assert files == set(PUZZLE_FILES)
    readme = (PUZZLES / "README.md").read_text()
    assert all(name in readme for name in PUZZLE_FILES)
    assert sum(p.stat().st_size for p in PUZZLES.iterdir()) < 16_000
    for name in PUZZLE_FILES:
        assert (PUZZLES / name).read_text().startswith("#"), f"{name} has no # comment header"


@pytest.mark.parametrize("name", sorted(PUZZLE_FILES))
def test_puzzle_file_solves(name):
    kinds, count = PUZZLE_FILES[name]
    path = PUZZLES / name
    if kinds == {"sudoku"}:
        p = run([RSOLVE, "solve", path, "-m", "sat", "--check-unique", "-f", "jsonl", "-q"])
    elif kinds == {"maze"}:
        p = run([RSOLVE, "solve", path, "-m", "bfs", "--check-unique", "-f", "jsonl", "-q"])
    else:  # mixed kinds: the default model picks an engine per record
        p = run([RSOLVE, "solve", path, "--check-unique", "-f", "jsonl", "-q"])
    assert p.returncode == 0, p.stdout + p.stderr
    results = jsonl(p.stdout)
    assert len(results) == count
    assert {r["kind"] for r in results} == kinds
    assert all(r["status"] == "solved" and r["verified"] for r in results)
    for r in results:
        if r["kind"] == "sudoku":
            assert r["unique"] is True, f"{r['source']} has more than one solution"


@pytest.mark.parametrize("name", sorted(n for n, (k, _) in PUZZLE_FILES.items() if k == {"sudoku"}))
def test_sudoku_file_solves_with_text_output(name):
    p = run([RSOLVE, "solve", PUZZLES / name, "-m", "sat", "-q"])
    assert p.returncode == 0, p.stderr
    assert len(p.stdout.splitlines()) == PUZZLE_FILES[name][1]
