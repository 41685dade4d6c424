"""The one checkpoint folder format shared by every neural engine.

A checkpoint is a folder:
- `model.safetensors`: the weights (safetensors only; nothing is ever unpickled),
- `config.json`: format, format_version, rsolve_version, engine, kind,
  architecture (the model config), weights_sha256, and free-form extras,
- `README.md`: the card (command, data, wall time, machine, measured results).

`validate` checks a folder without torch: every file is a regular file of bounded
size, the config values engines read have their types and ranges, the safetensors
header is a consistent table of tensors that fills the file, and the checksum
matches. (The architecture itself is checked by its model's config, which needs
torch: rsolve.engines.neural.check_weights.) A folder may be named by path or, when
it sits in a search-path root, by its name. `save` is atomic: a folder killed
mid-save leaves the previous one loadable.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .safetensors_header import data_size, is_int

FORMAT = "rsolve-checkpoint"
FORMAT_VERSION = 1
WEIGHTS, CONFIG, CARD = "model.safetensors", "config.json", "README.md"
REQUIRED = ("format", "format_version", "rsolve_version", "engine", "kind", "architecture", "weights_sha256")
ENGINES = ("ldt", "trm", "hrm", "gram")  # checkpoint engines: each has a network module rsolve.models.<engine>
KINDS = ("sudoku", "maze")
# what a checkpoint may hold: far above any real one (the paper-size HRM is 110 MB of
# weights), low enough that a tampered file is refused before it is read
MAX_TEXT = 4 << 20  # config.json, README.md
MAX_HEADER = 100 << 20
MAX_WEIGHTS = 16 << 30
MAX_STEPS = 1024  # training.max_steps_per_puzzle


class CheckpointError(ValueError):
    """A checkpoint folder that cannot be used; the message is one line."""


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    config: dict

    @property
    def engine(self) -> str:
        return self.config["engine"]

    @property
    def kind(self) -> str:
        return self.config["kind"]

    @property
    def architecture(self) -> dict:
        return self.config["architecture"]

    def card(self) -> str:
        """The README.md card ("" when there is none); a CheckpointError when it is unreadable."""
        if not os.path.lexists(self.path / CARD):
            return ""
        return _read_text(self.path, CARD)


# --- reading files that may be anything ---


def _open_regular(folder: Path, name: str, limit: int):
    """`folder/name` open for binary reading (symlinks followed), or a CheckpointError when it
    is missing, not a regular file or over `limit` bytes: a FIFO would block, a device never
    end, a directory fail late, a symlink loop raise."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just below)
        fd = os.open(folder / name, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise CheckpointError(f"{folder}: no {name}") from None
    except OSError as exc:
        raise CheckpointError(f"{folder}: cannot read {name} ({exc.strerror or exc})") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
        os.close(fd)
        what = "is not a regular file" if not stat.S_ISREG(st.st_mode) else \
            f"is {st.st_size} bytes, over the {limit >> 20} MB a checkpoint's {name} may have"
        raise CheckpointError(f"{folder}: {name} {what}")
    return os.fdopen(fd, "rb")


def _read_text(folder: Path, name: str) -> str:
    with _open_regular(folder, name, MAX_TEXT) as f:
        data = f.read(MAX_TEXT + 1)
    if len(data) > MAX_TEXT:  # grew while we read
        raise CheckpointError(f"{folder}: {name} is over {MAX_TEXT >> 20} MB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise CheckpointError(f"{folder}: {name} is not UTF-8 text") from None


_UNPARSED = object()


def _parse_json(data: str | bytes):
    """The JSON value, or _UNPARSED when it does not parse (deep nesting included)."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return _UNPARSED


def _sha256(folder: Path) -> str:
    h = hashlib.sha256()
    with _open_regular(folder, WEIGHTS, MAX_WEIGHTS) as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_header(folder: Path) -> dict:
    """The safetensors header of folder's weights, checked against the file's size."""
    with _open_regular(folder, WEIGHTS, MAX_WEIGHTS) as f:
        size = os.fstat(f.fileno()).st_size
        raw = f.read(8)
        n = struct.unpack("<Q", raw)[0] if len(raw) == 8 else None
        if n is None or n > size - 8:
            raise CheckpointError(f"{folder}: truncated weights file ({WEIGHTS})")
        if n > MAX_HEADER:
            raise CheckpointError(f"{folder}: {WEIGHTS} header is {n} bytes, over {MAX_HEADER >> 20} MB")
        header = _parse_json(f.read(n))
    if not isinstance(header, dict):  # _UNPARSED included
        raise CheckpointError(f"{folder}: corrupt weights header ({WEIGHTS} does not start with a JSON object)")
    try:
        data = data_size(header)
    except ValueError as exc:
        raise CheckpointError(f"{folder}: corrupt weights header ({exc})") from None
    if 8 + n + data != size:
        raise CheckpointError(f"{folder}: truncated or padded weights file ({size} bytes, header expects "
                              f"{8 + n + data})")
    return header


def weight_shapes(ckpt: Checkpoint) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor in the weights file, from its header alone."""
    header = _read_header(ckpt.path)
    return {k: tuple(t["shape"]) for k, t in header.items() if k != "__metadata__"}


# --- config.json ---


def _schema_problem(config) -> str | None:
    """Why the fields every checkpoint has are unusable, or None."""
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        return "is not an rsolve checkpoint config"
    missing = [k for k in REQUIRED if k not in config]
    if missing:
        return f"lacks {', '.join(missing)}"
    if not is_int(config["format_version"], 1, 1 << 31):
        return f"format_version {str(config['format_version'])[:20]!r} is not a positive integer"
    if not isinstance(config["rsolve_version"], str):
        return "rsolve_version is not a string"
    if config["engine"] not in ENGINES:
        return f"unknown engine {str(config['engine'])[:40]!r} (known: {', '.join(ENGINES)})"
    if config["kind"] not in KINDS:
        return f"unknown kind {str(config['kind'])[:40]!r} (known: {', '.join(KINDS)})"
    if not isinstance(config["architecture"], dict):
        return "architecture is not a JSON object"
    sha = config["weights_sha256"]
    if not (isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)):
        return "weights_sha256 is not a SHA-256 hex digest"
    return None


def _extras_problem(config: dict) -> str | None:
    """Why the optional values engines and trainers read are unusable, or None."""
    if "threshold" in config:
        t = config["threshold"]
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t < 1:
            return f"threshold {str(t)[:20]!r} is not a number between 0 and 1"
    training = config.get("training", {})
    if not isinstance(training, dict):
        return "training is not a JSON object"
    if "max_steps_per_puzzle" in training and not is_int(training["max_steps_per_puzzle"], 1, MAX_STEPS):
        return f"training.max_steps_per_puzzle is not an integer from 1 to {MAX_STEPS}"
    if "precision" in training and not isinstance(training["precision"], str):
        return "training.precision is not a string"
    history = config.get("history", {"commands": [], "seconds": 0})
    if not (isinstance(history, dict) and {"commands", "seconds"} <= history.keys()):
        return "history is not a JSON object with commands and seconds"
    commands, seconds = history["commands"], history["seconds"]
    if not (isinstance(commands, list) and all(isinstance(c, str) for c in commands)):
        return "history.commands is not a list of strings"
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds < math.inf:
        return "history.seconds is not a number of seconds"
    return None


def _read_config(path: Path) -> dict:
    config = _parse_json(_read_text(path, CONFIG))
    if config is _UNPARSED:
        raise CheckpointError(f"{path}: {CONFIG} is not valid JSON")
    version = config.get("format_version") if isinstance(config, dict) else None
    if is_int(version, FORMAT_VERSION + 1, 1 << 31) and config.get("format") == FORMAT:  # before other rules
        raise CheckpointError(f"{path}: checkpoint format {version} is newer than this rsolve "
                              f"({__version__}) reads (format {FORMAT_VERSION}); upgrade rsolve")
    problem = _schema_problem(config) or _extras_problem(config)
    if problem:
        raise CheckpointError(f"{path}: {CONFIG} {problem}")
    return config


def validate(folder: str | os.PathLike, engine: str | None = None, kind: str | None = None,
             verify_hash: bool = True) -> Checkpoint:
    """Check a folder (a path, or a checkpoint's name on the search path) and return it;
    raise CheckpointError with a one-line reason."""
    path = resolve(folder)
    config = _read_config(path)
    if engine is not None and config["engine"] != engine:
        raise CheckpointError(f"{path}: checkpoint is for model {config['engine']!r}, not {engine!r}")
    if kind is not None and config["kind"] != kind:
        raise CheckpointError(f"{path}: checkpoint is for {config['kind']} puzzles, not {kind}")
    _read_header(path)
    if verify_hash and _sha256(path) != config["weights_sha256"]:
        raise CheckpointError(f"{path}: {WEIGHTS} does not match its checksum (modified or corrupt)")
    ckpt = Checkpoint(path, config)
    ckpt.card()  # readable, if there is one
    return ckpt


def load_state_dict(ckpt: Checkpoint, device: str = "cpu") -> dict:
    """The weights as torch tensors (safetensors: no pickle, no code execution)."""
    from safetensors.torch import load_file

    return load_file(str(ckpt.path / WEIGHTS), device=device)


def save(folder: str | os.PathLike, tensors: dict, *, engine: str, kind: str, architecture: dict,
         card: str, extra: dict | None = None) -> Checkpoint:
    """Write a checkpoint folder atomically (torch or numpy tensors)."""
    path = Path(folder)
    tmp = path.with_name(path.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    first = next(iter(tensors.values()), None)
    if first is not None and type(first).__module__.startswith("torch"):
        from safetensors.torch import save_file

        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp / WEIGHTS))
    else:
        from safetensors.numpy import save_file

        save_file(dict(tensors), str(tmp / WEIGHTS))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp / WEIGHTS, 0o666 & ~umask)  # safetensors writes 0600; the weights are as readable as the rest
    config = {"format": FORMAT, "format_version": FORMAT_VERSION, "rsolve_version": __version__,
              "engine": engine, "kind": kind, "architecture": architecture,
              "weights_sha256": _sha256(tmp), **(extra or {})}
    (tmp / CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (tmp / CARD).write_text(card, encoding="utf-8")
    for f in tmp.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    backup = path.with_name(path.name + ".previous")
    shutil.rmtree(backup, ignore_errors=True)
    if path.exists():
        path.rename(backup)
    tmp.rename(path)
    shutil.rmtree(backup, ignore_errors=True)
    return Checkpoint(path, config)


# --- where checkpoints live ---


def shipped_dir() -> Path:
    """The checkpoints that come with rsolve: rsolve/shipped in an installed copy (pyproject.toml
    packages the repository's checkpoints/ folder under that name), else, in a source tree or an
    editable install, the repository's checkpoints/ folder itself."""
    package = Path(__file__).resolve().parent
    installed_copy = package / "shipped"
    return installed_copy if installed_copy.is_dir() else package.parent / "checkpoints"


def user_dir() -> Path:
    """Where `rsolve train` writes checkpoints by default: $RSOLVE_HOME/checkpoints, with
    RSOLVE_HOME defaulting to $XDG_DATA_HOME/rsolve, i.e. ~/.local/share/rsolve."""
    home = os.environ.get("RSOLVE_HOME")
    if not home:
        data = os.environ.get("XDG_DATA_HOME", "")
        # the XDG spec says a relative XDG_DATA_HOME is to be ignored
        home = Path(data if os.path.isabs(data) else Path.home() / ".local" / "share") / "rsolve"
    return Path(home).expanduser() / "checkpoints"


def search_path() -> list[Path]:
    """Where installed checkpoints live, in order: $RSOLVE_CHECKPOINTS, the shipped ones, then
    user_dir() (so `--model auto` prefers the shipped checkpoints over newly trained ones)."""
    paths = [Path(p) for p in os.environ.get("RSOLVE_CHECKPOINTS", "").split(os.pathsep) if p]
    paths += [shipped_dir(), user_dir()]
    return list(dict.fromkeys(paths))


def _folder(path: Path) -> Path | None:
    """path, or the NAME.previous a save interrupted between its two renames leaves, if a folder."""
    if path.is_dir():
        return path
    backup = path.with_name(path.name + ".previous")
    return backup if not path.exists() and backup.is_dir() else None


def resolve(name_or_path: str | os.PathLike) -> Path:
    """The folder a checkpoint argument means: an existing folder as is; otherwise a bare name
    (no directory part) is looked up as a folder of that name in each search-path root."""
    text = os.fspath(name_or_path)
    found = _folder(Path(text))
    if found is not None:
        return found
    if os.path.lexists(text):
        raise CheckpointError(f"{text}: not a checkpoint folder (not a directory)")
    if os.sep in text or (os.altsep and os.altsep in text):
        raise CheckpointError(f"{text}: not a checkpoint folder (no such directory)")
    roots = search_path()
    for root in roots:
        found = _folder(root / text)
        if found is not None:
            return found
    raise CheckpointError(f"no checkpoint named {text!r} (looked in: {', '.join(map(str, roots))})")


def installed() -> list[tuple[Path, dict | None, str | None]]:
    """Every checkpoint folder on the search path: (path, config or None, error or None)."""
    out = []
    for root in search_path():
        try:
            subs = sorted(root.iterdir()) if root.is_dir() else []
        except OSError:  # unreadable root: nothing installed there
            continue
        for sub in subs:
            if sub.name.endswith(".partial") or not sub.is_dir() or not os.path.lexists(sub / CONFIG):
                continue  # a .partial folder is a save still running (or killed)
            try:
                out.append((sub, validate(sub, verify_hash=False).config, None))
            except CheckpointError as exc:
                out.append((sub, None, str(exc)))
    return out


def find_default(engine: str, kind: str, generator: bool = False) -> Path | None:
    """The first installed checkpoint for this engine and kind: a solver, or with
    `generator` one trained on blank boards (a GRAM generator)."""
    for path, config, error in installed():
        if config and config["engine"] == engine and config["kind"] == kind and is_generator(config) == generator:
            return path
    return None


def is_generator(config: dict) -> bool:
    training = config.get("training")
    return isinstance(training, dict) and training.get("unconditional") is True
