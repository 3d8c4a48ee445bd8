"""Dataset loading: every source ends as a Dataset of uint8 image tensors (data/dataset.py)."""
from __future__ import annotations

from weakgan import WeakganError
from weakgan.data.dataset import Dataset, ImageSet  # noqa: F401


def load_dataset(name: str, data_dir: str = "", download: bool = False) -> Dataset:
    if name == "fashion-mnist":
        from weakgan.data.fashion import load_fashion_mnist
        return load_fashion_mnist(data_dir or None, download)
    raise WeakganError(f"dataset '{name}': expected fashion-mnist")
