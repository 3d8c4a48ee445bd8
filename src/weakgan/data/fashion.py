"""Locating and loading FashionMNIST from its four IDX files."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from weakgan import WeakganError
from weakgan.data.dataset import Dataset, ImageSet
from weakgan.data.idx import read_idx

CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
         "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}


def _find_file(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx")):
        if (folder / name).is_file():
            return folder / name
    return None


def _has_all(folder: Path) -> bool:
    return all(_find_file(folder, s) for s in FILES.values())


def locate(data_dir: str | None = None, download: bool = False) -> Path:
    """Find the folder holding the IDX files: --data-dir, $WEAKGAN_DATA, the Debian path, then a download."""
    if data_dir:
        folder = Path(data_dir)
        for cand in (folder, folder / "FashionMNIST" / "raw"):
            if _has_all(cand):
                return cand
        if not download:
            raise WeakganError(f"{folder}: no FashionMNIST IDX files (expected {', '.join(FILES.values())}[.gz])")
    else:
        for cand in (os.environ.get("WEAKGAN_DATA"), DEBIAN_DIR):
            if cand and _has_all(Path(cand)):
                return Path(cand)
        if not download:
            raise WeakganError(
                "FashionMNIST not found: pass --data-dir, set WEAKGAN_DATA, install the Debian package "
                f"dataset-fashion-mnist ({DEBIAN_DIR}), or add --download")
        folder = Path(os.environ.get("WEAKGAN_DATA") or "data")
    # Only reached with an explicit --download.
    import torchvision
    torchvision.datasets.FashionMNIST(str(folder), train=True, download=True)
    torchvision.datasets.FashionMNIST(str(folder), train=False, download=True)
    return folder / "FashionMNIST" / "raw"


def _load_split(folder: Path, images_stem: str, labels_stem: str) -> ImageSet:
    img_path, lab_path = _find_file(folder, images_stem), _find_file(folder, labels_stem)
    images = read_idx(img_path, expect_ndim=3)
    labels = read_idx(lab_path, expect_ndim=1)
    if len(images) != len(labels):
        raise WeakganError(f"{lab_path}: {len(labels)} labels for {len(images)} images in {img_path}")
    if labels.size and labels.max() >= len(CLASS_NAMES):
        raise WeakganError(f"{lab_path}: label {labels.max()} out of range 0..{len(CLASS_NAMES) - 1}")
    return ImageSet(torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels).long(), list(CLASS_NAMES))


def load_fashion_mnist(data_dir: str | None = None, download: bool = False) -> Dataset:
    folder = locate(data_dir, download)
    train = _load_split(folder, FILES["train_images"], FILES["train_labels"])
    test = _load_split(folder, FILES["test_images"], FILES["test_labels"])
    if train.shape != test.shape:
        raise WeakganError(f"{folder}: train images are {train.shape}, test images {test.shape}")
    return Dataset("fashion-mnist", train, test)
