"""Figures: the paper's Fig. 5 (test images with true label and top-3 predictions)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from weakgan.checkpoint import atomic_write  # noqa: E402


def _show(ax, image: np.ndarray) -> None:
    """image: uint8 (C, H, W)."""
    if image.shape[0] == 1:
        ax.imshow(image[0], cmap="gray", vmin=0, vmax=255)
    else:
        ax.imshow(np.transpose(image[:3], (1, 2, 0)))
    ax.set_xticks([])
    ax.set_yticks([])


def top_k_figure(images: np.ndarray, probs: np.ndarray, class_names: list[str], path: str | Path,
                 true_labels: np.ndarray | None = None, k: int = 3, cols: int = 4,
                 titles: list[str] | None = None) -> None:
    """One panel per image: the image, its true label (if known) and the top-k classes with probabilities."""
    n = len(images)
    rows = max(1, int(np.ceil(n / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.axis("off")
            continue
        _show(ax, images[i])
        top = np.argsort(-probs[i])[:k]
        head = titles[i] if titles else ""
        if true_labels is not None and true_labels[i] >= 0:
            ok = "ok" if top[0] == true_labels[i] else "WRONG"
            head = f"true: {class_names[true_labels[i]]} ({ok})"
        lines = [f"{class_names[c]}: {probs[i, c]:.2f}" for c in top]
        ax.set_title(head, fontsize=9)
        ax.set_xlabel("\n".join(lines), fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=90, format="png"))
    plt.close(fig)
