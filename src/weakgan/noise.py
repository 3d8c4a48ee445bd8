"""Clean/noisy splits of a training set and the label-noise models.

A split keeps a seeded, class-stratified clean subset D_c with its true labels; the rest, D_n, gets
labels from a noise model:
  permutation   the paper's: D_n's own targets randomly permuted (independent of the images)
  symmetric:r   with probability r a label moves to one of the other K-1 classes, uniformly
  pairflip:r    with probability r class k becomes class (k+1) mod K (Han et al., Co-teaching)
  none          D_n is unlabelled (noisy label -1)
  given         labels supplied with the data (user datasets)

A split can also hold out a validation set V from the clean images (stratified, seeded): V trains nothing,
is neither in D_c nor in D_n, and is what every choice between settings, epoch budgets and models is made
on, so that the test set is only read to report a finished run.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from weakgan import WeakganError
from weakgan.checkpoint import atomic_write, atomic_write_text

UNLABELLED = -1


@dataclass
class Split:
    clean_idx: np.ndarray      # indices into the training set with trusted labels
    noisy_idx: np.ndarray      # all other training indices
    noisy_labels: np.ndarray   # label given to each noisy_idx entry, -1 = unlabelled
    clean_fraction: float
    noise: str
    seed: int
    n_train: int
    val_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # held-out clean images

    def summary(self, targets: np.ndarray | None = None) -> dict:
        labelled = self.noisy_labels != UNLABELLED
        out = {"clean_fraction": self.clean_fraction, "noise": self.noise, "seed": self.seed,
               "n_train": self.n_train, "n_clean": int(len(self.clean_idx)), "n_noisy": int(len(self.noisy_idx)),
               "n_noisy_labelled": int(labelled.sum()), "n_val": int(len(self.val_idx))}
        if targets is not None and labelled.any():
            t = targets[self.noisy_idx][labelled]
            known = t >= 0
            if known.any():
                out["noisy_label_error_rate"] = float((self.noisy_labels[labelled][known] != t[known]).mean())
        return out

    def save(self, folder: str | Path, targets: np.ndarray | None = None) -> None:
        """split.json, then split.npz, each written whole: a run killed while saving leaves no split.npz (which
        marks a saved split, run.load_or_make_split), so the next attempt makes the split again."""
        folder = Path(folder)
        atomic_write_text(folder / "split.json", json.dumps(self.summary(targets), indent=2) + "\n")

        def write_npz(tmp: str) -> None:
            with open(tmp, "wb") as f:   # a file object: given a path, np.savez would append .npz to it
                np.savez(f, clean_idx=self.clean_idx, noisy_idx=self.noisy_idx, noisy_labels=self.noisy_labels,
                         val_idx=self.val_idx)
        atomic_write(folder / "split.npz", write_npz)

    @classmethod
    def load(cls, folder: str | Path) -> "Split":
        folder = Path(folder)
        try:
            meta = json.loads((folder / "split.json").read_text())
            with np.load(folder / "split.npz", allow_pickle=False) as z:
                arrays = {k: z[k] for k in ("clean_idx", "noisy_idx", "noisy_labels")}
                if "val_idx" in z:   # splits from before the validation set have none
                    arrays["val_idx"] = z["val_idx"]
        except (OSError, KeyError, ValueError) as e:
            raise WeakganError(f"{folder}: cannot load split.json/split.npz ({e})") from None
        return cls(**arrays, clean_fraction=meta["clean_fraction"], noise=meta["noise"], seed=meta["seed"],
                   n_train=meta["n_train"])


def parse_noise(spec: str) -> tuple[str, float]:
    """'symmetric:0.4' -> ('symmetric', 0.4); validates the name and the rate."""
    name, _, rate = spec.partition(":")
    if name in ("permutation", "none", "given"):
        if rate:
            raise WeakganError(f"noise '{spec}': '{name}' takes no rate")
        return name, 1.0 if name == "permutation" else 0.0
    if name in ("symmetric", "pairflip"):
        try:
            r = float(rate)
        except ValueError:
            raise WeakganError(f"noise '{spec}': expected {name}:RATE with RATE in [0, 1]") from None
        if not 0.0 <= r <= 1.0:
            raise WeakganError(f"noise '{spec}': rate must be in [0, 1]")
        return name, r
    raise WeakganError(f"noise '{spec}': expected permutation, symmetric:R, pairflip:R, none or given")


def stratified_clean_indices(targets: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """round(fraction * n_k) indices of every class k, at least one per class."""
    if not 0.0 < fraction <= 1.0:
        raise WeakganError(f"clean fraction {fraction}: expected a value in (0, 1]")
    chosen = []
    for k in np.unique(targets[targets >= 0]):
        members = np.flatnonzero(targets == k)
        n = max(1, int(round(fraction * len(members))))
        chosen.append(rng.choice(members, size=n, replace=False))
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def validation_indices(clean_idx: np.ndarray, labels: np.ndarray, share: float, min_per_class: int,
                       rng: np.random.Generator) -> np.ndarray:
    """Of every class's clean images, max(min_per_class, round(share * n_k)) for validation, but never more
    than a quarter of them (n_k // 4), so that a class with few trusted images keeps most of them to train
    on; a class with fewer than 4 gets none. share 0 = no validation set."""
    if share <= 0:
        return np.zeros(0, dtype=np.int64)
    chosen = []
    for k in np.unique(labels):
        members = clean_idx[labels == k]
        n = min(max(min_per_class, int(round(share * len(members)))), len(members) // 4)
        chosen.append(rng.choice(members, size=n, replace=False))
    return np.sort(np.concatenate(chosen)).astype(np.int64) if chosen else np.zeros(0, dtype=np.int64)


def corrupt(labels: np.ndarray, noise: str, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    name, rate = parse_noise(noise)
    labels = labels.astype(np.int64)
    if name == "permutation":
        return rng.permutation(labels)
    if name == "none":
        return np.full_like(labels, UNLABELLED)
    if name == "given":
        return labels.copy()
    flip = rng.random(len(labels)) < rate
    out = labels.copy()
    if name == "symmetric":
        # shift by 1..K-1 so the new class is uniform over the K-1 other classes
        out[flip] = (labels[flip] + rng.integers(1, num_classes, size=int(flip.sum()))) % num_classes
    else:
        out[flip] = (labels[flip] + 1) % num_classes
    return out


def make_split(targets: np.ndarray, num_classes: int, clean_fraction: float, noise: str, seed: int,
               given_labels: np.ndarray | None = None, given_clean: np.ndarray | None = None,
               val_fraction: float = 0.0, val_min_per_class: int = 0) -> Split:
    """Build the split. With given_clean (user datasets) the clean subset is the user's, not sampled. The
    validation set comes out of the clean subset (validation_indices) with a generator of its own, so the
    clean subset and the noisy labels of a seed are the same with or without one."""
    targets = np.asarray(targets, dtype=np.int64)
    rng = np.random.default_rng(seed)
    if given_clean is not None:
        clean_idx = np.sort(np.asarray(given_clean, dtype=np.int64))
    else:
        clean_idx = stratified_clean_indices(targets, clean_fraction, rng)
    val_idx = validation_indices(clean_idx, targets[clean_idx], val_fraction, val_min_per_class,
                                 np.random.default_rng([seed, 1]))
    is_clean = np.zeros(len(targets), dtype=bool)
    is_clean[clean_idx] = True
    noisy_idx = np.flatnonzero(~is_clean).astype(np.int64)
    clean_idx = np.setdiff1d(clean_idx, val_idx)
    if noise == "given":
        if given_labels is None:
            raise WeakganError("noise 'given' needs a dataset that supplies labels for its training images")
        noisy_labels = np.asarray(given_labels, dtype=np.int64)[noisy_idx]
    else:
        if (targets[noisy_idx] < 0).any() and parse_noise(noise)[0] != "none":
            raise WeakganError(f"noise '{noise}' needs true labels for every non-clean image; use 'given' or 'none'")
        noisy_labels = corrupt(targets[noisy_idx], noise, num_classes, rng)
    frac = (len(clean_idx) + len(val_idx)) / len(targets) if given_clean is not None else clean_fraction
    return Split(clean_idx, noisy_idx, noisy_labels, float(frac), noise, seed, len(targets), val_idx)
