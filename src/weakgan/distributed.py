"""Multi-process training under torchrun (DistributedDataParallel), in one place.

`torchrun --nproc_per_node=N -m weakgan.cli train ...` sets RANK/WORLD_SIZE/LOCAL_RANK; without them
everything here is a no-op and the run is an ordinary single process. gloo on CPU, nccl on CUDA.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from weakgan.runtime import pick_device


@dataclass
class DistInfo:
    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup(device_name: str) -> DistInfo:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return DistInfo(0, 1, pick_device(device_name))
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_name)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        # long timeout: rank 0 may spend a while on shared pretraining while the others wait
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                timeout=datetime.timedelta(hours=3))
    return DistInfo(rank, world, device)


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def wrap(model: torch.nn.Module, info: DistInfo) -> torch.nn.Module:
    if info.world == 1:
        return model
    ids = [info.device.index] if info.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)


def gather_rows(local: torch.Tensor, total: int, info: DistInfo) -> torch.Tensor:
    """Rows i::world were computed by rank i (strided shards); put all rows back in order, on every rank."""
    if info.world == 1:
        return local
    per_rank = -(-total // info.world)
    padded = torch.zeros(per_rank, *local.shape[1:], dtype=local.dtype, device=local.device)
    padded[:len(local)] = local
    parts = [torch.empty_like(padded) for _ in range(info.world)]
    dist.all_gather(parts, padded)
    out = torch.empty(total, *local.shape[1:], dtype=local.dtype, device=local.device)
    for r, part in enumerate(parts):
        n = len(range(r, total, info.world))
        out[r::info.world] = part[:n]
    return out


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
