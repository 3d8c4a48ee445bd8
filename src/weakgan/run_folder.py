"""A finished run folder, read in one place: its settings, and its clean classifier rebuilt from the folder alone.

The classifier is backbone + clean head from model.safetensors (layer widths and input channels read off the
weights; other heads, such as NR's residual net, are left out), class names from classes.json, input
normalization and image shape from metrics.json (runs whose metrics.json lacks either load their dataset once).
Only safe loaders are used (safetensors, JSON, YAML); nothing here changes the process's thread count, which is
the caller's to set.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from weakgan import WeakganError
from weakgan.checkpoint import load_weights, read_json
from weakgan.config import Config, read_config
from weakgan.metrics import predict_probs
from weakgan.models.backbone import backbone_of, make_backbone
from weakgan.models.heads import HEAD_SCORE, Classifier, MLPHead
from weakgan.runtime import pick_device


@dataclass
class TrainedClassifier:
    model: Classifier                      # backbone + clean head, eval mode, on `device`
    cfg: Config                            # the run's config.yaml
    class_names: list[str]
    mean: float                            # normalization of [0, 1] pixels: (x - mean) / std
    std: float
    input_shape: tuple[int, int, int]      # (C, H, W) of the training images
    device: torch.device
    score: str = HEAD_SCORE                # how the heads were trained (sigmoid -> renormalized sigmoid)

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
    """The settings of a finished run; refuses a folder that is not one."""
    if (run_dir / "ensemble.json").is_file():
        raise WeakganError(f"{run_dir}: an ensemble folder has no weights of its own; use one of the runs its "
                           "ensemble.json names (`weakgan predict` reads the ensemble itself)")
    if not (run_dir / "config.yaml").is_file() or not (run_dir / "model.safetensors").is_file():
        raise WeakganError(f"{run_dir}: not a finished run folder (needs config.yaml and model.safetensors)")
    return read_config(run_dir / "config.yaml")


def load_trained_classifier(run_dir: str | Path, device: str = "auto") -> TrainedClassifier:
    run_dir = Path(run_dir)
    cfg = read_run_config(run_dir)
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
        from weakgan.data.batcher import normalization
        train = load_dataset(cfg.dataset, cfg.data_dir, False, cfg=cfg).train
        (mean, std), shape = metrics.get("normalization") or normalization(train.images), train.shape
    channels = model.backbone.conv1.weight.shape[1]
    if shape[0] != channels or len(class_names) != model.clean_head.net[-1].out_features:
        raise WeakganError(f"{run_dir}: classes.json/metrics.json do not match model.safetensors")
    return TrainedClassifier(model, cfg, class_names, float(mean), float(std), tuple(int(s) for s in shape), dev)
