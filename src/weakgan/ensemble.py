"""The average of a split's finished runs, its members chosen on the split's validation images.

Why: the models of one split (clean-only, nr, nr-fixmatch, ...) learn from the same clean labels in different
ways and make partly different mistakes, so the mean of their class probabilities can beat each of them at no
training cost (benchmarks/results/ensemble.md measured it on finished runs before this module existed).

How the members are chosen: ensemble selection (Caruana et al., ICML 2004) without replacement: start from the
run with the best validation top-1, then add the run that raises the average's validation top-1 most, while one
strictly does; equal weights. Only validation images are read for the choice; the test set is read once, after
it.

How it is ranked against the single models (`reproduce`'s pick): not on the images its members were chosen on,
where its figure carries the optimism of its own selection (a member that fixes a few validation images by chance
joins and then looks like a gain), but cross-fitted: the validation images are split in two halves, class by
class; members are chosen on one half and scored on the other, both ways, and `val_top1` is the share right over
both held-out halves. It estimates what choosing members on validation is worth on images the choice did not
see, and is if anything pessimistic (each choice sees half the images), so a tie still goes to the single model
(report.chosen_models). The members used are those chosen on all validation images; their own figure there is
kept as `val_top1_selected`.

An ensemble is a run folder like the others (runs/ensemble_p<fraction>_<noise>_s<seed>/metrics.json, read by
`weakgan report` and results.csv) that holds no weights: ensemble.json names its member run folders.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from weakgan import WeakganError
from weakgan.checkpoint import atomic_write_text, read_json
from weakgan.config import Config
from weakgan.data.dataset import Dataset
from weakgan.metrics import classification_metrics
from weakgan.noise import Split
from weakgan.run_folder import TrainedClassifier, load_trained_classifier
from weakgan.runtime import describe, pick_device, provenance

ENSEMBLE = "ensemble"
# written into ensemble.json: an ensemble built under another rule is stale and is built anew
RANKING = "cross-fitted validation halves"


def accuracy(probs: np.ndarray, targets: np.ndarray) -> float:
    return float((probs.argmax(1) == targets).mean())


def select_members(val_probs: dict[str, np.ndarray], targets: np.ndarray) -> list[str]:
    """Greedy forward selection on validation (module docstring); ties go to the run listed first."""
    if not val_probs:
        raise WeakganError("an ensemble needs at least one finished run")
    names = list(val_probs)
    chosen = [max(names, key=lambda m: accuracy(val_probs[m], targets))]
    total = val_probs[chosen[0]].astype(np.float64)
    best = accuracy(total, targets)
    while True:
        gains = [(accuracy(total + val_probs[m], targets), m) for m in names if m not in chosen]
        if not gains:
            return chosen
        acc, pick = max(gains, key=lambda g: g[0])   # max keeps the first of equals
        if acc <= best:
            return chosen
        chosen.append(pick)
        total, best = total + val_probs[pick], acc


def validation_halves(targets: np.ndarray) -> np.ndarray:
    """0 or 1 per validation image, alternating within each class so both halves keep the class balance."""
    half = np.zeros(len(targets), dtype=np.int64)
    for c in np.unique(targets):
        half[np.flatnonzero(targets == c)[1::2]] = 1
    return half


def cross_fitted_accuracy(val_probs: dict[str, np.ndarray], targets: np.ndarray) -> float:
    """The share of validation images the ensemble gets right when its members were chosen on the other half."""
    half, right = validation_halves(targets), 0
    for held in (0, 1):
        fit, test = half != held, half == held
        if not fit.any():   # one image per class: no half to choose on, so no evidence beyond the best run's
            return max(accuracy(p, targets) for p in val_probs.values())
        members = select_members({m: p[fit] for m, p in val_probs.items()}, targets[fit])
        mean = np.mean([val_probs[m][test] for m in members], axis=0)
        right += int((mean.argmax(1) == targets[test]).sum())
    return right / len(targets)


def member_probabilities(runs: dict[str, Path], data: Dataset, device: str = "auto"
                         ) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The labels of the validation images the runs share (refused if they do not: the same clean and validation
    images) and each run's class probabilities on those images and on the test set, predicted as the run
    evaluates (with the mirror images where it trained with flips)."""
    splits = {m: Split.load(p) for m, p in runs.items()}
    first_model, split = next(iter(splits.items()))
    for m, s in splits.items():
        if not (np.array_equal(s.val_idx, split.val_idx) and np.array_equal(s.clean_idx, split.clean_idx)):
            raise WeakganError(f"{runs[m]}: its split differs from {runs[first_model]}'s; runs averaged or "
                               "compared must share one split")
    if len(split.val_idx) == 0:
        raise WeakganError(f"{runs[first_model]}: the split has no validation images to choose members on")
    val_idx = torch.as_tensor(split.val_idx)
    val_probs, test_probs = {}, {}
    for m, folder in runs.items():
        clf = load_trained_classifier(folder, device)
        val_probs[m], test_probs[m] = clf.probabilities(data.train.images[val_idx]), clf.probabilities(data.test.images)
    return data.train.targets[val_idx].numpy(), val_probs, test_probs


def build_ensemble(out: Path, runs: dict[str, Path], data: Dataset, cfg: Config, log=print) -> dict | None:
    """The ensemble of one split's finished runs (model -> run folder, at least two) into `out`; returns its
    metrics, or None when the folder already holds the ensemble of exactly these runs."""
    metrics_path = out / "metrics.json"
    found = {m: read_json(p / "metrics.json") for m, p in runs.items()}
    # member folders relative to the ensemble's, so a report folder can move as a whole; a run trained again
    # (another date in its metrics.json) makes the ensemble stale as a new run does
    runs_used = {m: os.path.relpath(p.resolve(), out.resolve()) for m, p in runs.items()}
    finished = {m: f.get("date") for m, f in found.items()}
    if metrics_path.exists() and (out / "ensemble.json").exists():
        before = read_json(out / "ensemble.json")
        if (before.get("candidates"), before.get("finished"), before.get("ranking")) == (runs_used, finished, RANKING):
            return None
    t0 = time.perf_counter()
    # the test set is read here, used only after the choice
    val_targets, val_probs, test_probs = member_probabilities(runs, data, cfg.device)
    members = select_members(val_probs, val_targets)
    val_mean = np.mean([val_probs[m] for m in members], axis=0)
    test_mean = np.mean([test_probs[m] for m in members], axis=0)
    first = next(iter(found.values()))
    metrics = {
        "model": ENSEMBLE, "clean_fraction": first["clean_fraction"], "noise": first["noise"], "seed": first["seed"],
        **classification_metrics(test_mean, data.test.targets.numpy(), data.class_names),
        "val_top1": cross_fitted_accuracy(val_probs, val_targets), "ranking": RANKING,
        "val_top1_selected": accuracy(val_mean, val_targets), "n_val": len(val_targets),
        "members": members,
        # what a user pays for the ensemble: the training of its members, plus predicting with each
        "train_seconds": sum(float(found[m]["train_seconds"]) for m in members),
        "ensemble_seconds": time.perf_counter() - t0,
        "device": describe(pick_device(cfg.device)), "threads": torch.get_num_threads(),
        "precision": "fp32", "precision_reason": "the members' predictions are made in fp32",
        "candidates": {m: {k: f.get(k) for k in ("val_top1", "top1")} for m, f in found.items()}, **provenance(),
    }
    out.mkdir(parents=True, exist_ok=True)
    # ensemble.json first: a folder with metrics.json is a finished run, and it must name its members
    atomic_write_text(out / "ensemble.json", _json({"members": {m: runs_used[m] for m in members},
                                                      "candidates": runs_used, "finished": finished,
                                                      "ranking": RANKING}))
    atomic_write_text(metrics_path, _json(metrics))
    log(f"{out.name}: members {', '.join(members)}; validation {metrics['val_top1_selected']:.4f} where chosen, "
        f"{metrics['val_top1']:.4f} cross-fitted; test {metrics['top1']:.4f}")
    return metrics


def _json(obj) -> str:
    return json.dumps(obj, indent=2) + "\n"


def ensemble_runs(out: Path, field: str) -> dict[str, Path]:
    """ensemble.json's `members` or `candidates` as {model: run folder}, the folders relative to `out`."""
    record = read_json(out / "ensemble.json")
    runs = record.get(field) if isinstance(record, dict) else None
    if not isinstance(runs, dict) or not runs:
        raise WeakganError(f"{out / 'ensemble.json'}: expected its {field} as {{model: run folder}}")
    return {m: out / rel for m, rel in runs.items()}


class EnsembleClassifier:
    """A finished ensemble folder as `weakgan predict` uses it: the mean of its members' probabilities."""

    def __init__(self, run_dir: Path, device: str = "auto"):
        folders = list(ensemble_runs(run_dir, "members").values())
        self.members: list[TrainedClassifier] = [load_trained_classifier(f, device) for f in folders]
        first = self.members[0]
        for m, folder in zip(self.members[1:], folders[1:]):
            if (m.class_names, m.input_shape) != (first.class_names, first.input_shape):
                raise WeakganError(f"{folder}: its classes or image shape differ from the first member's")
        self.cfg, self.class_names, self.input_shape = first.cfg, first.class_names, first.input_shape

    def probabilities(self, images: torch.Tensor) -> np.ndarray:
        return np.mean([m.probabilities(images) for m in self.members], axis=0)


def load_classifier(run_dir: str | Path, device: str = "auto") -> TrainedClassifier | EnsembleClassifier:
    """A finished run folder's classifier: a trained run's, or an ensemble's (its members')."""
    run_dir = Path(run_dir)
    if (run_dir / "ensemble.json").is_file():
        return EnsembleClassifier(run_dir, device)
    return load_trained_classifier(run_dir, device)
