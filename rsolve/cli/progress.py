"""A one-line progress display on stderr that never mixes with results.

When stdout and stderr are the same terminal, a live progress line and result
lines would interleave. So results meant for a terminal are held for at most
`interval` seconds, then the progress line is erased, the held results are
written to stdout, and the line is drawn again: the terminal only ever sees
whole result lines and one progress line under them. When stdout is a pipe,
results go straight through and only the stderr line is redrawn.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Callable, TextIO

ERASE = "\r\x1b[2K"


def _eta(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


class Progress:
    def __init__(self, label: str, enabled: bool, hold_output: bool, err: TextIO | None = None,
                 interval: float = 0.1):
        self.label, self.enabled, self.hold = label, enabled, hold_output and enabled
        self.err, self.interval = err or sys.stderr, interval
        self.done, self.total, self.start = 0, None, time.monotonic()
        self._held: list[Callable[[], None]] = []
        self._shown, self._last = False, 0.0
        self._lock = threading.Lock()

    def set_total(self, total: int | None) -> None:
        with self._lock:  # set from a counting thread
            self.total = total

    def output(self, write: Callable[[], None]) -> None:
        """Write one result now, or hold it for the next redraw (terminal on both streams)."""
        if self.hold:
            self._held.append(write)
        else:
            write()
        self.done += 1
        self.tick()

    def say(self, message: str) -> None:
        """A message on stderr, above the progress line."""
        self._flush_held()
        self.err.write(message + "\n")
        self.err.flush()
        self._draw()

    def tick(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if force or now - self._last >= self.interval:
            self._last = now
            self._flush_held()
            self._draw()

    def close(self) -> None:
        self._flush_held()
        self._erase()

    def _flush_held(self) -> None:
        if not self._held:
            return
        self._erase()
        held, self._held = self._held, []
        for write in held:
            write()
        sys.stdout.flush()

    def _erase(self) -> None:
        if self._shown:
            self.err.write(ERASE)
            self.err.flush()
            self._shown = False

    def _draw(self) -> None:
        if not self.enabled:
            return
        spent = time.monotonic() - self.start
        rate = self.done / spent if spent > 0 else 0.0
        with self._lock:
            total = self.total
        text = f"{self.label} {self.done:,}" + (f"/{total:,}" if total else "") + f"  {rate:,.1f}/s"
        if total and rate > 0 and self.done < total:
            text += f"  ETA {_eta((total - self.done) / rate)}"
        self.err.write(ERASE + text)
        self.err.flush()
        self._shown = True


def count_in_background(progress: Progress, count: Callable[[], int | None]) -> None:
    """Fill in the total while work goes on (a file's records are counted by a second read)."""
    if not progress.enabled:
        return

    def run():
        try:
            progress.set_total(count())
        except Exception:  # a total is a nicety: an unreadable file is reported by the real read
            pass

    threading.Thread(target=run, daemon=True, name="rsolve-count").start()
