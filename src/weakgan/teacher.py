"""Soft pseudo-labels for the noisy and unlabelled training images, from a teacher run (self-training).

With the paper's permutation noise the noisy labels say nothing about the images, so in Hu et al.'s
model the noisy 9/10 of every batch only regularizes, and the clean net learns from 1/10 of the batch.
Here the clean net also learns from the noisy images, the way Noisy Student (Xie et al., CVPR 2020)
does: a teacher that never read a noisy label (the clean-only run of the same split) predicts every
non-clean training image once, as `weakgan predict` would (averaged over a horizontal flip where the
teacher trained with flips and predicts with tta);
the predictions are aligned to the class prior (distribution alignment, Berthelot et al., ReMixMatch:
confident easy classes must not take over the pseudo-labels), on an image with a noisy label turned into
the posterior given that label (label_posterior: how informative the labels are is estimated, not assumed),
and sharpened with a temperature; the
student's clean net is trained toward them on augmented views with the same sigmoid cross-entropy as the
clean labels (soft targets). The teacher is a finished run folder, loaded through safe loaders only.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from weakgan import WeakganError
from weakgan.data.dataset import Dataset
from weakgan.noise import UNLABELLED, Split

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


def align_and_sharpen(probs: torch.Tensor, prior: torch.Tensor | None, temperature: float) -> torch.Tensor:
    """Distribution alignment to `prior` (None: none), then p^(1/T) renormalized; rows of the result sum to 1."""
    if temperature <= 0:
        raise WeakganError(f"teacher_temperature {temperature}: expected a value > 0")
    p = probs * (prior / probs.mean(0).clamp_min(1e-8)) if prior is not None else probs
    p = p / p.sum(1, keepdim=True)
    p = p.pow(1.0 / temperature)
    return p / p.sum(1, keepdim=True)


def label_posterior(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """p(k | x, y~) proportional to p(k | x) T[k, y~]: the teacher's probabilities given also each image's noisy
    label y~ (UNLABELLED rows are returned as they are). T[k, j] = P(y~ = j | true class k) is estimated from
    the same predictions, as the expected share of class-k images that carry label j (the E-step of Dawid and
    Skene with the teacher as the prior). Labels that say nothing about the image (the paper's permutation
    noise) give rows of T that are all alike, which leaves the probabilities as they are; labels that are
    right more often than not sharpen them toward the label."""
    k = probs.shape[1]
    labelled = labels != UNLABELLED
    if not labelled.any():
        return probs
    p, y = probs[labelled], labels[labelled]
    joint = p.T @ torch.nn.functional.one_hot(y, k).to(p.dtype)      # (K, K): true k, given j
    t = joint / joint.sum(1, keepdim=True).clamp_min(1e-12)
    post = p * t[:, y].T
    out = probs.clone()
    out[labelled] = post / post.sum(1, keepdim=True).clamp_min(1e-12)
    return out


def clean_prior(data: Dataset, split: Split) -> torch.Tensor:
    """Class counts of the split's clean labels (float, K): the class prior predictions are aligned to."""
    return torch.bincount(data.train.targets[torch.as_tensor(split.clean_idx)], minlength=data.train.num_classes).float()


def teacher_targets(run_dir: str | Path, data: Dataset, split: Split, temperature: float,
                    device: torch.device, with_labels: bool = False) -> torch.Tensor:
    """(n_train, K) soft targets on `device`: the teacher's aligned, sharpened predictions on every
    non-clean training image (with_labels: its posterior given each image's noisy label, label_posterior);
    rows of clean images are zero (they have their true labels)."""
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
    if with_labels:   # aligned first (the posterior's prior), sharpened last
        probs = label_posterior(align_and_sharpen(probs.float(), prior / prior.sum(), 1.0),
                                torch.as_tensor(split.noisy_labels, dtype=torch.long))
        out[noisy] = align_and_sharpen(probs, None, temperature)
    else:
        out[noisy] = align_and_sharpen(probs.float(), prior / prior.sum(), temperature)
    return out.to(device)
