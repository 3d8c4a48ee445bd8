"""Shared fixtures: a tiny synthetic FashionMNIST-format dataset written as real gzip IDX files."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from weakgan.data.idx import write_idx

if os.environ.get("PYTEST_XDIST_WORKER"):   # pytest-xdist runs one worker per core: one thread each
    import torch
    torch.set_num_threads(1)

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
REAL_FASHION = pytest.mark.skipif(not (FASHION_DIR / "train-images-idx3-ubyte.gz").exists(),
                                  reason="real FashionMNIST (Debian dataset-fashion-mnist) not installed")


def synthetic_images(labels: np.ndarray, rng: np.random.Generator, size: int = 28) -> np.ndarray:
    """Class k = a bright 6x6 block at a class-specific place, plus noise: learnable in a few steps."""
    n = len(labels)
    images = rng.integers(0, 60, size=(n, size, size)).astype(np.uint8)
    for i, k in enumerate(labels):
        r, c = 2 + (k // 4) * 8, 2 + (k % 4) * 6
        images[i, r:r + 6, c:c + 6] = 230
    return images


def write_fashion_like(folder: Path, n_train: int = 400, n_test: int = 100, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        rng.shuffle(labels)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", synthetic_images(labels, rng))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels.astype(np.uint8))
    return folder


@pytest.fixture(scope="session")
def tiny_fashion(tmp_path_factory) -> Path:
    return write_fashion_like(tmp_path_factory.mktemp("tiny_fashion"))


# Settings that make a run take seconds on a 2-core CPU (smallcnn, the backbone of 28 px images, at a sixteenth
# of its default cost).
TINY = ["--epochs", "5", "--min-steps", "0", "--batch-size", "40", "--head-hidden", "32", "--checkpoint-every", "5",
        "--eval-batch-size", "100", "--no-progress", "--threads", "1", "--ema", "0.9", "--backbone-width", "16"]


def kill_at_first_checkpoint(args: list[str], out: Path, timeout: float = 120,
                             sig: int = signal.SIGKILL) -> tuple[int, str]:
    """Start `weakgan ARGS` (which trains into `out`), send it `sig` (SIGKILL) as soon as its first checkpoint
    exists (the training loop, and its signal handler, are running then), and return its exit code and stderr."""
    import time
    proc = subprocess.Popen([sys.executable, "-m", "weakgan.cli", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    ckpt = out / "checkpoints" / "last.pt"
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None and not ckpt.exists():
        time.sleep(0.02)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=timeout)
    assert ckpt.exists(), "no checkpoint was written"
    assert not (out / "metrics.json").exists(), "the run finished before it could be stopped"
    return proc.returncode, err


def run_cli(*args: str, check: bool = True, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run the real `weakgan` console entry point in a subprocess."""
    proc = subprocess.run([sys.executable, "-m", "weakgan.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"weakgan {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc
