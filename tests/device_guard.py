"""A fake CUDA device on the CPU, so CPU-only assumptions fail on a CPU-only machine.

There is no GPU here, so code that builds a tensor on the default (CPU) device and
later mixes it with device tensors would only break on CUDA. Inside `FakeCuda`,
tensors made for (or moved to) "cuda" are tagged and report device cuda:0, and a
torch call that mixes tagged tensors with untagged ones (other than 0-dim
scalars), draws device numbers from a host generator, or calls .numpy() on a
device tensor fails an assertion. What it cannot see: work inside C++ or
autograd kernels, CUDA-only behaviour (asynchronous errors, bf16/TF32 numerics,
memory), host syncs, and code paths a test does not run.
"""

from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten


class FakeCuda(TorchFunctionMode):
    """Runs on the CPU while pretending to be CUDA: tensors made for (or moved to) "cuda"
    are tagged; every torch call then must not mix tagged tensors with untagged ones
    that have dimensions (a 0-dim host tensor is a scalar, which CUDA accepts), draw
    device numbers from a host generator or the other way round, or call .numpy() on
    a device tensor. Tagged tensors report device cuda:0, so code that follows
    `x.device` stays on the fake device."""

    TAG = "_fake_cuda"

    def __init__(self):
        super().__init__()
        self.device_generators = []

    @classmethod
    def tagged(cls, t) -> bool:
        return getattr(t, cls.TAG, False)

    @classmethod
    def fake(cls, dev) -> bool:
        return cls.tagged(dev) if isinstance(dev, torch.Tensor) else torch.device(dev).type == "cuda"

    def _property(self, func, name, args, kwargs):
        """device and is_cuda as on CUDA; setting .data carries the tag (Module.to() swaps
        parameter data this way); other attributes (.grad, .data, ...) follow their owner."""
        prop = getattr(getattr(func, "__self__", None), "__name__", None)
        on = self.tagged(args[0])
        if name == "__get__" and prop in ("device", "is_cuda"):
            return on if prop == "is_cuda" else torch.device("cuda", 0) if on else torch.device("cpu")
        out = func(*args, **kwargs)
        if name == "__set__" and prop == "data":
            setattr(args[0], self.TAG, self.tagged(args[1]))
        elif isinstance(out, torch.Tensor):
            setattr(out, self.TAG, on)
        return out

    def _moves(self, name, args, kwargs):
        """(target tagged or None, args, kwargs) with every device pointed at the CPU."""
        target = None
        if kwargs.get("device") is not None:
            target, kwargs = self.fake(kwargs["device"]), {**kwargs, "device": "cpu"}
        if name == "to":
            moved = []
            for a in args[1:]:
                if isinstance(a, (str, torch.device)):
                    target, a = self.fake(a), "cpu"
                elif isinstance(a, torch.Tensor):
                    target, a = self.tagged(a), a.dtype
                moved.append(a)
            args = (args[0], *moved)
        if name in ("cuda", "cpu"):
            target, args, kwargs = name == "cuda", (args[0],), {}
        return target, args, kwargs

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name, kwargs = getattr(func, "__name__", ""), dict(kwargs or {})
        if name in ("__get__", "__set__"):
            return self._property(func, name, args, kwargs)
        target, args, kwargs = self._moves(name, args, kwargs)
        move = name in ("to", "cuda", "cpu")
        func = torch.Tensor.cpu if name == "cuda" else func
        tensors = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        if name == "numpy":
            assert not self.tagged(tensors[0]), "numpy() of a device tensor"
        if not move and name != "_has_compatible_shallow_copy_type":
            dev = [tuple(t.shape) for t in tensors if self.tagged(t)]
            host = [tuple(t.shape) for t in tensors if not self.tagged(t) and t.dim() > 0]
            assert not (dev and host), f"{name}: device tensors {dev} mixed with host tensors {host}"
        out = func(*args, **kwargs)
        target = any(self.tagged(t) for t in tensors) if target is None else target
        if kwargs.get("generator") is not None:
            on_device = any(g is kwargs["generator"] for g in self.device_generators)
            assert on_device == target, f"{name}: a generator of the other device"
        if move and isinstance(out, torch.Tensor) and self.tagged(out) != target:
            out = out.clone()  # a transfer is a copy, never the same tensor with a new tag
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                setattr(t, self.TAG, target)
        return out

    def __enter__(self):
        self.saved = torch.nn.Parameter.__new__, torch.Generator
        new_param, real_generator, made = torch.nn.Parameter.__new__, torch.Generator, self.device_generators

        def parameter(cls, data=None, requires_grad=True):  # deepcopy rebuilds parameters from .data
            p = new_param(cls, data, requires_grad)
            setattr(p, FakeCuda.TAG, FakeCuda.tagged(data))
            return p

        class Generator(real_generator):  # a subclass: `torch.Generator | None` annotations keep working
            def __new__(cls, device="cpu"):
                g = super().__new__(cls, "cpu")
                if FakeCuda.fake(device):
                    made.append(g)
                return g

            def __init__(self, device="cpu"):
                pass

        torch.nn.Parameter.__new__, torch.Generator = parameter, Generator
        return super().__enter__()

    def __exit__(self, *exc):
        torch.nn.Parameter.__new__, torch.Generator = self.saved
        return super().__exit__(*exc)
