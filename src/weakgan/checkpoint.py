"""Safe, atomic persistence. Nothing here ever unpickles arbitrary objects:
weights go to safetensors, training state through torch.load(weights_only=True)."""
from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file

from weakgan import WeakganError


def atomic_write(path: str | Path, write: Callable[[str], None]) -> None:
    """write(tmp_path) into a temporary file beside `path`, fsync it, then rename over `path`.

    A crash at any moment leaves either the old file or the new one, never a torn one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def save_weights(path: str | Path, state_dict: dict[str, torch.Tensor]) -> None:
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp))


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from .safetensors, or from a torch file loaded with weights_only=True."""
    path = Path(path)
    if not path.is_file():
        raise WeakganError(f"{path}: weights file not found")
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any parse failure is a bad file for the user
        raise WeakganError(f"{path}: not a readable weights file ({type(e).__name__}: {str(e)[:120]})") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeakganError(f"{path}: expected a state dict of tensors")
    return state


def save_checkpoint(path: str | Path, state: dict) -> None:
    """Training state: tensors, numbers, strings, lists and dicts only (so weights_only can load it)."""
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeakganError(f"{path}: checkpoint not found") from None
    except Exception as e:  # noqa: BLE001 - includes the unpickler refusing a non-tensor object
        raise WeakganError(f"{path}: refused to load checkpoint ({type(e).__name__}: {str(e).splitlines()[0][:160]})") from None


@contextlib.contextmanager
def cache_lock(folder: str | Path):
    """Hold an exclusive lock on a cache folder while filling it: a second worker (sweep shards sharing one
    cache) waits here, then finds the result made, instead of training the same thing alongside."""
    with open(Path(folder) / "lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
