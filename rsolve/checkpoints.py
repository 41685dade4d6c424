"""The one checkpoint folder format shared by every neural engine.

A checkpoint is a folder:
- `model.safetensors`: the weights (safetensors only; nothing is ever unpickled),
- `config.json`: format, format_version, rsolve_version, engine, kind,
  architecture (the model config), weights_sha256, and free-form extras,
- `README.md`: the card (command, data, wall time, machine, measured results).

`validate` checks a folder without torch: config schema and version, weights
present, safetensors header consistent with the file size, checksum matching.
`save` is atomic: a folder killed mid-save leaves the previous one loadable.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

from . import __version__

FORMAT = "rsolve-checkpoint"
FORMAT_VERSION = 1
WEIGHTS, CONFIG, CARD = "model.safetensors", "config.json", "README.md"
REQUIRED = ("format", "format_version", "rsolve_version", "engine", "kind", "architecture", "weights_sha256")


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
        p = self.path / CARD
        return p.read_text(encoding="utf-8") if p.exists() else ""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_safetensors(path: Path) -> None:
    """Header parses and the tensors it lists fill the file exactly."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise CheckpointError(f"{path}: truncated weights file")
        (n,) = struct.unpack("<Q", raw)
        if n > size - 8:
            raise CheckpointError(f"{path}: truncated weights file (header runs past the end)")
        try:
            header = json.loads(f.read(n))
        except ValueError:
            raise CheckpointError(f"{path}: corrupt weights header") from None
    ends = [t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"]
    if 8 + n + max(ends, default=0) != size:
        raise CheckpointError(f"{path}: truncated or padded weights file ({size} bytes, header expects "
                              f"{8 + n + max(ends, default=0)})")


def _resolve(folder: str | os.PathLike) -> Path:
    path = Path(folder)
    backup = path.with_name(path.name + ".previous")
    if not path.exists() and backup.exists():  # a save was interrupted between its two renames
        return backup
    return path


def validate(folder: str | os.PathLike, engine: str | None = None, kind: str | None = None,
             verify_hash: bool = True) -> Checkpoint:
    """Check a folder and return it; raise CheckpointError with a one-line reason."""
    path = _resolve(folder)
    if not path.is_dir():
        raise CheckpointError(f"{folder}: not a checkpoint folder (no such directory)")
    cfg_path = path / CONFIG
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{folder}: no {CONFIG}") from None
    except (ValueError, UnicodeDecodeError):
        raise CheckpointError(f"{folder}: {CONFIG} is not valid JSON") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{folder}: {CONFIG} is not an rsolve checkpoint config")
    missing = [k for k in REQUIRED if k not in config]
    if missing:
        raise CheckpointError(f"{folder}: {CONFIG} lacks {', '.join(missing)}")
    version = config["format_version"]
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(f"{folder}: checkpoint format {version} is newer than this rsolve "
                              f"({__version__}) reads (format {FORMAT_VERSION}); upgrade rsolve")
    if engine is not None and config["engine"] != engine:
        raise CheckpointError(f"{folder}: checkpoint is for model {config['engine']!r}, not {engine!r}")
    if kind is not None and config["kind"] != kind:
        raise CheckpointError(f"{folder}: checkpoint is for {config['kind']} puzzles, not {kind}")
    weights = path / WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"{folder}: no {WEIGHTS}")
    _check_safetensors(weights)
    if verify_hash and _sha256(weights) != config["weights_sha256"]:
        raise CheckpointError(f"{folder}: {WEIGHTS} does not match its checksum (modified or corrupt)")
    return Checkpoint(path, config)


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
    config = {"format": FORMAT, "format_version": FORMAT_VERSION, "rsolve_version": __version__,
              "engine": engine, "kind": kind, "architecture": architecture,
              "weights_sha256": _sha256(tmp / WEIGHTS), **(extra or {})}
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


def search_path() -> list[Path]:
    """Where installed checkpoints live: $RSOLVE_CHECKPOINTS, then the repository's checkpoints/."""
    paths = [Path(p) for p in os.environ.get("RSOLVE_CHECKPOINTS", "").split(os.pathsep) if p]
    paths.append(Path(__file__).resolve().parent.parent / "checkpoints")
    return paths


def installed() -> list[tuple[Path, dict | None, str | None]]:
    """Every checkpoint folder on the search path: (path, config or None, error or None)."""
    out = []
    for root in search_path():
        if not root.is_dir():
            continue
        for sub in sorted(root.iterdir()):
            if sub.is_dir() and (sub / CONFIG).exists():
                try:
                    out.append((sub, validate(sub, verify_hash=False).config, None))
                except CheckpointError as exc:
                    out.append((sub, None, str(exc)))
    return out


def find_default(engine: str, kind: str) -> Path | None:
    """The first installed checkpoint for this engine and kind."""
    for path, config, error in installed():
        if config and config["engine"] == engine and config["kind"] == kind:
            return path
    return None
