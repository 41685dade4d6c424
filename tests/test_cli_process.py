"""The console script as a process: start-up without torch, closed pipes, Ctrl-C,
a pausing producer, and a terminal shared by results and the progress line."""

import os
import re
import select
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

RSOLVE = str(Path(sys.executable).parent / "rsolve")
PUZZLE = "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79"
SOLUTION = "534678912672195348198342567859761423426853791713924856961537284287419635345286179"


def test_help_is_fast_path_without_torch():
    code = ("import sys; from rsolve.cli import app; from rsolve import api; "
            "api.solve('%s', model='sat'); assert 'torch' not in sys.modules, 'torch imported'" % PUZZLE)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert subprocess.run([RSOLVE, "--help"], capture_output=True, timeout=60).returncode == 0


@pytest.fixture(scope="module")
def many(tmp_path_factory, shared_data):
    """forum_hardest eight times over: a few seconds of `sat` work."""
    text = (shared_data / "sudoku/tdoku-datasets/puzzles6_forum_hardest_1106").read_text()
    path = tmp_path_factory.mktemp("many") / "hard8.txt"
    path.write_text(text * 8)
    return path


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
def test_closed_pipe_exits_0_quietly(fmt, many):
    p = subprocess.run(f"{RSOLVE} solve -m sat -f {fmt} {many} | head -n 2; exit ${{PIPESTATUS[0]}}",
                       shell=True, executable="/bin/bash", capture_output=True, timeout=120)
    assert len(p.stdout.splitlines()) == 2 and p.returncode == 0, p.stderr
    assert b"Traceback" not in p.stderr and b"Exception ignored" not in p.stderr


def _interrupt(args, delay: float, default_sigint: bool = True):
    """Run rsolve in its own process group, "press Ctrl-C" after `delay` s; (code, out, err)."""
    pre = (lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)) if default_sigint else \
        (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    p = subprocess.Popen([RSOLVE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                         preexec_fn=pre)
    time.sleep(delay)
    os.killpg(p.pid, signal.SIGINT)
    try:
        out, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        pytest.fail("rsolve hung after Ctrl-C")
    return p.returncode, out.decode(), err.decode()


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_flushes_results_so_far_and_exits_130(many, jobs):
    code, out, err = _interrupt(["solve", "-m", "sat", "-j", jobs, str(many)], delay=2.0)
    lines = out.splitlines()
    assert code == 130 and err.strip().splitlines()[-1] == "rsolve: interrupted", err
    assert 0 < len(lines) < 3000 and all(len(line) == 81 for line in lines)
    assert "Traceback" not in err and "ForkPoolWorker" not in err and "internal error" not in err


def test_ignored_sigint_runs_to_the_end(many):
    """Where the shell ignores SIGINT (a background job), rsolve does too, and the SAT
    solver must not crash on it (it once aborted with heap corruption)."""
    code, out, err = _interrupt(["solve", "-m", "sat", "-j", "1", str(many)], delay=1.0, default_sigint=False)
    assert code == 0 and len(out.splitlines()) == 3000, err


def test_a_pausing_producer_gets_answers_while_it_waits():
    p = subprocess.Popen([RSOLVE, "solve", "-m", "sat", "-q", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        p.stdin.write((PUZZLE + "\n").encode() * 5)
        p.stdin.flush()  # ... and then the producer pauses, stdin still open
        got, deadline = b"", time.monotonic() + 30
        while got.count(b"\n") < 5 and time.monotonic() < deadline:
            ready, _, _ = select.select([p.stdout], [], [], 0.5)
            if ready:
                got += os.read(p.stdout.fileno(), 1 << 16)
        assert got.decode().splitlines() == [SOLUTION] * 5
    finally:
        p.stdin.close()
        p.wait(timeout=30)
    assert p.returncode == 0


def test_progress_never_mixes_with_results_on_a_terminal(many):
    """stdout and stderr on one pseudo-terminal: every result line arrives whole, and the
    progress line (drawn and erased in place) knows the file's total."""
    import pty

    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "120"}
    p = subprocess.Popen([RSOLVE, "solve", "-m", "sat", "-f", "text", str(many)], stdout=slave, stderr=slave,
                         stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 1 << 16)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    p.wait(timeout=60)
    os.close(master)
    screen = b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")
    lines = [seg for line in screen.split("\n") for seg in line.split("\r\x1b[2K") if seg]
    results = [seg for seg in lines if not seg.startswith(("solving", "rsolve:"))]
    assert p.returncode == 0 and len(results) == 3000
    assert all(len(r) == 81 and "solving" not in r for r in results)
    assert any(re.match(r"solving [\d,]+/3,000", seg) for seg in lines), "no progress line with the total"


SLOW_PRODUCER = ("import sys, time\nfor _ in range({n}):\n    print({p!r}, flush=True)\n    time.sleep({delay})\n")


def _producer(n: int, delay: float) -> list[str]:
    return [sys.executable, "-c", SLOW_PRODUCER.format(n=n, p=PUZZLE, delay=delay)]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_slow_pipe_streams_and_ends(jobs):
    """Records trickling in (one per 10 ms) while worker processes start: every answer,
    then a normal exit (worker processes once hung on the reader's lock on stdin)."""
    producer = subprocess.Popen(_producer(150, 0.01), stdout=subprocess.PIPE)
    p = subprocess.run([RSOLVE, "solve", "-m", "sat", "-j", jobs, "-q", "-"], stdin=producer.stdout,
                       capture_output=True, timeout=60)
    producer.wait(timeout=30)
    assert p.returncode == 0 and p.stdout.decode().splitlines() == [SOLUTION] * 150, p.stderr


def test_head_on_a_live_pipe_exits_0():
    p = subprocess.run(f"{sys.executable} -c {shlex.quote(SLOW_PRODUCER.format(n=400, p=PUZZLE, delay=0.002))} 2>/dev/null | "
                       f"{RSOLVE} solve - -m sat | head -n 1; exit ${{PIPESTATUS[1]}}", shell=True,
                       executable="/bin/bash", capture_output=True, timeout=120)
    assert p.returncode == 0 and p.stdout.decode().splitlines() == [SOLUTION], p.stderr
    assert b"Fatal" not in p.stderr and b"Traceback" not in p.stderr  # (the producer's stderr is discarded)


def test_ctrl_c_while_reading_a_live_pipe_exits_130():
    p = subprocess.Popen([RSOLVE, "solve", "-m", "sat", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    p.stdin.write((PUZZLE + "\n").encode() * 3)
    p.stdin.flush()  # stdin stays open: the reader is blocked on it
    time.sleep(3)
    os.killpg(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 130 and out.decode().splitlines() == [SOLUTION] * 3
    assert err.decode().strip().splitlines()[-1] == "rsolve: interrupted" and "Fatal" not in err.decode()
