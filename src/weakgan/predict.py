"""Class probabilities for new images from a finished run's clean classifier.

The classifier is rebuilt from the run folder alone: backbone and clean head from model.safetensors
(layer widths and input channels read off the weights; other heads, such as NR's residual net, are
left out), class names from classes.json, input normalization and image shape from metrics.json.
Runs whose metrics.json lacks either fall back to loading the run's dataset once.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from weakgan import WeakganError
from weakgan.checkpoint import atomic_write_text, check_writable, load_weights, read_json
from weakgan.config import Config, read_config
from weakgan.imageio import is_image_file, read_images
from weakgan.metrics import predict_probs
from weakgan.models.backbone import backbone_of, make_backbone
from weakgan.models.heads import Classifier, MLPHead
from weakgan.runtime import pick_device, set_threads
from weakgan.stages.classifier import ClassifierStage, normalization

MAX_PRINTED = 20      # lines of predictions printed; the CSV has them all
MAX_FIGURE = 32       # panels in --figure


@dataclass
class TrainedClassifier:
    model: Classifier                      # backbone + clean head, eval mode, on `device`
    cfg: Config                            # the run's config.yaml
    class_names: list[str]
    mean: float                            # normalization of [0, 1] pixels: (x - mean) / std
    std: float
    input_shape: tuple[int, int, int]      # (C, H, W) of the training images
    device: torch.device
    score: str = ClassifierStage.score     # how the heads were trained (sigmoid -> renormalized sigmoid)

    def probabilities(self, images: torch.Tensor, flip: bool | None = None) -> np.ndarray:
        """uint8 (N, C, H, W) images of input_shape -> (N, K) class probabilities, rows summing to 1;
        averaged with the mirror images' when flip is True (None: when the run evaluates that way, tta)."""
        flip = self.cfg.tta and self.cfg.mirrored() if flip is None else flip
        return predict_probs(self.model, images, self.score, self.mean, self.std, self.device,
                             self.cfg.eval_batch_size, self.cfg.channels_last, flip=flip).numpy()


def clean_classifier_from_weights(state: dict[str, torch.Tensor], stem: str) -> Classifier:
    """Backbone + clean head with the shapes the saved weights have."""
    if "backbone.conv1.weight" not in state:
        raise WeakganError("model weights have no backbone.conv1.weight; not a weakgan classifier")
    channels = state["backbone.conv1.weight"].shape[1]
    linear = sorted((int(m.group(1)), v) for k, v in state.items()
                    if (m := re.fullmatch(r"clean_head\.net\.(\d+)\.weight", k)))
    widths = (linear[0][1].shape[1], *(w.shape[0] for _, w in linear))
    name, width = backbone_of(state)
    model = Classifier(make_backbone(name, channels, stem, width), MLPHead(widths))
    model.load_state_dict({k: v for k, v in state.items() if k.startswith(("backbone.", "clean_head."))})
    return model.eval()


def read_run_config(run_dir: Path) -> Config:
    if not (run_dir / "config.yaml").is_file() or not (run_dir / "model.safetensors").is_file():
        raise WeakganError(f"{run_dir}: not a finished run folder (needs config.yaml and model.safetensors)")
    return read_config(run_dir / "config.yaml")


def load_trained_classifier(run_dir: str | Path, device: str = "auto") -> TrainedClassifier:
    run_dir = Path(run_dir)
    cfg = read_run_config(run_dir)
    set_threads(cfg.threads)
    dev = pick_device(device)
    state = load_weights(run_dir / "model.safetensors")
    if "backbone.conv1.weight" not in state:
        raise WeakganError(f"{run_dir}: a '{cfg.model}' run has no clean classifier (backbone + clean head) to "
                           f"read; use a clean-only, naive or nr run")
    model = clean_classifier_from_weights(state, cfg.stem).to(dev)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    class_names = read_json(run_dir / "classes.json")
    if not isinstance(class_names, list) or not all(isinstance(c, str) for c in class_names):
        raise WeakganError(f"{run_dir / 'classes.json'}: expected a list of class names")
    metrics_path = run_dir / "metrics.json"
    metrics = read_json(metrics_path) if metrics_path.is_file() else {}
    if "normalization" in metrics and "input_shape" in metrics:
        (mean, std), shape = metrics["normalization"], tuple(metrics["input_shape"])
    else:
        from weakgan.data import load_dataset
        train = load_dataset(cfg.dataset, cfg.data_dir, False, cfg=cfg).train
        (mean, std), shape = metrics.get("normalization") or normalization(train.images), train.shape
    channels = model.backbone.conv1.weight.shape[1]
    if shape[0] != channels or len(class_names) != model.clean_head.net[-1].out_features:
        raise WeakganError(f"{run_dir}: classes.json/metrics.json do not match model.safetensors")
    return TrainedClassifier(model, cfg, class_names, float(mean), float(std), tuple(int(s) for s in shape), dev)


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
    clf = load_trained_classifier(run_dir, device)
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
