"""What flip test-time augmentation (`tta`, on by default) is worth: test top-1 of finished runs with single
predictions and with the mean over each test image and its mirror image, from the same saved weights.

  python3 benchmarks/tta.py runs/bench-table1-cifar/runs/* > benchmarks/results/tta.md
"""
from __future__ import annotations

import sys
from datetime import datetime, timezone

import numpy as np

from weakgan.data import load_dataset
from weakgan.run_folder import load_trained_classifier
from weakgan.runtime import git_commit, machine


def main(run_dirs: list[str]) -> None:
    data = None
    print("# Flip test-time augmentation: test top-1 from the same weights\n")
    print(f"- command: `python3 benchmarks/tta.py {' '.join(run_dirs)}`")
    print(f"- machine: {machine()}; date {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; commit {git_commit()}\n")
    print("| run | single | with its mirror | gain (points) |\n|---|---|---|---|")
    gains = []
    for run_dir in run_dirs:
        model = load_trained_classifier(run_dir, "cpu")
        data = data or load_dataset(model.cfg.dataset, model.cfg.data_dir)
        targets = data.test.targets.numpy()
        top1 = {}
        for flip in (False, True):
            top1[flip] = float((model.probabilities(data.test.images, flip=flip).argmax(1) == targets).mean())
        gains.append(100 * (top1[True] - top1[False]))
        name = "/".join(p for p in run_dir.rstrip("/").split("/")[-3:] if p != "runs")
        print(f"| {name} | {top1[False]:.4f} | {top1[True]:.4f} | {gains[-1]:+.2f} |",
              flush=True)
    print(f"\nMean gain over {len(gains)} runs: {np.mean(gains):+.2f} points.")


if __name__ == "__main__":
    main(sys.argv[1:])
