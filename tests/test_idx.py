import gzip

import numpy as np
import pytest

from weakgan import WeakganError
from weakgan.data.idx import read_idx, write_idx


@pytest.mark.parametrize("name", ["a-idx3-ubyte", "a-idx3-ubyte.gz"])
def test_roundtrip(tmp_path, name):
    arr = np.random.default_rng(0).integers(0, 256, size=(7, 5, 3)).astype(np.uint8)
    write_idx(tmp_path / name, arr)
    out = read_idx(tmp_path / name, expect_ndim=3)
    assert out.dtype == np.uint8 and np.array_equal(out, arr)


def test_header_bytes(tmp_path):
    write_idx(tmp_path / "l", np.array([1, 2, 3], dtype=np.uint8))
    assert (tmp_path / "l").read_bytes() == bytes([0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3])


def test_truncated_file_names_file(tmp_path):
    write_idx(tmp_path / "x.gz", np.zeros((4, 2, 2), np.uint8))
    raw = gzip.decompress((tmp_path / "x.gz").read_bytes())
    (tmp_path / "x.gz").write_bytes(gzip.compress(raw[:-3]))
    with pytest.raises(WeakganError, match=r"x\.gz.*truncated"):
        read_idx(tmp_path / "x.gz")


def test_wrong_magic(tmp_path):
    (tmp_path / "bad").write_bytes(bytes([0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0]))  # float type code
    with pytest.raises(WeakganError, match=r"bad.*magic"):
        read_idx(tmp_path / "bad")


def test_wrong_ndim(tmp_path):
    write_idx(tmp_path / "l", np.zeros(3, np.uint8))
    with pytest.raises(WeakganError, match="1 dimensions, expected 3"):
        read_idx(tmp_path / "l", expect_ndim=3)


def test_corrupt_gzip_and_missing(tmp_path):
    (tmp_path / "c.gz").write_bytes(b"not gzip at all")
    with pytest.raises(WeakganError, match=r"c\.gz: cannot read"):
        read_idx(tmp_path / "c.gz")
    with pytest.raises(WeakganError, match="not found"):
        read_idx(tmp_path / "missing.gz")
