"""Soft pseudo-labels for the noisy and unlabelled training images, from a teacher run (self-training).

With the paper's permutation noise the noisy labels say nothing about the images, so in Hu et al.'s
model the noisy 9/10 of every batch only regularizes, and the clean net learns from 1/10 of the batch.
Here the clean net also learns from the noisy images, the way Noisy Student (Xie et al., CVPR 2020)
does: a teacher that never read a noisy label (the clean-only run of the same split) predicts every
non-clean training image once, as `weakgan predict` would (averaged over a horizontal flip where the
teacher trained with flips and predicts with tta);
the predictions are aligned to the class prior (distribution alignment, Berthelot et al., ReMixMatch:
confident easy classes must not take over the pseudo-labels) and sharpened with a temperature; the
student's clean net is trained toward them on augmented views with the same sigmoid cross-entropy as the
clean labels (soft targets). The teacher is a finished run folder, loaded through safe loaders only.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from weakgan import WeakganError
from weakgan.data.dataset import Dataset
from weakgan.noise import Split

def require_same_clean_split(run_dir: str | Path, split: Split, why: str) -> None:
    """A run whose predictions feed this one must have used exactly this clean subset: otherwise its
    clean labels would leak into this split's noisy set."""
    run_dir = Path(run_dir)
    if not (run_dir / "split.npz").is_file():
        raise WeakganError(f"{run_dir}: no split.npz; cannot check that it was trained on this clean split")
    theirs = Split.load(run_dir)
    if not np.array_equal(np.sort(theirs.clean_idx), np.sort(split.clean_idx)):
        raise WeakganError(f"{run_dir}: trained on another clean split ({why}); train it with the same "
                           "clean_fraction and seed")


def align_and_sharpen(probs: torch.Tensor, prior: torch.Tensor, temperature: float) -> torch.Tensor:
    """Distribution alignment to `prior`, then p^(1/T) renormalized; rows of the result sum to 1."""
    if temperature <= 0:
        raise WeakganError(f"teacher_temperature {temperature}: expected a value > 0")
    p = probs * (prior / probs.mean(0).clamp_min(1e-8))
    p = p / p.sum(1, keepdim=True)
    p = p.pow(1.0 / temperature)
    return p / p.sum(1, keepdim=True)


def clean_prior(data: Dataset, split: Split) -> torch.Tensor:
    """Class counts of the split's clean labels (float, K): the class prior predictions are aligned to."""
    return torch.bincount(data.train.targets[torch.as_tensor(split.clean_idx)], minlength=data.train.num_classes).float()


def teacher_targets(run_dir: str | Path, data: Dataset, split: Split, temperature: float,
                    device: torch.device) -> torch.Tensor:
    """(n_train, K) soft targets on `device`: the teacher's aligned, sharpened predictions on every
    non-clean training image; rows of clean images are zero (they have their true labels)."""
    from weakgan.run_folder import load_trained_classifier
    if not str(run_dir):
        raise WeakganError("teacher_weight > 0 needs teacher_run: a finished classifier run on this split "
                           "(`weakgan train` trains a clean-only one when none is given)")
    require_same_clean_split(run_dir, split, "its clean labels would leak into this split's noisy set")
    teacher = load_trained_classifier(run_dir, str(device))
    if teacher.class_names != data.class_names or teacher.input_shape != data.train.shape:
        raise WeakganError(f"{run_dir}: teacher's classes or image shape differ from this dataset")
    noisy = torch.as_tensor(split.noisy_idx, dtype=torch.long)
    images = data.train.images[noisy]
    # what `weakgan predict` gives with the teacher run: the mean over each image and its mirror image where
    # that run trained with flips and predicts with tta (the default)
    probs = torch.from_numpy(teacher.probabilities(images))
    k = data.train.num_classes
    prior = clean_prior(data, split)
    out = torch.zeros(split.n_train, k)
    out[noisy] = align_and_sharpen(probs.float(), prior / prior.sum(), temperature)
    return out.to(device)
