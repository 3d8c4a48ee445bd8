"""Device choice and thread settings, in one place (stages never call .cuda())."""
from __future__ import annotations

import contextlib
import copy
import datetime
import functools
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Callable

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


# CPU flags of native bf16 arithmetic. Without them PyTorch emulates bf16, and autocast runs an order of
# magnitude slower than fp32; with them it can still lose for some networks, which is why `auto` also times
# the run's own model (both cases: benchmarks/results/precision_speed.md).
NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")
PRECISIONS = ("auto", "none", "bf16", "fp16")
PROBE_MIN_STEPS = 200      # shorter runs skip the timing probe (it costs a few seconds) and stay in fp32
PROBE_MIN_GAIN = 1.15      # bf16 must be at least this much faster than fp32 in the probe to be chosen
# each precision is timed this many times, alternating, and its best time counts: another process (or the
# previous run winding down) can only slow a sample, and one slowed bf16 sample once made a run pick fp32 at
# half bf16's measured speed (benchmarks/results/full_recipe.md)
PROBE_ROUNDS = 2


def cpuinfo(field: str) -> str:
    """The value of a field of /proc/cpuinfo's first CPU (Linux); '' where it cannot be read."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return ""
    return next((line.split(":", 1)[1].strip() for line in lines if line.split(":", 1)[0].strip() == field), "")


def cpu_flags() -> set[str]:
    """The CPU's feature flags; empty where they cannot be read."""
    return set(cpuinfo("flags").split())


def choose_precision(requested: str, device: torch.device, flags: set[str] | None = None,
                     probe: Callable[[str], float] | None = None) -> tuple[str, str]:
    """(precision, why): `none` (fp32), `bf16` or `fp16` for a run on `device`.

    auto: bf16 on CUDA devices that support it; fp32 on a CPU without native bf16 (flags, default: this
    machine's); on a CPU with native bf16, bf16 only if probe(precision) -> images/s, best of PROBE_ROUNDS
    alternating samples each, says it is faster for this model (no probe: fp32, the safe choice for short runs).
    """
    if requested not in PRECISIONS:
        raise WeakganError(f"amp '{requested}': expected one of {', '.join(PRECISIONS)}")
    if requested != "auto":
        if requested == "fp16" and device.type != "cuda":
            raise WeakganError("amp 'fp16' needs a CUDA device; use bf16 or auto on a CPU")
        return requested, "asked for (--amp)"
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return "bf16", "auto: CUDA device with bf16"
        return "fp16", "auto: CUDA device without bf16"
    if device.type != "cpu":
        return "none", f"auto: fp32 on {device.type}"
    flags = cpu_flags() if flags is None else flags
    native = [f for f in NATIVE_BF16_FLAGS if f in flags]
    if not native:
        return "none", "auto: this CPU has no native bf16 (no amx_bf16/avx512_bf16 flag), bf16 would be emulated"
    if probe is None:
        return "none", f"auto: CPU with {native[0]}, but the run is too short to time bf16 against fp32"
    samples = alternating_samples({p: functools.partial(probe, p) for p in ("none", "bf16")}, PROBE_ROUNDS)
    fp32, bf16 = max(samples["none"]), max(samples["bf16"])
    timing = f"bf16 {bf16:.0f} vs fp32 {fp32:.0f} images/s in a timing probe"
    if bf16 >= PROBE_MIN_GAIN * fp32:
        return "bf16", f"auto: CPU with {native[0]}, {timing}"
    return "none", f"auto: CPU with {native[0]}, but {timing}"


def alternating_samples(timers: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """{name: its samples}: every timer called `rounds` times, in turn (a, b, a, b, ...), so that a slow spell of
    a shared machine falls on all of them rather than on whichever ran during it."""
    samples: dict[str, list[float]] = {name: [] for name in timers}
    for _ in range(rounds):
        for name, timer in timers.items():
            samples[name].append(timer())
    return samples


def autocast(device: torch.device, precision: str):
    """The autocast context of a resolved precision (none, bf16 or fp16)."""
    if precision == "none":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


def training_speed(model: torch.nn.Module, input_shape: tuple[int, ...], batch_size: int, device: torch.device,
                   precision: str, channels_last: bool, steps: int = 3) -> float:
    """Images/s of forward + backward of a copy of `model` on random input (the model, its gradients and
    every random generator are left as they were)."""
    probe = copy.deepcopy(model).train()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    gen = torch.Generator().manual_seed(0)
    x = torch.randn((batch_size, *input_shape), generator=gen).to(device).contiguous(memory_format=fmt)

    def step():
        with autocast(device, precision):
            out = probe(x)
        out = out[0] if isinstance(out, tuple) else out
        out.float().square().mean().backward()

    step()   # first call: kernel selection and allocation
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return steps * batch_size / (time.perf_counter() - t0)



def machine() -> str:
    """The CPU model, this process's thread count and the torch version, in one line."""
    cpu = cpuinfo("model name") or platform.processor() or platform.machine()
    return f"{cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}"


def git_commit(short: bool = True) -> str:
    """The package's git commit, with '+dirty' if tracked files have changes; 'unknown' outside a checkout."""
    here = str(Path(__file__).resolve().parent)
    try:
        commit = subprocess.run(["git", "rev-parse", *(["--short"] if short else []), "HEAD"], capture_output=True,
                                text=True, cwd=here, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=here, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (commit + ("+dirty" if dirty else "")) if commit else "unknown"


def provenance() -> dict:
    """What made a result, for metrics.json: commit, torch version, CPU and date."""
    return {"commit": git_commit(short=False), "torch": torch.__version__, "machine": machine(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
