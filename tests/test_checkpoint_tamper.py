"""Tampered checkpoints: every one is refused with a one-line CheckpointError or EngineError,
or (for harmless changes) loads and runs; none crashes, hangs or is silently misread.

Copies of the shipped Sudoku checkpoints are changed one way at a time: each architecture
value (wrong type, 0, -1, huge, missing, ...), each config value engines read, each file of
the folder (a FIFO, a directory, a symlink loop, a device, a huge sparse file, random bytes)
and the safetensors header. Plus the architecture rules themselves (rsolve.models).
"""

import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from rsolve import checkpoints
from rsolve.checkpoints import CheckpointError
from rsolve.engines import EngineError
from rsolve.engines.neural import load_model
from rsolve.models import hrm, ldt, trm

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "checkpoints"
RSOLVE = str(Path(sys.executable).parent / "rsolve")
PUZZLE = "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79"
ENGINES = ("ldt", "trm", "hrm")
MISSING = object()  # a value meaning: delete the key


@contextmanager
def deadline(seconds: float):
    """A hang fails the test (TimeoutError) instead of stalling the suite."""
    def alarm(*_):
        raise TimeoutError(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def copy(tmp_path: Path, engine: str) -> Path:
    return Path(shutil.copytree(SHIPPED / f"{engine}-sudoku", tmp_path / f"{engine}-sudoku"))


def run_once(model, engine: str) -> None:
    """One cheap forward pass: the network really runs."""
    with torch.no_grad():
        if engine == "ldt":
            keep, _, _ = model(torch.zeros(1, model.cfg.height * model.cfg.width, model.cfg.in_channels), loops=1)
            assert keep[0].isfinite().all()
        else:
            out = model(model.initial_carry(1), torch.ones(1, model.cfg.seq_len, dtype=torch.long), 1, 1)
            assert out.logits.shape[1] == model.cfg.seq_len


def outcome(folder: Path, engine: str) -> str:
    """'ok' when the checkpoint validates, loads and runs; otherwise the one-line refusal."""
    with deadline(20):
        try:
            checkpoints.validate(folder)
            model, _ = load_model(engine, "sudoku", str(folder), "cpu")
        except (CheckpointError, EngineError) as exc:
            message = str(exc)
            assert message and "\n" not in message and len(message) < 500, message
            assert "internal error" not in message and "Traceback" not in message
            return message
        run_once(model, engine)
    return "ok"


def set_config(folder: Path, change) -> None:
    cfg = folder / checkpoints.CONFIG
    config = json.loads(cfg.read_text())
    change(config)
    cfg.write_text(json.dumps(config))


# --- every architecture value ---

BAD_VALUES = {"text": "x", "zero": 0, "minus": -1, "huge": 10 ** 12, "bool": True, "null": None, "half": 2.5}
# what still loads: a missing key takes its default (checkpoints written before a setting
# existed rely on that), which here either equals the shipped value or shapes no weight
# (dropout, loops, cycles, norm_eps, rope_theta, LDT's attention mask); a few values are
# valid and shape no weight either (dropout 0; rope_theta 2.5 for the MLP mixer)
MISSING_OK = {"ldt": "kind height width in_channels values heads loops ffn_mult dropout positions attention",
              "trm": "kind seq_len vocab_size heads layers expansion mixer h_cycles l_cycles rope_theta norm_eps",
              "hrm": "kind seq_len vocab_size heads expansion h_cycles l_cycles prefix_len rope_theta norm_eps"}
HARMLESS = {engine: {f"{k}=missing" for k in keys.split()} | ({"dropout=zero"} if engine == "ldt" else
                                                               {"rope_theta=half"})
            for engine, keys in MISSING_OK.items()}


@pytest.mark.parametrize("engine", ENGINES)
def test_every_architecture_value(engine, tmp_path):
    folder = copy(tmp_path, engine)
    original = (folder / checkpoints.CONFIG).read_text()
    fields = list(json.loads(original)["architecture"])
    accepted, refusals = set(), {}
    for field in fields:
        for name, value in [*BAD_VALUES.items(), ("missing", MISSING)]:
            def change(config, field=field, value=value):
                if value is MISSING:
                    del config["architecture"][field]
                else:
                    config["architecture"][field] = value

            set_config(folder, change)
            result = outcome(folder, engine)
            (folder / checkpoints.CONFIG).write_text(original)
            if result == "ok":
                accepted.add(f"{field}={name}")
            else:
                refusals[f"{field}={name}"] = result
    assert accepted == HARMLESS[engine], accepted ^ HARMLESS[engine]
    assert len(refusals) >= 6 * len(fields)
    assert "h_cycles=huge" in refusals or "loops=huge" in refusals
    assert all("config.json" in r or "weights do not fit" in r for r in refusals.values())


def test_architecture_refusals_say_why(tmp_path):
    folder = copy(tmp_path, "ldt")
    for change, reason in [({"loops": 10 ** 12}, "loops=1000000000000: must be from 1 to 256"),
                           ({"dim": "96"}, "dim='96': expected an integer"),
                           ({"heads": 5}, "dim 96 is not divisible by heads 5"),
                           ({"positions": "rope2d", "heads": 16}, "(dim / heads = 6) divisible by 4"),
                           ({"box_width": 9}, "box_height x box_width must be"),
                           ({"values": 4}, "height = width = in_channels = values"),
                           ({"bogus": 1}, "unknown setting 'bogus'")]:
        set_config(folder, lambda c: c["architecture"].update(change))
        assert reason in outcome(folder, "ldt")
        shutil.rmtree(folder)
        folder = copy(tmp_path, "ldt")


# --- every config value engines and trainers read ---

TOP_LEVEL = [  # (engine, key path, value, refused?)
    *[("ldt", ("format",), v, True) for v in ("x", 1, None, MISSING)],
    *[("ldt", ("format_version",), v, True) for v in (0, -1, "1", 1.0, True, None, 2, MISSING)],
    ("ldt", ("format_version",), 1, False),
    *[("ldt", ("rsolve_version",), v, True) for v in (5, None, MISSING)],
    ("ldt", ("rsolve_version",), "9.9.9", False),
    *[("ldt", ("engine",), v, True) for v in ("x", 5, None, "trm", "sotaku", MISSING)],
    *[("ldt", ("kind",), v, True) for v in ("x", 5, None, "maze", MISSING)],
    *[("ldt", ("architecture",), v, True) for v in ([], "x", None, MISSING)],
    *[("ldt", ("weights_sha256",), v, True) for v in (5, "x", "0" * 64, None, MISSING)],
    *[("ldt", ("threshold",), v, True) for v in (0, 1, -1, 1.5, "0.5", None, True, float("nan"), float("inf"))],
    *[("ldt", ("threshold",), v, False) for v in (0.5, MISSING)],
    *[("trm", ("training",), v, True) for v in ([], "x", None, 5)],
    *[("trm", ("training",), v, False) for v in ({}, MISSING)],
    *[("trm", ("training", "max_steps_per_puzzle"), v, True) for v in (0, -1, 2000, 10 ** 12, "8", 8.5, None, True)],
    *[("trm", ("training", "max_steps_per_puzzle"), v, False) for v in (4, MISSING)],
    *[("trm", ("training", "precision"), v, True) for v in (5, None, [])],
    *[("trm", ("training", "precision"), v, False) for v in ("fp32", "whatever", MISSING)],
    *[("trm", ("history",), v, True) for v in ([], "x", {"commands": "x", "seconds": 1},
                                               {"commands": [], "seconds": -1}, {"commands": []})],
    ("trm", ("history",), {"commands": ["rsolve train"], "seconds": 5}, False),
    ("ldt", ("note",), "free-form extras are allowed", False),
]


@pytest.mark.parametrize("engine", ("ldt", "trm"))
def test_every_config_value(engine, tmp_path):
    folder = copy(tmp_path, engine)
    original = (folder / checkpoints.CONFIG).read_text()
    wrong = []
    for case_engine, keys, value, refused in TOP_LEVEL:
        if case_engine != engine:
            continue

        def change(config, keys=keys, value=value):
            target = config
            for k in keys[:-1]:
                target = target[k]
            if value is MISSING:
                target.pop(keys[-1], None)
            else:
                target[keys[-1]] = value

        set_config(folder, change)
        result = outcome(folder, engine)
        (folder / checkpoints.CONFIG).write_text(original)
        if (result != "ok") != refused:
            wrong.append((keys, value, result))
    assert not wrong


# --- every file of the folder ---


def make_fifo(p: Path):
    p.unlink()
    os.mkfifo(p)


def make_dir(p: Path):
    p.unlink()
    p.mkdir()


def make_loop(p: Path):
    p.unlink()
    os.symlink(p.name, p)  # points at itself


def make_device(p: Path):
    p.unlink()
    os.symlink("/dev/zero", p)


def make_sparse(size: int):
    def sparse(p: Path):
        with open(p, "r+b") as f:
            f.truncate(size)  # a hole: huge to read, nothing on disk
    return sparse


def make_random(p: Path):
    p.write_bytes(random.Random(0).randbytes(4096))


def make_empty(p: Path):
    p.write_bytes(b"")


def remove(p: Path):
    p.unlink()


def text(data: bytes):
    return lambda p: p.write_bytes(data)


FILE_CASES = {
    checkpoints.CONFIG: dict(fifo=make_fifo, dir=make_dir, loop=make_loop, device=make_device,
                             sparse=make_sparse(1 << 30), random=make_random, empty=make_empty, missing=remove,
                             list=text(b"[]"), null=text(b"null"), nested=text(b"[" * 100_000),
                             latin1=text(b'{"format": "\xff"}')),
    checkpoints.CARD: dict(fifo=make_fifo, dir=make_dir, loop=make_loop, device=make_device,
                           sparse=make_sparse(1 << 30), random=make_random),
    checkpoints.WEIGHTS: dict(fifo=make_fifo, dir=make_dir, loop=make_loop, device=make_device,
                              sparse=make_sparse(20 << 30), random=make_random, empty=make_empty, missing=remove),
}


@pytest.mark.parametrize("case", [(f, c) for f, cases in FILE_CASES.items() for c in cases],
                         ids=lambda case: f"{case[0]}-{case[1]}")
def test_files_that_are_not_what_they_should_be(case, tmp_path):
    name, how = case
    folder = copy(tmp_path, "ldt")
    FILE_CASES[name][how](folder / name)
    assert outcome(folder, "ldt") != "ok"


def test_harmless_file_changes(tmp_path):
    folder = copy(tmp_path, "ldt")
    (folder / checkpoints.CARD).unlink()  # the card is optional
    assert outcome(folder, "ldt") == "ok"
    elsewhere = tmp_path / "elsewhere.json"
    (folder / checkpoints.CONFIG).rename(elsewhere)
    os.symlink(elsewhere, folder / checkpoints.CONFIG)  # a symlink to a regular file is followed
    assert outcome(folder, "ldt") == "ok"
    os.symlink(folder, tmp_path / "linked")
    assert outcome(tmp_path / "linked", "ldt") == "ok"


@pytest.mark.parametrize("how", ["loop", "fifo", "file"])
def test_folder_that_is_not_a_folder(how, tmp_path):
    p = tmp_path / "ckpt"
    {"loop": lambda: os.symlink(p.name, p), "fifo": lambda: os.mkfifo(p), "file": lambda: p.write_text("{}")}[how]()
    assert "not a checkpoint folder" in outcome(p, "ldt")


# --- the safetensors header ---


def read_weights(folder: Path):
    data = (folder / checkpoints.WEIGHTS).read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]


def write_weights(folder: Path, header, body: bytes, raw_header: bytes | None = None, n: int | None = None):
    """A weights file with this header, and a config whose checksum matches it (so only the
    header decides)."""
    raw = raw_header if raw_header is not None else json.dumps(header).encode()
    (folder / checkpoints.WEIGHTS).write_bytes(struct.pack("<Q", len(raw) if n is None else n) + raw + body)
    set_config(folder, lambda c: c.update(weights_sha256=checkpoints._sha256(folder)))


def first_tensor(header) -> str:
    return min((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][0])


def shift_all(header):
    for k, t in header.items():
        if k != "__metadata__":
            t["data_offsets"] = [o + 4 for o in t["data_offsets"]]


HEADER_CASES = {  # name: (change header in place or return a new one, body change, refused?)
    "list": (lambda h: [h], None, True),
    "number": (lambda h: 5, None, True),
    "entry-list": (lambda h: h.update({first_tensor(h): [1]}), None, True),
    "no-dtype": (lambda h: h[first_tensor(h)].pop("dtype"), None, True),
    "extra-field": (lambda h: h[first_tensor(h)].update(extra=1), None, True),
    "bad-dtype": (lambda h: h[first_tensor(h)].update(dtype="F99"), None, True),
    "dtype-size": (lambda h: h[first_tensor(h)].update(dtype="F16"), None, True),
    "negative-shape": (lambda h: h[first_tensor(h)].update(shape=[-1]), None, True),
    "string-shape": (lambda h: h[first_tensor(h)].update(shape=["9"]), None, True),
    "reversed-offsets": (lambda h: h[first_tensor(h)]["data_offsets"].reverse(), None, True),
    "three-offsets": (lambda h: h[first_tensor(h)]["data_offsets"].append(0), None, True),
    "gap": (shift_all, lambda b: b"\0" * 4 + b, True),
    "overlap": (lambda h: h.update(copy=dict(h[first_tensor(h)])), None, True),
    "metadata-list": (lambda h: h.update(__metadata__=["x"]), None, True),
    "renamed": (lambda h: h.update(renamed=h.pop(first_tensor(h))), None, True),  # fits no architecture
    "truncated": (None, lambda b: b[:-10], True),
    "padded": (None, lambda b: b + b"\0" * 10, True),
    "metadata": (lambda h: h.update(__metadata__={"format": "pt"}), None, False),
    "same-size-dtype": (lambda h: h[first_tensor(h)].update(dtype="I32"), None, False),
}


@pytest.mark.parametrize("case", HEADER_CASES, ids=str)
def test_safetensors_header(case, tmp_path):
    folder = copy(tmp_path, "ldt")
    header, body = read_weights(folder)
    change, change_body, refused = HEADER_CASES[case]
    if change is not None:
        header = change(header) or header
    write_weights(folder, header, change_body(body) if change_body else body)
    result = outcome(folder, "ldt")
    assert (result != "ok") == refused, result
    if refused and case != "renamed":
        assert "weights" in result


def test_header_length_and_checksum(tmp_path):
    folder = copy(tmp_path, "ldt")
    header, body = read_weights(folder)
    for raw, n, reason in [(b"x" * 64, None, "corrupt weights header"),
                           (b"[" * 100_000, None, "corrupt weights header"),
                           (b"{}", 1 << 63, "truncated"),
                           (b"", 0, "corrupt weights header")]:
        write_weights(folder, None, body, raw_header=raw, n=n)
        assert reason in outcome(folder, "ldt")
    weights = folder / checkpoints.WEIGHTS
    weights.write_bytes(struct.pack("<Q", 200 << 20))
    make_sparse(300 << 20)(weights)  # a header bigger than any real one, in a hole
    assert "over 100 MB" in outcome(folder, "ldt")
    write_weights(folder, header, body)
    assert outcome(folder, "ldt") == "ok"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # one bit of one weight
    weights.write_bytes(bytes(data))
    assert "does not match its checksum" in outcome(folder, "ldt")


# --- the command line: exit 2, one line, no internal error, no hang ---


def cli(*args, env=None):
    p = subprocess.run([RSOLVE, *args], input=PUZZLE + "\n", capture_output=True, text=True, timeout=60,
                       env={**os.environ, **(env or {})})
    assert p.returncode == 2 and p.stderr.count("\n") == 1, (args, p.returncode, p.stderr)
    assert "internal error" not in p.stderr and "Traceback" not in p.stderr
    return p.stderr


def test_command_line_refusals(tmp_path):
    ldt_dir, trm_dir = copy(tmp_path, "ldt"), copy(tmp_path, "trm")
    make_fifo(ldt_dir / checkpoints.CONFIG)
    assert "not a regular file" in cli("info", str(ldt_dir))
    assert "not a regular file" in cli("solve", "-m", "ldt", "-c", str(ldt_dir), "-")
    set_config(trm_dir, lambda c: c["architecture"].update(h_cycles=10 ** 12))
    assert "h_cycles" in cli("info", str(trm_dir))
    shutil.rmtree(ldt_dir)
    ldt_dir = copy(tmp_path, "ldt")
    header, body = read_weights(ldt_dir)
    write_weights(ldt_dir, [header], body)
    assert "corrupt weights header" in cli("solve", "-m", "ldt", "-c", str(ldt_dir), "-")
    shutil.rmtree(ldt_dir)
    ldt_dir = copy(tmp_path, "ldt")
    set_config(ldt_dir, lambda c: c["architecture"].update(dim=0))
    assert "dim=0" in cli("solve", "-m", "ldt", "-c", str(ldt_dir), "-")
    make_sparse(1 << 30)(ldt_dir / checkpoints.CARD)
    assert "README.md" in cli("info", str(ldt_dir))


# --- the architecture rules themselves ---


@pytest.mark.parametrize("module", [ldt, trm, hrm])
def test_every_preset_is_valid_and_bad_overrides_are_value_errors(module):
    for kind, preset in module.PRESETS:
        with torch.device("meta"):
            assert module.build(kind, preset).cfg.validate()
    loops = "loops" if module is ldt else "h_cycles"
    with pytest.raises(ValueError, match=loops):
        module.build("sudoku", "cpu", **{loops: 10 ** 12})
    with pytest.raises(ValueError, match="dim"):
        module.build("sudoku", "cpu", dim=-1)
    with pytest.raises(TypeError, match="unknown setting"):
        module.from_config({**module.build("sudoku", "cpu").cfg.to_dict(), "bogus": 1})


def test_maze_peer_attention_with_rotary_positions():
    """attention=peers with positions=rope2d (once a crash: the rotary tables were only
    built for full attention). A maze cell's peers share its row or its column."""
    torch.manual_seed(0)
    model = ldt.build("maze", "paper", attention="peers", height=5, width=7, dim=16, heads=2, layers=1, loops=2,
                      dropout=0.0)
    assert model.cfg.positions == "rope2d" and model.rope_cos.shape == (35, 8)
    mask = model.attn_mask
    assert mask.shape == (36, 36) and mask[0].all() and mask[:, 0].all()  # CLS sees and is seen by all
    assert int(mask[1].sum()) == 1 + 5 + 7 - 1  # CLS, then cell (0, 0)'s row and column
    assert bool(mask[1, 1 + 7]) and not bool(mask[1, 1 + 7 + 1])  # (1, 0) is a peer, (1, 1) is not
    keep, value, conflict = model(torch.rand(2, 35, 5))
    assert len(keep) == 2 and keep[-1].shape == (2, 35, 2) and conflict[-1].shape == (2,)
    assert all(t.isfinite().all() for t in (*keep, *value, *conflict))
    clone = ldt.from_config(model.cfg.to_dict())
    clone.load_state_dict(model.state_dict())
    assert torch.equal(clone(torch.ones(1, 35, 5))[0][-1], model(torch.ones(1, 35, 5))[0][-1])
