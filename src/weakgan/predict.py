"""`weakgan predict`: class probabilities for new images from a finished run's clean classifier
(run_folder.py rebuilds it from the run folder alone), or from an ensemble folder's members (ensemble.py)."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from weakgan import WeakganError
from weakgan.checkpoint import atomic_write_text, check_writable
from weakgan.imageio import is_image_file, read_images
from weakgan.ensemble import load_classifier
from weakgan.runtime import set_threads

MAX_PRINTED = 20      # lines of predictions printed; the CSV has them all
MAX_FIGURE = 32       # panels in --figure


def find_images(target: str | Path) -> list[Path]:
    """The image itself, or every PNG/JPEG under a folder (recursively, sorted)."""
    target = Path(target)
    if target.is_file():
        return [target]
    if target.is_dir():
        found = sorted(p for p in target.rglob("*") if p.is_file() and is_image_file(p))
        if not found:
            raise WeakganError(f"{target}: no .png/.jpg/.jpeg images in this folder")
        return found
    raise WeakganError(f"{target}: no such image or folder")


def predictions_csv(names: list[str], probs: np.ndarray, class_names: list[str], top_k: int) -> str:
    """path, top-k (class, probability) pairs, then the probability of every class."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    ranks = [f"top{r}" for r in range(1, top_k + 1)]
    writer.writerow(["path", *[c for r in ranks for c in (r, f"{r}_prob")], *[f"prob:{c}" for c in class_names]])
    for name, p in zip(names, probs):
        top = np.argsort(-p, kind="stable")[:top_k]
        writer.writerow([name, *[v for k in top for v in (class_names[k], f"{p[k]:.6f}")],
                         *[f"{v:.6f}" for v in p]])
    return buf.getvalue()


def predict(run_dir: str | Path, target: str | Path, top_k: int = 3, out: str | Path | None = "predictions.csv",
            figure: str | Path | None = None, device: str = "auto", log=print) -> np.ndarray:
    """Probabilities (N, K) for the images at `target`; printed, written to `out` and drawn in `figure`."""
    for path in (out, figure):
        if path:
            check_writable(path)
    clf = load_classifier(run_dir, device)
    set_threads(clf.cfg.threads)
    top_k = max(1, min(top_k, len(clf.class_names)))
    paths = find_images(target)
    names = [str(p) for p in paths]
    channels, height, width = clf.input_shape
    # the images become what the network saw in training: same channels, size and normalization
    images = read_images(paths, names, channels, height, width)
    probs = clf.probabilities(images)
    for name, p in list(zip(names, probs))[:MAX_PRINTED]:
        top = np.argsort(-p, kind="stable")[:top_k]
        log(f"{name}: " + ", ".join(f"{clf.class_names[k]} {p[k]:.3f}" for k in top))
    if len(names) > MAX_PRINTED:
        log(f"... {len(names) - MAX_PRINTED} more" + (f" in {out}" if out else ""))
    if out:
        atomic_write_text(out, predictions_csv(names, probs, clf.class_names, top_k))
        log(f"{len(names)} predictions -> {out}")
    if figure:
        from weakgan.figures import top_k_figure
        shown = slice(0, MAX_FIGURE)
        top_k_figure(images[shown].numpy(), probs[shown], clf.class_names, figure, k=top_k,
                     titles=[Path(n).name[-28:] for n in names[shown]])
        log(f"figure of {min(len(names), MAX_FIGURE)} images -> {figure}")
    return probs
