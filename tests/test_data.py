import numpy as np
import pytest
from conftest import FASHION_DIR, REAL_FASHION, write_fashion_like

from weakgan import WeakganError
from weakgan.data.fashion import CLASS_NAMES, load_fashion_mnist, locate


def test_load_from_data_dir(tiny_fashion):
    d = load_fashion_mnist(str(tiny_fashion))
    assert d.train.images.shape == (400, 1, 28, 28) and d.test.images.shape == (100, 1, 28, 28)
    assert d.train.images.dtype.is_floating_point is False
    assert d.class_names == CLASS_NAMES
    assert np.bincount(d.train.targets.numpy()).tolist() == [40] * 10


def test_env_var_is_used(tmp_path, monkeypatch):
    folder = write_fashion_like(tmp_path / "env", n_train=20, n_test=10)
    monkeypatch.setenv("WEAKGAN_DATA", str(folder))
    assert locate() == folder


def test_missing_folder_is_clear_error(tmp_path):
    with pytest.raises(WeakganError, match=f"{tmp_path}: no FashionMNIST IDX files"):
        locate(str(tmp_path))


def test_label_count_mismatch(tmp_path):
    from weakgan.data.idx import write_idx
    folder = write_fashion_like(tmp_path / "m", n_train=20, n_test=10)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(19, np.uint8))
    with pytest.raises(WeakganError, match="19 labels for 20 images"):
        load_fashion_mnist(str(folder))


@REAL_FASHION
def test_real_fashion_mnist():
    d = load_fashion_mnist(str(FASHION_DIR))
    assert d.train.images.shape == (60000, 1, 28, 28) and d.test.images.shape == (10000, 1, 28, 28)
    assert np.bincount(d.train.targets.numpy()).tolist() == [6000] * 10
    assert np.bincount(d.test.targets.numpy()).tolist() == [1000] * 10
    assert 60 < d.train.images.float().mean() < 80  # FashionMNIST mean pixel is about 72.9
