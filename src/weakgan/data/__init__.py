"""Dataset loading: every source ends as a Dataset of uint8 image tensors (data/dataset.py)."""
from __future__ import annotations

from weakgan import WeakganError
from weakgan.data.dataset import Dataset, ImageSet  # noqa: F401


def load_dataset(name: str, data_dir: str = "", download: bool = False, cfg=None) -> Dataset:
    """fashion-mnist, folder:ROOT (data/folder.py) or manifest:CSV (data/manifest.py).

    cfg carries the user-data settings (channels, image_size, test_fraction, test_manifest); without
    it they take their defaults.
    """
    if name == "fashion-mnist":
        from weakgan.data.fashion import load_fashion_mnist
        return load_fashion_mnist(data_dir or None, download)
    kind, _, path = name.partition(":")
    if kind in ("folder", "manifest"):
        from weakgan.data.folder import load_folder
        from weakgan.data.manifest import UserDataOptions, load_manifest
        load = load_folder if kind == "folder" else load_manifest
        return load(path, UserDataOptions.from_config(cfg))
    raise WeakganError(f"dataset '{name}': expected fashion-mnist, folder:PATH or manifest:PATH")
