"""Checks of a safetensors header read from an untrusted file: every tensor entry well
formed and the tensors tiling the data exactly (rsolve.checkpoints reads the file)."""

from __future__ import annotations

import math

DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
               "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}


def is_int(x, lo: float = 0, hi: float = math.inf) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and lo <= x <= hi


def tensor_problem(name: str, t) -> str | None:
    """Why one header entry is not {dtype, shape, data_offsets} of matching size, or None."""
    if not isinstance(t, dict) or set(t) != {"dtype", "shape", "data_offsets"}:
        return f"tensor {name[:60]!r} is not {{dtype, shape, data_offsets}}"
    dtype, shape, offsets = t["dtype"], t["shape"], t["data_offsets"]
    if not isinstance(dtype, str) or dtype not in DTYPE_BYTES:
        return f"tensor {name[:60]!r} has unknown dtype {str(dtype)[:20]!r}"
    if not (isinstance(shape, list) and len(shape) <= 8 and all(is_int(d) for d in shape)):
        return f"tensor {name[:60]!r} has a bad shape"
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(is_int(o) for o in offsets)
            and offsets[0] <= offsets[1]):
        return f"tensor {name[:60]!r} has bad data_offsets"
    if offsets[1] - offsets[0] != math.prod(shape) * DTYPE_BYTES[dtype]:
        return f"tensor {name[:60]!r}: data_offsets do not match its shape and dtype"
    return None


def data_size(header: dict) -> int:
    """Bytes of tensor data the header describes; a ValueError (the reason) unless every entry
    is well formed and the tensors tile the data without gaps or overlaps."""
    meta = header.get("__metadata__", {})
    if not (isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())):
        raise ValueError("__metadata__ is not a table of strings")
    spans = []
    for name, t in header.items():
        if name != "__metadata__":
            problem = tensor_problem(name, t)
            if problem:
                raise ValueError(problem)
            spans.append(tuple(t["data_offsets"]))
    end = 0
    for begin, stop in sorted(spans):
        if begin != end:
            raise ValueError("tensors overlap or leave gaps")
        end = stop
    return end
