"""TRM and HRM as rsolve engines: the network alone, no search.

A batch of puzzles becomes HRM/TRM token rows (Sudoku: blank 1, value v -> v+1;
maze: 1 wall, 2 open, 3 S, 4 G). Each supervision step runs the model once on
the carry of the previous one; the argmax of the cell logits is the answer.
Puzzles leave the batch when they stop (the Q head says halt, the verifier
accepts, or the step budget runs out), so the batch shrinks instead of paying
for finished rows.

The official evaluations run every supervision step (their Q head only decides
halting during training, so batches stay aligned); `halt=max` does the same and
is the default, so results compare with the papers. `halt=q` stops a puzzle when
its Q head says halt (TRM: q_halt > 0; HRM: q_halt > q_continue, as each was
trained). `halt=verify` stops a puzzle at the first step whose answer the
symbolic verifier accepts: never less accurate than `max`, usually cheaper.

The engine proposes; the pipeline's verifier still judges every answer, and a
rejected one is reported `abstained` with `rejected_by_verifier` in its stats.
"""

from __future__ import annotations

import math
import time

import torch

from .. import verify
from ..devices import bf16_pays, can_compile, native_bf16
from ..models.gridnet import GRID_MAX_CELLS
from ..puzzles.grid import OPEN_TOKEN, PATH_TOKEN, WALL_TOKEN, sudoku_tokens, sudoku_vocab
from . import Attempt, EngineError
from .neural import device_for, load_model

DEFAULT_STEPS = 16  # N_sup of both papers


class RecursiveEngine:
    name = "trm"

    def __init__(self, kind: str, checkpoint: str | None = None, device: str | None = "auto", seed: int = 0,
                 **options):
        self.opt = dict(options)
        self.kind, self.device = kind, device_for(device)
        self.model, ckpt = load_model(self.name, kind, checkpoint, self.device)
        self.checkpoint = str(ckpt.path)
        training = ckpt.config.get("training")
        training = training if isinstance(training, dict) else {}
        self.training = training
        self.steps = self.opt["steps"] or int(training.get("max_steps_per_puzzle") or DEFAULT_STEPS)
        precision = self.opt["precision"]
        if precision == "auto":  # trainers write e.g. "bf16", "bf16-mixed" or "fp32"
            trained_bf16 = "bf16" in str(training.get("precision", "")).lower()
            precision = "bf16" if trained_bf16 and bf16_pays(self.device) else "fp32"
        # a bf16 asked for runs where the hardware has it: emulated, it is slower than fp32
        self.precision = precision if precision == "fp32" or native_bf16(self.device) else "fp32"
        self.run = self.model
        if self.opt["compile"]:
            if not can_compile(self.device):
                raise EngineError("-O compile=on needs a C++ compiler (g++ or clang++) on the PATH")
            self.run = torch.compile(self.model)
        cfg = self.model.cfg
        side = math.isqrt(cfg.seq_len)
        self.side = side if side * side == cfg.seq_len else 0  # both papers' grids are square

    # --- tokens in, answers out ---

    def _misfit(self, p) -> str | None:
        """Why the network cannot read puzzle p, or None."""
        n, vocab = self.side, self.model.cfg.vocab_size
        if self.kind == "sudoku":
            if p.side != n or vocab < sudoku_vocab(p.side):
                return f"no {self.name} network for {p.side}x{p.side} Sudoku (the checkpoint reads {n}x{n})"
        elif p.height > n or p.width > n or vocab <= PATH_TOKEN:
            return f"no {self.name} network for a {p.height}x{p.width} maze (the checkpoint reads up to {n}x{n})"
        return None

    def _tokens(self, p) -> list[int]:
        if self.kind == "sudoku":
            return sudoku_tokens(p.cells)
        # a smaller maze sits in the top-left corner, walled in: walls never change a path
        grid, n, t = [WALL_TOKEN] * (self.side * self.side), self.side, p.puzzle().tokens()
        for r in range(p.height):
            grid[r * n:r * n + p.width] = t[r * p.width:(r + 1) * p.width]
        return grid

    def _decode(self, pred: list[int], p):
        """(answer, number of cells where the network disagreed with the puzzle and was overruled)."""
        if self.kind == "sudoku":
            # pred holds values 1..side; a given always stays as given
            cells = [g or v for g, v in zip(p.cells, pred)]
            return p.with_cells(cells), sum(1 for g, v in zip(p.cells, pred) if g and g != v)
        n, t = self.side, p.puzzle().tokens()
        cells = [pred[r * n + c] for r in range(p.height) for c in range(p.width)]
        path = [i for i, (a, b) in enumerate(zip(t, cells)) if a == OPEN_TOKEN and b == PATH_TOKEN]
        # walls, S and G are kept; an open cell may only become path
        disagree = sum(1 for a, b in zip(t, cells) if a != b and not (a == OPEN_TOKEN and b == PATH_TOKEN))
        return p.puzzle().with_path(path), disagree

    def _predict(self, logits: torch.Tensor) -> torch.Tensor:
        if self.kind == "sudoku":  # only digit tokens are answers: never a blank or pad
            return logits[..., 2:self.side + 2].argmax(-1) + 1
        return logits.argmax(-1)

    def _halts(self, q_halt: torch.Tensor, q_continue: torch.Tensor) -> torch.Tensor:
        return q_halt > 0  # TRM trains only the halt logit (no continue target)

    # --- the batch ---

    def _grow(self, puzzles: list) -> None:
        """A grid-mixer network has no weights tied to the grid's size: for mazes larger
        than it was trained on, the same weights run on a larger square grid, with
        supervision steps scaled by the side (its reach per step is fixed)."""
        cfg = self.model.cfg
        need = max((max(p.height, p.width) for p in puzzles if self.kind == "maze"), default=0)
        if getattr(cfg, "mixer", "") != "grid" or need <= self.side or need * need > GRID_MAX_CELLS:
            return  # (a maze over the limit is refused per puzzle: too large for this network)
        from dataclasses import replace

        grown = type(self.model)(replace(cfg, seq_len=need * need)).to(self.device).eval()
        grown.load_state_dict(self.model.state_dict())
        if not self.opt["steps"]:
            self.steps = math.ceil(self.steps * need / self.side)
        self.model, self.side = grown, need
        self.run = torch.compile(grown) if self.opt["compile"] else grown

    @torch.inference_mode()
    def solve_batch(self, puzzles: list) -> list[Attempt]:
        out: list[Attempt | None] = [None] * len(puzzles)
        self._grow(puzzles)
        fit = []
        for i, p in enumerate(puzzles):
            reason = self._misfit(p)
            if reason:
                out[i] = Attempt(None, "abstained", {"steps": 0, "seconds": 0.0}, reason=reason)
            else:
                fit.append(i)
        if fit:
            for i, attempt in zip(fit, self._recurse([puzzles[i] for i in fit])):
                out[i] = attempt
        return out  # type: ignore[return-value]

    def _recurse(self, puzzles: list) -> list[Attempt]:
        """Supervision steps over the batch; a puzzle leaves when it stops, and each step's
        wall time is shared by the puzzles still in it (their own `seconds`)."""
        tokens = torch.tensor([self._tokens(p) for p in puzzles], dtype=torch.long, device=self.device)
        carry = self.model.initial_carry(len(puzzles))
        live = list(range(len(puzzles)))  # rows of `tokens` still running, as puzzle positions
        q_first: list[int | None] = [None] * len(puzzles)
        seconds = [0.0] * len(puzzles)
        out: list[Attempt | None] = [None] * len(puzzles)
        for step in range(1, self.steps + 1):
            t0 = time.perf_counter()
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
                res = self.run(carry, tokens, h_cycles=self.opt["cycles"])
            keep = self._settle(step, res, live, puzzles, q_first, out)
            for row in live:
                seconds[row] += (time.perf_counter() - t0) / len(live)
            if not keep:
                break
            rows = torch.tensor(keep, device=self.device)
            carry = tuple(c.index_select(0, rows) for c in res.carry) if len(keep) < len(live) else res.carry
            tokens = tokens.index_select(0, rows) if len(keep) < len(live) else tokens
            live = [live[j] for j in keep]
        for attempt, spent in zip(out, seconds):
            attempt.stats["seconds"] = spent
        return out  # type: ignore[return-value]

    def _settle(self, step, res, live, puzzles, q_first, out) -> list[int]:
        """Record the answers of rows that stop at this step; returns the rows that go on."""
        says_halt = self._halts(res.q_halt.float(), res.q_continue.float()).tolist()
        pred = self._predict(res.logits).cpu().tolist()
        q_halt = res.q_halt.float().cpu().tolist()
        halt, keep = self.opt["halt"], []
        for j, row in enumerate(live):
            if says_halt[j] and q_first[row] is None:
                q_first[row] = step
            p = puzzles[row]
            stop = step == self.steps or (halt == "q" and says_halt[j])
            if stop or halt == "verify":  # decoding a 30x30 maze per row per step is not free
                answer, disagree = self._decode(pred[j], p)
                stop = stop or verify.check(p, answer).accepted
            if not stop:
                keep.append(j)
                continue
            out[row] = Attempt(answer, "found", {
                "steps": step, "halted_by_q": halt == "q" and bool(says_halt[j]), "q_halt_at": q_first[row],
                "q_halt": round(q_halt[j], 3), "disagreed_with_puzzle": disagree, "precision": self.precision})
        return keep


class TRMEngine(RecursiveEngine):
    name = "trm"


class HRMEngine(RecursiveEngine):
    name = "hrm"

    def _halts(self, q_halt: torch.Tensor, q_continue: torch.Tensor) -> torch.Tensor:
        return q_halt > q_continue  # HRM's Q-learning halting compares both heads
