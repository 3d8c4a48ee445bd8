"""Device choice and thread settings, in one place (stages never call .cuda())."""
from __future__ import annotations

import os

import torch

from weakgan import WeakganError


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise WeakganError(f"device '{name}': CUDA is not available on this machine")
    if name not in ("cpu", "mps") and not name.startswith("cuda"):
        raise WeakganError(f"device '{name}': expected auto, cpu, cuda[:N] or mps")
    return torch.device(name)


def set_threads(threads: int = 0) -> int:
    """Use `threads` CPU threads (0 = the cores this process may run on). Returns the count used."""
    n = threads or len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (threads or os.cpu_count())
    torch.set_num_threads(max(1, n))
    return torch.get_num_threads()


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    if device.type == "cpu":
        return f"cpu:{torch.get_num_threads()}threads"
    return device.type
