"""Which given training labels are probably wrong, from a finished run.

Every noisy (D_n) training image is scored by the clean net's probability of its given label, the
"self-confidence" label quality of Northcutt et al. (cleanlab); the lowest come first. Unlabelled
images follow, ordered by the confidence of the label the clean net suggests for them.

Writes to the run folder:
  label_issues.csv   the ranking; a '#' comment line first says where the probabilities come from
  pred_probs.npy     float32 (N_train, K) clean-net probabilities, rows sum to 1, training-set order
  given_labels.npy   int64 (N_train,) the label each training image was trained with, -1 = none;
                     with pred_probs, the input of cleanlab.filter.find_label_issues
  label_issues.json  counts, and when the true labels of the noisy images are known (synthetic noise),
                     precision/recall of the top-N ranked images against the true label flips
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from weakgan import WeakganError
from weakgan.checkpoint import atomic_write, atomic_write_text, check_writable
from weakgan.data import load_dataset
from weakgan.metrics import average_precision
from weakgan.noise import UNLABELLED, Split
from weakgan.run_folder import load_trained_classifier
from weakgan.runtime import set_threads
from weakgan.recipes import uses_teacher

# Where the probabilities come from, per model; the CSV's comment line and label_issues.json say it.
PROVENANCE = {
    "clean-only": "probabilities from the clean net, trained on the clean images only: out of sample for "
                  "every noisy and unlabelled image (in sample for the clean ones)",
    "nr": "probabilities from the clean net c, which never trained on a noisy label as its own target "
          "(noisy labels were fitted by sigmoid(c + r); the residual net r absorbs their noise): out of "
          "sample w.r.t. the noisy labels, though their loss did update c and the shared backbone "
          "indirectly; in sample for the clean images",
    "nr-match": "probabilities from the clean net c of an nr model that also trained toward its own confident "
                "predictions on strongly augmented views of the noisy and unlabelled images (consistency): "
                "approximately out of sample w.r.t. the noisy labels, as nr; in sample for the clean images",
    "naive": "IN SAMPLE: this classifier trained on the noisy labels themselves and tends to agree with "
             "labels it memorized; a clean-only or nr run gives fairer scores",
}


def save_npy(path: Path, array: np.ndarray) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:  # a file object: np.save would append .npy to the temporary name
            np.save(f, array)
    atomic_write(path, write)


def given_labels(split: Split, targets: np.ndarray) -> np.ndarray:
    """The label each training image was trained with: true label if clean, noisy label otherwise."""
    labels = np.full(split.n_train, UNLABELLED, dtype=np.int64)
    labels[split.noisy_idx] = split.noisy_labels
    labels[split.clean_idx] = targets[split.clean_idx]
    return labels


def rank_candidates(probs: np.ndarray, labels: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Candidates in report order: labelled by ascending probability of their label (ties: most confident
    other class first), then unlabelled by descending confidence of the suggested label."""
    candidates = np.asarray(candidates, dtype=np.int64)
    labelled = candidates[labels[candidates] != UNLABELLED]
    unlabelled = candidates[labels[candidates] == UNLABELLED]
    quality = probs[labelled, labels[labelled]]
    confidence = probs.max(1)
    first = labelled[np.lexsort((-confidence[labelled], quality))]
    return np.concatenate([first, unlabelled[np.argsort(-confidence[unlabelled], kind="stable")]])


def flip_precision_recall(ranked: np.ndarray, flipped: np.ndarray, n: int) -> dict:
    """Precision and recall of the first n ranked (labelled) images as a detector of true label flips.

    ranked: training indices in rank order; flipped: boolean over the training set, True where the
    given label differs from the true one.
    """
    n = int(min(n, len(ranked)))
    hits = int(flipped[ranked[:n]].sum())
    total = int(flipped.sum())
    return {"n": n, "precision": hits / n if n else None, "recall": hits / total if total else None}


def issues_csv(order: np.ndarray, probs: np.ndarray, labels: np.ndarray, targets: np.ndarray,
               ids: list[str], class_names: list[str], note: str) -> str:
    buf = io.StringIO()
    buf.write(f"# {note}\n")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["rank", "path_or_index", "given_label", "suggested_label", "confidence", "label_quality",
                     "flagged", "true_label"])
    for rank, i in enumerate(order, 1):
        suggested, given = int(probs[i].argmax()), int(labels[i])
        labelled = given != UNLABELLED
        writer.writerow([rank, ids[i] if ids else i, class_names[given] if labelled else "",
                         class_names[suggested], f"{probs[i, suggested]:.6f}",
                         f"{probs[i, given]:.6f}" if labelled else "",
                         int(suggested != given) if labelled else "",
                         class_names[targets[i]] if targets[i] >= 0 else ""])
    return buf.getvalue()


def find_label_issues(run_dir: str | Path, top: int = 0, device: str = "auto") -> dict:
    """Rank a run's noisy/unlabelled training images; write the files listed in the module doc."""
    if top < 0:
        raise WeakganError(f"--top {top}: expected a number of rows, or 0 for all")
    run_dir = Path(run_dir)
    for name in ("pred_probs.npy", "given_labels.npy", "label_issues.csv", "label_issues.json"):
        check_writable(run_dir / name)   # a read-only run folder is refused before the work, not after
    clf = load_trained_classifier(run_dir, device)
    set_threads(clf.cfg.threads)
    data = load_dataset(clf.cfg.dataset, clf.cfg.data_dir, False, cfg=clf.cfg)
    split = Split.load(run_dir)
    targets = data.train.targets.numpy()
    labels = given_labels(split, targets)
    probs = clf.probabilities(data.train.images).astype(np.float32)
    probs /= probs.sum(1, keepdims=True)  # exactly normalized in float32, as cleanlab checks
    save_npy(run_dir / "pred_probs.npy", probs)
    save_npy(run_dir / "given_labels.npy", labels)

    order = rank_candidates(probs, labels, split.noisy_idx)
    labelled = order[labels[order] != UNLABELLED]
    flagged = labelled[probs[labelled].argmax(1) != labels[labelled]]
    note = PROVENANCE.get(clf.cfg.model, f"probabilities from the clean net of model '{clf.cfg.model}'")
    if uses_teacher(clf.cfg):
        note += ("; the clean net also trained toward a clean-only teacher's soft predictions on the noisy "
                 "images (teacher_run), which never saw a noisy label")
    shown = order[:top] if top else order
    atomic_write_text(run_dir / "label_issues.csv",
                      issues_csv(shown, probs, labels, targets, data.train.ids, data.class_names, note))

    summary = {"model": clf.cfg.model, "noise": split.noise, "probabilities": note, "n_train": split.n_train,
               "n_noisy_labelled": int(len(labelled)), "n_unlabelled": int(len(order) - len(labelled)),
               "n_flagged": int(len(flagged)), "rows_written": int(len(shown))}
    if len(labelled) and (targets[labelled] >= 0).all():
        # synthetic noise: the true labels are known, so the ranking can be scored
        flipped = np.zeros(split.n_train, dtype=bool)
        flipped[labelled] = labels[labelled] != targets[labelled]
        n_flips = int(flipped.sum())
        summary["n_true_flips"] = n_flips
        summary["at_n_true_flips"] = flip_precision_recall(labelled, flipped, n_flips)
        if top:
            summary["at_top"] = flip_precision_recall(labelled, flipped, top)
        summary["flagged_vs_flips"] = flip_precision_recall(flagged, flipped, len(flagged))
        ap = average_precision(-probs[labelled, labels[labelled]], flipped[labelled])
        summary["flip_average_precision"] = None if np.isnan(ap) else ap
    atomic_write_text(run_dir / "label_issues.json", json.dumps(summary, indent=2) + "\n")
    return summary
