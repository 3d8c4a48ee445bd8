"""Label-issue ranking: the pure functions on hand-made arrays, then `weakgan label-issues` on a tiny
FashionMNIST-format run with synthetic label flips (true labels known, so precision/recall exist)."""
import csv
import json

import numpy as np
from conftest import TINY, run_cli

from weakgan.label_issues import flip_precision_recall, given_labels, rank_candidates
from weakgan.noise import Split


def test_rank_candidates_orders_by_label_quality_then_unlabelled():
    probs = np.array([[0.9, 0.1],    # 0: clean row, never ranked
                      [0.2, 0.8],    # 1: label 0, quality 0.2
                      [0.6, 0.4],    # 2: label 0, quality 0.6
                      [0.5, 0.5],    # 3: unlabelled, confidence 0.5
                      [0.05, 0.95],  # 4: label 0, quality 0.05
                      [0.1, 0.9]])   # 5: unlabelled, confidence 0.9
    labels = np.array([0, 0, 0, -1, 0, -1])
    assert rank_candidates(probs, labels, np.array([1, 2, 3, 4, 5])).tolist() == [4, 1, 2, 5, 3]


def test_flip_precision_recall():
    flipped = np.zeros(10, dtype=bool)
    flipped[[2, 5, 7]] = True
    ranked = np.array([5, 2, 0, 7, 1])
    assert flip_precision_recall(ranked, flipped, 3) == {"n": 3, "precision": 2 / 3, "recall": 2 / 3}
    assert flip_precision_recall(ranked, flipped, 99)["n"] == 5
    assert flip_precision_recall(ranked, np.zeros(10, dtype=bool), 2)["recall"] is None


def test_given_labels_merges_clean_truth_and_noisy_labels():
    split = Split(np.array([0, 3]), np.array([1, 2, 4]), np.array([1, -1, 0]), 0.4, "symmetric:0.5", 0, 5)
    assert given_labels(split, np.array([2, 0, 1, 1, 1])).tolist() == [2, 1, -1, 1, 0]


def test_label_issues_cli_scores_known_flips(tiny_fashion, tmp_path):
    run = tmp_path / "run"
    run_cli("train", "--model", "nr", "--data-dir", str(tiny_fashion), "--clean-fraction", "0.2",
            "--noise", "symmetric:0.4", *TINY, "--epochs", "5", "--threads", "1", "--checkpoint-every", "1000",
            "--out", str(run))
    out = run_cli("label-issues", str(run)).stdout
    summary = json.loads((run / "label_issues.json").read_text())
    split = json.loads((run / "split.json").read_text())
    n_flips = summary["n_true_flips"]
    assert summary["n_noisy_labelled"] == 320 and n_flips == round(split["noisy_label_error_rate"] * 320)
    at = summary["at_n_true_flips"]
    assert at["n"] == n_flips and at["precision"] == at["recall"]   # N = number of flips: they coincide
    assert f"true flips {n_flips}" in out
    assert at["precision"] > 1.3 * n_flips / 320, "ranking no better than chance on easy synthetic classes"
    probs = np.load(run / "pred_probs.npy")
    assert probs.shape == (400, 10) and np.allclose(probs.sum(1), 1, atol=1e-6)
    with open(run / "label_issues.csv") as f:
        assert f.readline().startswith("# probabilities from the clean net c")
        rows = list(csv.DictReader(f))
    assert len(rows) == 320 and rows[0]["path_or_index"].isdigit()
    quality = [float(r["label_quality"]) for r in rows]
    assert quality == sorted(quality)
    # the rank order as a detector: flips in the top n_flips rows, counted from the CSV's true_label
    hits = sum(r["given_label"] != r["true_label"] for r in rows[:n_flips])
    assert hits / n_flips == at["precision"]
