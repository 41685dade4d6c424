"""Test-time-scaling sweeps: one engine option over a list of values, every model and value
scored in one `rsolve eval` (`--sweep samples=1,4,16,64`), as rows, a table and a plot.

A model that declares `report` (ptrm, gram) runs with report=true, so each run measures
every selection rule's accuracy on the same rollouts: the rules are compared on equal
terms, and one run per value is enough. No torch and no matplotlib at import time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from . import engines
from .engines.options import OptionError

RULE_ORDER = ("q", "vote", "converge", "verify", "prm")  # table columns; rules not listed come after
PLOT_INCHES, PLOT_DPI = (8, 5), 100  # an 800 x 500 PNG


class SweepError(ValueError):
    """A --sweep that cannot run: bad syntax, a model without the option, a refused value (one line)."""


@dataclass(frozen=True)
class Sweep:
    key: str
    values: tuple[str, ...]  # as typed: each model's own Option parses them


@dataclass
class SweepRow:
    """One model at one value of the swept option."""

    model: str
    key: str
    value: object
    puzzles: int
    solved_pct: float  # verified answers of the engine's own `select` rule
    wrong_pct: float  # answers proposed and rejected by the verifier (reported abstained)
    wrong_solved: int  # reported solved yet rejected by a second verifier check: 0 unless a bug
    rollouts: float | None  # mean per puzzle, for engines that sample
    seconds: float  # per puzzle, its own time in the engine and the verifier (loading excluded)
    rules: dict = field(default_factory=dict)  # rule -> % of puzzles whose pick the verifier accepts
    pass_pct: float | None = None  # % of puzzles where some rollout's answer was accepted (pass@K)

    def to_dict(self) -> dict:
        return asdict(self)


def parse_sweep(text: str) -> Sweep:
    """`KEY=V1,V2,...` as a Sweep (dashes in the key read as underscores, like -O)."""
    key, sep, rest = text.partition("=")
    key = key.strip().replace("-", "_").lower()
    if not sep or not key:
        raise SweepError(f"bad --sweep {text!r}: expected KEY=V1,V2,... (e.g. samples=1,4,16)")
    values = tuple(v.strip() for v in rest.split(","))
    if not rest.strip():
        raise SweepError(f"bad --sweep {text!r}: no values after '='")
    if not all(values):
        raise SweepError(f"bad --sweep {text!r}: an empty value in the list")
    return Sweep(key, values)


def _option(model: str, key: str):
    """The Option `key` of an engine that `model` may run, or None."""
    return next((o for n in engines.candidates(model) for o in engines.spec(n).options if o.name == key), None)


def declared_by(model: str, options: dict) -> dict:
    """The given options that some engine `model` may run declares."""
    return {k: v for n in engines.candidates(model) for k, v in engines.declared(n, options).items()}


def check_sweep(sweep: Sweep, models: list[str], options: dict) -> dict[str, list]:
    """Per model, the swept values parsed by its option. SweepError when a model does not
    declare the option, refuses a value, or -O sets the swept option as well."""
    if sweep.key == "report":
        raise SweepError("--sweep report: not an option to sweep (a sweep sets report=true itself)")
    if sweep.key in options:
        raise SweepError(f"--sweep {sweep.key} and -O {sweep.key}=... both set {sweep.key}; give it once")
    parsed = {}
    for model in models:
        opt = _option(model, sweep.key)
        if opt is None:
            raise SweepError(f"--sweep {sweep.key}: model {model!r} has no option {sweep.key!r} "
                             "(see `rsolve models --options`)")
        try:
            parsed[model] = [opt.parse(v, model) for v in sweep.values]
        except OptionError as exc:
            raise SweepError(f"--sweep: {exc}") from None
    return parsed


def run_sweep(examples, models: list[str], sweep: Sweep, *, options: dict | None = None, jobs: int = 1,
              on_result=None, **config) -> list[SweepRow]:
    """Evaluate every model at every value of the swept option over labelled examples
    (rsolve.puzzles.dataset.Example); rows in model order, then value order.
    `options`: the other engine options (each model gets those it declares); `config` as
    for rsolve.api.evaluate (checkpoint, device, seed, batch_size)."""
    from . import verify
    from .api import evaluate

    options = dict(options or {})
    parsed = check_sweep(sweep, models, options)
    examples = list(examples)
    rows = []
    for model in models:
        base = declared_by(model, options)
        if _option(model, "report") is not None:
            base["report"] = True
        for value in parsed[model]:
            tally = {"rejected": 0, "seconds": 0.0}  # per-record time, so the first run's loading counts nowhere

            def seen(name, res, match):
                tally["rejected"] += res.status == "solved" and not verify.check(res.puzzle, res.solution).accepted
                tally["seconds"] += res.seconds
                if on_result:
                    on_result(name, res, match)

            report = evaluate(examples, [model], jobs=jobs, on_result=seen,
                              options={**base, sweep.key: value}, **config)[0]
            rows.append(_row(report, sweep.key, value, **tally))
    return rows


def _row(report, key: str, value, rejected: int, seconds: float) -> SweepRow:
    picks = report.picks_pct() or {}
    return SweepRow(report.model, key, value, report.total, report.pct(report.solved), report.pct(report.wrong),
                    rejected, report.mean_stats().get("rollouts"), seconds / report.total if report.total else 0.0,
                    {rule: picks[rule] for rule in _rules([picks])}, picks.get("pass"))


def _rules(dicts) -> list[str]:
    """The rule names in these dicts, in RULE_ORDER first ('pass' is not a rule)."""
    seen = {k for d in dicts for k in d if k != "pass"}
    return [r for r in RULE_ORDER if r in seen] + sorted(seen - set(RULE_ORDER))


def _pct(x) -> str:
    return "-" if x is None else f"{x:.1f}"  # one decimal: five rules, pass and costs fit 100 columns


def sweep_table(rows: list[SweepRow], dataset: str):
    """A Rich table: per model and value, solved % and each rule's accepted %, pass %, costs.
    ('wrong' is left to the rows and jsonl, for width.)"""
    from rich.table import Table

    key, n = rows[0].key, rows[0].puzzles
    rules = _rules(r.rules for r in rows)
    table = Table(title=f"{dataset} ({n} puzzles): % solved; per selection rule, % whose pick the verifier "
                  "accepts; pass: any rollout at any step; K rollouts and s (engine + verifier) per puzzle",
                  title_justify="left",
                  caption=f"answers reported solved that a second verifier check rejects: "
                          f"{sum(r.wrong_solved for r in rows)}", caption_justify="left")
    for col in ("model", key, "solved", *rules, "pass", "K", "s/puzzle"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in rows:
        table.add_row(r.model, _value(r.value), _pct(r.solved_pct), *(_pct(r.rules.get(rule)) for rule in rules),
                      _pct(r.pass_pct), "-" if r.rollouts is None else f"{r.rollouts:.4g}", f"{r.seconds:.3f}")
    return table


def _value(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v).lower() if isinstance(v, bool) else str(v)


def plot_available() -> bool:
    import importlib

    try:
        importlib.import_module("matplotlib")
    except ImportError:
        return False
    return True


def plot_sweep(rows: list[SweepRow], path: str, dataset: str) -> None:
    """Accuracy % against the swept value, one line per (model, rule), as a PNG. Drawn on an
    Agg canvas of its own, so no global matplotlib backend or pyplot state is touched."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    key = rows[0].key
    values = list(dict.fromkeys(r.value for r in rows))
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    where = (lambda v: v) if numeric else values.index  # text values (select=...) get evenly spaced
    fig = Figure(figsize=PLOT_INCHES, dpi=PLOT_DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    lines = _lines(rows)
    rules = list(dict.fromkeys(rule for _, rule in lines))  # a colour per rule, a marker per model
    models = list(dict.fromkeys(model for model, _ in lines))
    for (model, rule), points in lines.items():
        points.sort(key=lambda p: where(p[0]))
        ax.plot([where(v) for v, _ in points], [y for _, y in points], color=f"C{rules.index(rule) % 10}",
                marker="osD^vP*X"[models.index(model) % 8], linestyle="--" if rule == "pass" else "-",
                label=f"{model} {rule}")
    if key == "samples" and numeric:
        ax.set_xscale("log", base=2)
        ax.minorticks_off()
    ticks = sorted(values, key=where)
    ax.set_xticks([where(v) for v in ticks], [_value(v) for v in ticks])
    ax.set_ylim(-3, 103)
    ax.set_xlabel(key)
    ax.set_ylabel("accuracy (% of puzzles)")
    name = dataset.replace("\\", "/").rsplit("/", 1)[-1]  # the set's file name: a full path crowds the title
    ax.set_title(f"{name} ({rows[0].puzzles} puzzles): accuracy against {key}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    fig.tight_layout()
    fig.savefig(path, format="png")


def _lines(rows: list[SweepRow]) -> dict:
    """(model, rule) -> [(value, %)]: each reported rule and pass; 'solved' for engines without a report."""
    lines: dict = {}
    for r in rows:
        points = {**r.rules, "pass": r.pass_pct} if r.rules else {"solved": r.solved_pct}
        for rule, y in points.items():
            if y is not None:
                lines.setdefault((r.model, rule), []).append((r.value, y))
    return lines
