"""The command line as users and scripts meet it: streams, formats, exit codes, errors.

Most tests call the Typer app in-process (CliRunner); the ones about the process
itself (start-up without torch, closed pipes, signals, terminals) run the console
script, in tests/test_cli_process.py.
"""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rsolve.cli import app

PUZZLE = "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79"
SOLUTION = "534678912672195348198342567859761423426853791713924856961537284287419635345286179"
NO_SOLUTION = "12345678." + "........9" + "." * 63
MAZE = "#########\n#S..#...#\n#.#.#.#.#\n#.#...#G#\n#########"


def run(*args, stdin: str | bytes = ""):
    res = CliRunner().invoke(app, [str(a) for a in args], input=stdin)
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.stdout, res.stderr


def test_piped_text_output_is_one_line_per_record_in_order():
    code, out, err = run("solve", "-m", "sat", stdin=f"{PUZZLE}\n{NO_SOLUTION}\n{PUZZLE}\n")
    lines = out.splitlines()
    assert lines == [SOLUTION, f"{NO_SOLUTION}\tunsolvable", SOLUTION]
    assert code == 1 and "3 records" in err


def test_invalid_record_keeps_batch_going_and_exits_2(tmp_path):
    f = tmp_path / "p.txt"
    f.write_text(f"{PUZZLE}\n{PUZZLE[:80]}\n{PUZZLE}\n")
    code, out, err = run("solve", str(f), "--format", "text")
    assert code == 2
    assert out.splitlines()[0] == SOLUTION and out.splitlines()[2] == SOLUTION
    assert out.splitlines()[1].startswith("# invalid: ") and f"{f}:2" in out
    assert f"{f}:2: invalid: wrong length: 80 cells" in err
    assert "Traceback" not in err


def test_jsonl_fields_and_verify_round_trip():
    code, out, _ = run("solve", "-f", "jsonl", "--check-unique", stdin=f"{PUZZLE}\n\n{MAZE}\n")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    for key in ("index", "source", "kind", "status", "solution", "verified", "unique", "engine", "seconds",
                "error", "stats", "puzzle"):
        assert key in rows[0]
    assert rows[0]["solution"] == SOLUTION and rows[0]["unique"] is True and rows[0]["engine"] in ("ldt", "sat")
    assert rows[1]["kind"] == "maze" and rows[1]["engine"] in ("ldt", "bfs") and "o" in rows[1]["solution"]
    code, vout, _ = run("verify", "-", stdin=out)
    assert code == 0 and vout.count("ok\t") == 2
    rows[0]["solution"] = SOLUTION[::-1]
    code, vout, _ = run("verify", "-", stdin="\n".join(json.dumps(r) for r in rows) + "\n")
    assert code == 1 and vout.startswith("WRONG")


def test_verify_text_pairs_and_missing_answers():
    code, out, _ = run("verify", stdin=f"{PUZZLE}:{SOLUTION}\n{PUZZLE}\n")
    assert code == 1
    assert out.splitlines()[0].startswith("ok") and out.splitlines()[1].startswith("NONE")


def test_verify_has_no_engine_flags():
    code, _, err = run("verify", "--steps", "3", stdin=f"{PUZZLE}:{SOLUTION}\n")
    assert code == 2 and "No such option: --steps" in err


def test_usage_errors_are_one_line_exit_2(tmp_path):
    for args, expected in [
        (("solve", str(tmp_path / "missing.txt")), "no such file"),
        (("solve", "-m", "nosuch", "-"), "unknown model 'nosuch'; available: "),
        (("solve", "-m", "sat", "-k", "maze", "-"), "models for maze: bfs"),
        (("solve", "-f", "xml", "-"), "unknown format"),
        (("solve", "--device", "tpu", "-"), "unknown device"),
        (("solve", "-m", "sat", "-c", str(tmp_path), "-"), "takes none"),
        (("solve", "-m", "sat", "--chains", "4", "-"), "model 'sat' has no option 'chains'"),
        (("solve", "-m", "sat", "-O", "rounds=3", "-"), "it is an option of ldt"),
        (("solve", "-O", "steps=3", "-"), "no model among bfs, ldt, sat takes option 'steps'"),
        (("solve", "-m", "ldt", "--chains", "many", "-"), "option chains='many' (ldt): expected an integer"),
        (("solve", "-m", "ldt", "--threshold", "2", "-"), "must be in [0, 1]"),
        (("solve", "-m", "ldt", "-O", "propagate=maybe", "-"), "choose from auto, none, locked, singles, dead-ends"),
        (("solve", "-m", "trm", "-O", "novalue", "-"), "expected KEY=VALUE"),
        (("info", str(tmp_path / "nope")), "not a checkpoint folder"),
        (("eval", str(tmp_path / "nope.jsonl")), "no such file"),
        (("eval", str(tmp_path / "nope.jsonl"), "-m", "sat", "-O", "chains=2"), "no option 'chains'"),
    ]:
        code, out, err = run(*args, stdin=PUZZLE)
        assert code == 2, (args, err)
        assert expected in err and len(err.strip().splitlines()) == 1 and out == "", (args, err)


def test_an_option_goes_only_to_the_engine_that_declares_it():
    """`--chains` is an LDT option: with auto, a maze over the grid network's size limit
    in a mixed stream still goes to bfs, and the option does not stop it."""
    side = 130  # over 128x128 cells
    rows = ["S" + "." * (side - 1)] + ["." * side] * (side - 2) + ["." * (side - 1) + "G"]
    big = "\n".join(rows)
    code, out, err = run("solve", "--chains", "1", "--rounds", "50", "-f", "jsonl",
                         stdin=f"{PUZZLE}\n\n{MAZE}\n\n{big}\n")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0, err
    assert [(r["engine"], r["status"]) for r in rows] == [("ldt", "solved"), ("ldt", "solved"), ("bfs", "solved")]
    assert rows[0]["stats"]["chains"] == 1 and rows[1]["stats"]["chains"] == 1


def test_model_names_are_case_insensitive():
    code, out, _ = run("solve", "-m", "SAT", stdin=PUZZLE)
    assert code == 0 and out.strip() == SOLUTION
    code, out, _ = run("solve", "-m", " Bfs ", "-f", "jsonl", stdin=MAZE)
    assert code == 0 and json.loads(out)["engine"] == "bfs"


def test_no_gpu_is_one_usage_error_before_any_record():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    for args in (("solve", "-m", "ldt", "--device", "cuda", "-"), ("solve", "--device", "cuda", "-")):
        code, out, err = run(*args, stdin=f"{PUZZLE}\n")
        assert code == 2 and out == "" and "no CUDA device" in err and len(err.splitlines()) == 1
    code, out, err = run("eval", "-", "-m", "ldt", "--device", "cuda", stdin=f"{PUZZLE}\n")
    assert code == 2 and "no CUDA device" in err


def test_seconds_are_each_records_own():
    easy = PUZZLE
    hard = "8..........36......7..9.2...5...7.......457.....1...3...1....68..85...1..9....4.."
    code, out, _ = run("solve", "-m", "ldt", "-f", "jsonl", stdin=f"{easy}\n{hard}\n{easy}\n")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["status"] for r in rows] == ["solved"] * 3
    assert rows[1]["stats"]["rounds"] > rows[0]["stats"]["rounds"]
    assert rows[1]["seconds"] > rows[0]["seconds"] and rows[1]["seconds"] > rows[2]["seconds"]


def test_a_rejected_model_answer_is_the_models_fault(shared_data):
    text = (shared_data / "sudoku/tdoku-datasets/puzzles6_forum_hardest_1106").read_text()
    hardest = [line for line in text.splitlines() if line and not line.startswith("#")][:8]
    code, out, _ = run("solve", "-m", "sotaku", "-f", "jsonl", stdin="\n".join(hardest) + "\n")
    rows = [json.loads(line) for line in out.splitlines()]
    rejected = [r for r in rows if "rejected_by_verifier" in r["stats"]]
    assert code == 1 and rejected and all(r["status"] == "abstained" for r in rejected)
    assert all(r["stats"]["rejected_by_verifier"].startswith("model answer rejected: ") for r in rejected)
    code, out, _ = run("solve", "-m", "sotaku", "-f", "text", stdin=hardest[0] + "\n")
    assert out.strip().endswith("\tabstained")


def test_wrong_engine_for_a_record_is_invalid_not_a_crash():
    code, out, err = run("solve", "-m", "sat", "-f", "jsonl", stdin=f"{PUZZLE}\n\n{MAZE}\n")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["status"] for r in rows] == ["solved", "invalid"]
    assert "models for maze: bfs" in rows[1]["error"] and code == 2


def test_bad_inputs_of_every_kind(tmp_path):
    cases = {
        "empty.txt": b"",
        "binary.bin": bytes(range(256)) * 10,
        "huge.txt": b"1" * (10 << 20) + b"\n",
        "dup.txt": ("55" + PUZZLE[2:] + "\n").encode(),
        "nostart.txt": b"#####\n#..G#\n#####\n",
        "ragged.txt": b"#####\n#S.G#\n###\n",
    }
    files = []
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        files.append(str(tmp_path / name))
    (tmp_path / "good.txt").write_text(PUZZLE + "\n")
    code, out, err = run("solve", "-f", "jsonl", *files, str(tmp_path / "good.txt"))
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 2 and rows[-1]["status"] == "solved"
    bad = [r for r in rows if r["status"] == "invalid"]
    assert {Path(r["source"].rsplit(":", 1)[0]).name for r in bad} == set(cases)
    assert all(r["error"] for r in bad) and "Traceback" not in err


def test_grid_format_renders_both_kinds():
    code, out, _ = run("solve", "-f", "grid", stdin=f"{PUZZLE}\n\n{MAZE}\n")
    assert code == 0 and "solved" in out and "|" in out and "S" in out


def test_many_records_stream_with_workers(shared_data):
    text = (shared_data / "sudoku/tdoku-datasets/puzzles6_forum_hardest_1106").read_text()
    code, out, _ = run("solve", "-m", "sat", "-j", "2", "--batch-size", "16", "-q", stdin=text * 2)
    lines = out.splitlines()
    puzzles = [line for line in text.splitlines() if line and not line.startswith("#")] * 2
    assert code == 0 and len(lines) == len(puzzles) == 750
    for p, s in zip(puzzles, lines):  # order kept, givens kept
        assert all(a == "." or a == b for a, b in zip(p, s))


def test_models_lists_engines_and_their_options():
    code, out, _ = run("models")
    assert code == 0 and "sat" in out and "bfs" in out and "ldt-sudoku" in out
    code, out, _ = run("models", "--options")
    assert code == 0 and "ldt options" in out and "chains (--chains)" in out and "trm options" in out
    assert "halt (--halt)" in out and "sat, bfs: no options" in out


def test_solve_help_lists_engine_flags_from_the_specs():
    code, out, _ = run("solve", "--help")
    assert code == 0
    for flag in ("--chains", "--rounds", "--threshold", "--propagate", "--search", "--steps", "--halt"):
        assert flag in out


def test_generate_and_eval_and_data_commands(tmp_path):
    ds = tmp_path / "gen.jsonl"
    code, _, err = run("generate", "sudoku", "-n", "5", "--seed", "3", "-o", str(ds))
    assert code == 0, err
    rows = [json.loads(line) for line in ds.read_text().splitlines()]
    assert len(rows) == 5 and all(r["solution"] and r["kind"] == "sudoku" for r in rows)
    code, out, _ = run("generate", "sudoku", "-n", "5", "--seed", "3")
    assert out.split() == [r["puzzle"] for r in rows]  # deterministic
    code, out, _ = run("eval", str(ds), "-m", "sat", "-f", "jsonl")
    summary = json.loads(out.splitlines()[-1])
    assert code == 0 and summary["solved_pct"] == 100.0 and summary["label_match_pct"] == 100.0
    code, out, _ = run("eval", str(ds), "-m", "sat")
    assert code == 0 and "solved" in out and "100.00" in out
    assert max(len(line) for line in out.splitlines()) <= 100  # the table fits 100 columns
    code, _, err = run("data", "split", str(ds), "--val", "0.4", "--seed", "1")
    train = (tmp_path / "gen.train.jsonl").read_text().splitlines()
    val = (tmp_path / "gen.val.jsonl").read_text().splitlines()
    assert code == 0 and len(train) == 3 and len(val) == 2 and not set(train) & set(val)
    mz = tmp_path / "m.jsonl"
    assert run("generate", "maze", "-n", "2", "--height", "10", "--width", "10", "--min-path", "8",
               "-o", str(mz))[0] == 0
    code, out, _ = run("eval", str(mz), "-m", "bfs", "-f", "jsonl")
    assert code == 0 and json.loads(out.splitlines()[-1])["solved_pct"] == 100.0


def test_eval_routes_options_per_model(tmp_path):
    ds = tmp_path / "gen.jsonl"
    run("generate", "sudoku", "-n", "3", "--seed", "4", "-o", str(ds))
    code, out, err = run("eval", str(ds), "-m", "ldt,sat", "-O", "chains=1", "-f", "jsonl")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines() if '"summary"' not in line]
    assert {r["model"] for r in rows} == {"ldt", "sat"}
    assert all(r["stats"]["chains"] == 1 for r in rows if r["model"] == "ldt")


def test_data_import_hrm_and_label(shared_data, tmp_path):
    out = tmp_path / "maze.jsonl"
    code, _, err = run("data", "import", str(shared_data / "maze/maze-hard-30x30/train"), str(out))
    assert code == 0 and len(out.read_text().splitlines()) == 1000
    t = tmp_path / "t.jsonl"
    code, _, err = run("data", "import", str(shared_data / "sudoku/tdoku-datasets/puzzles6_forum_hardest_1106"),
                       str(t), "--label")
    assert code == 0 and "375 with solutions" in err


def test_data_commands_never_overwrite_their_input_and_report_write_errors(tmp_path):
    f = tmp_path / "p.txt"
    f.write_text(PUZZLE + "\n")
    code, _, err = run("data", "import", str(f), str(f))
    assert code == 2 and "is also the input" in err and f.read_text() == PUZZLE + "\n"
    code, _, err = run("data", "import", str(f), str(tmp_path / "missing" / "x.jsonl"))
    assert code == 2 and "cannot write (No such file or directory)" in err and len(err.splitlines()) == 1
    code, _, err = run("data", "import", str(f), str(tmp_path))
    assert code == 2 and "is a directory" in err
    code, out, err = run("generate", "sudoku", "-n", "1", "-f", "xml")
    assert code == 2 and out == "" and "unknown format 'xml'" in err


def test_version_and_singular_summary():
    from rsolve import __version__

    code, out, _ = run("--version")
    assert code == 0 and out.strip() == f"rsolve {__version__}"
    code, _, err = run("solve", "-m", "sat", stdin=PUZZLE)
    assert code == 0 and "rsolve: 1 record: 1 solved" in err


def _commands(group, path=()):
    for name, cmd in getattr(group, "commands", {}).items():
        yield path + (name,), cmd
        yield from _commands(cmd, path + (name,))


def test_help_keeps_bracketed_text_that_rich_markup_would_eat():
    # Typer renders help with Rich markup, where "[plot]" is a tag and vanishes unless escaped.
    import re

    import typer.main

    checked = 0
    for path, cmd in _commands(typer.main.get_command(app)):
        texts = [p.help or "" for p in getattr(cmd, "params", [])] + [cmd.help or ""]
        found = [m for t in texts for m in re.findall(r"\S*\\?\[[a-z]+\]\S*", t)]
        wanted = [m.replace("\\[", "[") for m in found]
        if not wanted:
            continue
        code, out, _ = run(*path, "--help")
        flat = re.sub(r"[\s│]+", "", out)
        for token in wanted:
            assert token in flat, (path, token)
        checked += len(wanted)
    assert checked  # eval's --plot help names 'rsolve[plot]', so there is always something to check
