"""torchrun process groups for the trainers that run under DistributedDataParallel:
joining, agreeing on rank 0's values, and checking that the replicas stayed equal."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta

import torch
import torch.distributed as dist


def start(device: torch.device) -> tuple[int, int, torch.device]:
    """(rank, world size, device). Under torchrun (WORLD_SIZE > 1) this joins the
    process group: gloo on CPU, NCCL on CUDA, one GPU per local rank."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, device
    rank = int(os.environ.get("RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        # generous timeout: the other ranks wait while rank 0 generates data, validates and saves
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timedelta(hours=2))
    return rank, world, device


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier(world: int) -> None:
    if world > 1:
        dist.barrier()


def agree(values: list[float], world: int, device) -> list[float]:
    """Rank 0's values on every rank: the schedule runs on wall time, and ranks whose
    clocks disagree would otherwise use different learning rates or stop apart."""
    if world <= 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.broadcast(t, 0)
    return t.tolist()


def weights_digest(model) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()


def all_digests(model, world: int) -> list[str]:
    """Every rank's weight hash (DDP keeps replicas equal; this checks that it did)."""
    mine = weights_digest(model)
    if world <= 1:
        return [mine]
    out = [None] * world
    dist.all_gather_object(out, mine)
    return out
