"""Measures of a generator: the paper's Fig. 3 grid, GAN-test accuracy and a domain FID.

  class_grid         one row per class of generated images, as PNG (paper Fig. 3).
  gan_test_accuracy  share of G(z, y) that a classifier trained on real images assigns to y (Shmelkov et
                     al. 2018: "GAN-test"); high = the images look like their class to that classifier.
  fid_report         Fréchet distance between real test images and N generated images in the feature space
                     of a FashionMNIST classifier (the input of its last executed Linear layer), with a true
                     matrix square root; and the floor: the same distance between N real training images and
                     the test images (what a perfect generator would get with N samples). Never on pixels.

Images are uint8 (N, C, H, W) throughout; generated ones are quantized to uint8 like a saved PNG, and every
classifier sees images through metrics.predict_logits, i.e. in its own normalization (x/255 - mean)/std.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import scipy.linalg
import torch
import torch.nn as nn

from weakgan import WeakganError
from weakgan.checkpoint import atomic_write
from weakgan.metrics import predict_logits
from weakgan.models.gan import Generator, gan_to_uint8


@torch.no_grad()
def sample_images(generator: Generator, labels: torch.Tensor, seed: int = 0, batch_size: int = 500) -> torch.Tensor:
    """uint8 (N, C, H, W) on the CPU: one generated image per label, reproducible by seed."""
    was_training = generator.training
    generator.eval()
    gen = torch.Generator().manual_seed(seed)
    device = next(generator.parameters()).device
    out = []
    for i in range(0, len(labels), batch_size):
        y = labels[i:i + batch_size].to(device)
        out.append(gan_to_uint8(generator(generator.sample_z(len(y), gen), y)).cpu())
    generator.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.uint8)


def balanced_labels(num_classes: int, n: int) -> torch.Tensor:
    """n labels cycling through the classes (as balanced as n allows)."""
    return torch.arange(n) % num_classes


def image_grid(images: torch.Tensor, cols: int = 8, pad: int = 2) -> np.ndarray:
    """uint8 (N, C, H, W) -> one uint8 (H', W') or (H', W', 3) array, images row by row on black."""
    n, c, h, w = images.shape
    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    grid = np.zeros((c, rows * (h + pad) + pad, cols * (w + pad) + pad), dtype=np.uint8)
    for i, img in enumerate(images.numpy()):
        r, q = divmod(i, cols)
        grid[:, pad + r * (h + pad):pad + r * (h + pad) + h, pad + q * (w + pad):pad + q * (w + pad) + w] = img
    return grid[0] if c == 1 else np.transpose(grid[:3], (1, 2, 0))


def write_png(array: np.ndarray, path: str | Path) -> None:
    from PIL import Image
    atomic_write(path, lambda tmp: Image.fromarray(array).save(tmp, format="PNG"))


def class_grid(generator: Generator, class_names: list[str], path: str | Path, per_class: int = 10,
               seed: int = 0) -> None:
    """The paper's Fig. 3: one row of `per_class` generated images per class, class names on the left."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    k = len(class_names)
    images = sample_images(generator, torch.arange(k).repeat_interleave(per_class), seed)
    rows = [image_grid(images[c * per_class:(c + 1) * per_class], cols=per_class, pad=1) for c in range(k)]
    row_h, gap, label_w = 0.6, 0.05, 1.3                     # inches
    row_w = row_h * rows[0].shape[1] / rows[0].shape[0]      # keeps the pixels square
    fig_w, fig_h = label_w + row_w + 0.1, k * (row_h + gap) + gap
    fig = plt.figure(figsize=(fig_w, fig_h))
    for c, row in enumerate(rows):
        bottom = fig_h - (c + 1) * (row_h + gap)
        ax = fig.add_axes((label_w / fig_w, bottom / fig_h, row_w / fig_w, row_h / fig_h))
        ax.imshow(row, cmap="gray" if row.ndim == 2 else None, vmin=0, vmax=255, aspect="auto",
                  interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(class_names[c], rotation=0, ha="right", va="center", fontsize=8)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)


def gan_test_accuracy(classifier: nn.Module, mean: float, std: float, generator: Generator, n_per_class: int,
                      device: torch.device, seed: int = 0, batch_size: int = 1000) -> dict:
    """{'accuracy': share of G(z, y) classified as y, 'per_class': [...], 'n': count}."""
    k = generator.num_classes
    labels = torch.arange(k).repeat_interleave(n_per_class)
    images = sample_images(generator, labels, seed)
    pred = predict_logits(classifier, images, mean, std, device, batch_size).argmax(1)
    hit = (pred == labels).float()
    return {"accuracy": float(hit.mean()), "per_class": [float(hit[labels == c].mean()) for c in range(k)],
            "n": len(labels)}


@torch.no_grad()
def penultimate_features(model: nn.Module, images: torch.Tensor, mean: float, std: float, device: torch.device,
                         batch_size: int = 1000) -> np.ndarray:
    """(N, F) float64: the input of the last nn.Linear that model's forward executes (its penultimate layer)."""
    seen: dict[str, torch.Tensor] = {}

    def grab(module, inputs):
        seen["x"] = inputs[0].detach()

    hooks = [m.register_forward_pre_hook(grab) for m in model.modules() if isinstance(m, nn.Linear)]
    if not hooks:
        raise WeakganError("feature model has no nn.Linear layer to take penultimate features from")
    feats = []
    try:
        for i in range(0, len(images), batch_size):
            seen.clear()
            predict_logits(model, images[i:i + batch_size], mean, std, device, batch_size)
            feats.append(seen["x"].flatten(1).double().cpu())
    finally:
        for h in hooks:
            h.remove()
    return torch.cat(feats).numpy()


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    features = np.asarray(features, dtype=np.float64)
    if len(features) < 2:
        raise WeakganError("Fréchet distance needs at least 2 samples per set")
    return features.mean(0), np.cov(features, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)), with scipy's matrix square root.

    A singular product (scipy warns) is retried with eps on both diagonals (dead feature units make
    covariances singular); a numerically complex root keeps its real part when the imaginary part is
    negligible (relative 1e-3), otherwise this raises.
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    s1, s2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", scipy.linalg.LinAlgWarning)   # singular: retry with the offset
            root = scipy.linalg.sqrtm(s1 @ s2)
        if not np.isfinite(root).all():
            raise scipy.linalg.LinAlgWarning("non-finite square root")
    except (scipy.linalg.LinAlgWarning, np.linalg.LinAlgError):
        offset = np.eye(len(s1)) * eps
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
            root = scipy.linalg.sqrtm((s1 + offset) @ (s2 + offset))
    if np.iscomplexobj(root):
        scale = max(1.0, float(np.abs(root).max()))
        if np.abs(root.imag).max() > 1e-3 * scale:
            raise WeakganError(f"Fréchet distance: matrix square root has a large imaginary part "
                               f"({np.abs(root.imag).max():.3g})")
        root = root.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(root))


def fid_report(feature_model: nn.Module, mean: float, std: float, generator: Generator, train_images: torch.Tensor,
               test_images: torch.Tensor, n: int, device: torch.device, seed: int = 0,
               batch_size: int = 1000) -> dict:
    """Domain FID of n generated images (balanced classes) against the test images, and the floor: n real
    training images (a seeded random subset) against the same test images."""
    k = generator.num_classes
    n = min(n, len(train_images))

    def stats(images):
        return gaussian_stats(penultimate_features(feature_model, images, mean, std, device, batch_size))

    test = stats(test_images)
    fake = stats(sample_images(generator, balanced_labels(k, n), seed))
    pick = torch.randperm(len(train_images), generator=torch.Generator().manual_seed(seed))[:n]
    real = stats(train_images[pick])
    return {"fid": frechet_distance(*fake, *test), "floor": frechet_distance(*real, *test), "n": n,
            "n_test": len(test_images)}
