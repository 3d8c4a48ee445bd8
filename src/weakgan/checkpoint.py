"""Safe, atomic persistence. Nothing here ever unpickles arbitrary objects:
weights go to safetensors, training state through torch.load(weights_only=True)."""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import tempfile
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file

from weakgan import WeakganError


def _file_mode() -> int:
    """The mode a plain open() would give a new file under this process's umask (mkstemp's files are 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


FILE_MODE = _file_mode()


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
        os.chmod(tmp, FILE_MODE)
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
        first_line = (str(e).splitlines() or ["empty or truncated file"])[0][:160]
        raise WeakganError(f"{path}: refused to load checkpoint ({type(e).__name__}: {first_line})") from None


def all_finite(state) -> bool:
    """Whether every floating-point tensor in a (nested) state is free of NaN and inf."""
    if isinstance(state, torch.Tensor):
        return not state.is_floating_point() or bool(torch.isfinite(state).all())
    if isinstance(state, dict):
        return all(all_finite(v) for v in state.values())
    if isinstance(state, (list, tuple)):
        return all(all_finite(v) for v in state)
    return True


def read_json(path: str | Path):
    """A JSON file of a run folder; a missing, unreadable or corrupt one is one clear error."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except OSError as e:
        raise WeakganError(f"{path}: cannot read ({e.strerror})") from None
    except ValueError as e:
        raise WeakganError(f"{path}: not valid JSON ({e}); the run folder is damaged") from None


def check_writable(path: str | Path) -> Path:
    """Prove that `path` can be written (its folder is made if missing) before any long work is done."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
        if path.is_dir():
            raise IsADirectoryError(21, "a folder is in the way")
        if path.exists() and not os.access(path, os.W_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as e:
        raise WeakganError(f"{path}: cannot write here ({e.strerror})") from None
    return path


def remove_temp_files(folder: str | Path) -> list[Path]:
    """Delete the temporary files that interrupted atomic writes left in a folder and its checkpoints/."""
    folder = Path(folder)
    stale = [p for d in (folder, folder / "checkpoints") for p in d.glob(".*.tmp") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


@contextlib.contextmanager
def folder_lock(folder: str | Path, log=None):
    """Keep every other process out of a run folder while this one uses it: an exclusive flock on
    FOLDER/.lock (the kernel releases it when the holder exits, even on kill -9), whose text names the
    holder. A lock file still naming a holder was left by a process that died: it is taken over, with a
    message, and the temporary files of that process's interrupted writes are removed."""
    folder = Path(folder)
    f = open(folder / ".lock", "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "another process"
        f.close()
        raise WeakganError(f"{folder}: in use by {holder}; wait for it to finish, or use another --out folder") from None
    f.seek(0)
    previous = f.read().strip()
    if previous and log:
        log(f"{folder}: taking over the lock left by {previous}, which is no longer running")
    remove_temp_files(folder)
    f.seek(0)
    f.truncate()
    f.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
    f.flush()
    try:
        yield
    finally:
        f.seek(0)
        f.truncate()
        f.flush()
        fcntl.flock(f, fcntl.LOCK_UN)
        f.close()


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
