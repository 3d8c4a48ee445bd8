"""Reading and writing IDX files (the format of MNIST and FashionMNIST), raw or gzip-compressed.

Format: 2 zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, then one
big-endian uint32 per dimension, then the data. Every check below names the file when it fails.
"""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from weakgan import WeakganError

UBYTE = 0x08


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except FileNotFoundError:
        raise WeakganError(f"{path}: file not found") from None
    except (OSError, EOFError) as e:  # gzip raises these for corrupt or truncated archives
        raise WeakganError(f"{path}: cannot read ({e})") from None


def read_idx(path: str | Path, expect_ndim: int | None = None) -> np.ndarray:
    """Return the array stored in an IDX file, validating magic number, dimensions and size."""
    path = Path(path)
    buf = _read_bytes(path)
    if len(buf) < 4:
        raise WeakganError(f"{path}: not an IDX file (only {len(buf)} bytes)")
    zero, dtype_code, ndim = struct.unpack(">HBB", buf[:4])
    if zero != 0 or dtype_code != UBYTE or ndim == 0:
        raise WeakganError(
            f"{path}: bad IDX magic number 0x{buf[:4].hex()} (expected 0x0000 08 0N for unsigned bytes)")
    if expect_ndim is not None and ndim != expect_ndim:
        raise WeakganError(f"{path}: IDX file has {ndim} dimensions, expected {expect_ndim}")
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise WeakganError(f"{path}: truncated IDX header")
    shape = struct.unpack(">" + "I" * ndim, buf[4:header])
    n = int(np.prod(shape))
    if len(buf) - header != n:
        raise WeakganError(
            f"{path}: IDX header promises {n} bytes for shape {tuple(shape)}, file holds {len(buf) - header}"
            " (truncated or corrupt)")
    return np.frombuffer(buf, dtype=np.uint8, offset=header).reshape(shape).copy()


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (gzip-compressed if the name ends in .gz)."""
    path = Path(path)
    array = np.ascontiguousarray(array, dtype=np.uint8)
    data = struct.pack(">HBB", 0, UBYTE, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    data += array.tobytes()
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
