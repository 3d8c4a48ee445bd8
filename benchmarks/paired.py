"""How large a difference between two runs of one split its validation images can resolve: the two runs' predictions
on the split's validation images and on the test set, the images that one run gets right and the other wrong (the
discordant images), the difference in top-1 and its standard error, sqrt((discordant share - difference^2) / n)
(the mean of a per-image difference of -1, 0 or +1 over the same n images; McNemar's test rests on the same counts).

  python3 benchmarks/paired.py A_RUN B_RUN [A_RUN B_RUN ...]

Each pair's first run is the baseline; both must be runs of one split (the same clean and validation images).
The test set is read to report, as everywhere: a choice between A and B is made on the validation columns.
"""
from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from weakgan import WeakganError
from weakgan.data import load_dataset
from weakgan.ensemble import member_probabilities
from weakgan.runtime import git_commit, machine


def paired(a: np.ndarray, b: np.ndarray, targets: np.ndarray) -> tuple[float, float, int, int, int]:
    """(B - A in points, its standard error in points, images only B gets right, only A gets right, n)."""
    ra, rb = a.argmax(1) == targets, b.argmax(1) == targets
    only_b, only_a, n = int((rb & ~ra).sum()), int((ra & ~rb).sum()), len(targets)
    d = (only_b - only_a) / n
    return 100 * d, 100 * np.sqrt(((only_a + only_b) / n - d * d) / n), only_b, only_a, n


def main(args: list[str]) -> None:
    if len(args) < 2 or len(args) % 2:
        raise SystemExit("usage: paired.py A_RUN B_RUN [A_RUN B_RUN ...] (pairs of run folders of one split)")
    print("# Paired differences between runs of one split, on validation and on test\n")
    print(f"- command: `python3 benchmarks/paired.py {' '.join(args)}`")
    print(f"- machine: {machine()}; date {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; commit {git_commit()}\n")
    print("| A | B | validation: B - A (s.e.), only B / only A right of n | "
          "test: B - A (s.e.), only B / only A right of n |\n|---|---|---|---|")
    data = load_dataset("fashion-mnist", "", False)
    for a_dir, b_dir in zip(args[::2], args[1::2]):
        # the ensemble's reader: it refuses two runs of different splits, or a split without validation images
        try:
            y_val, val_probs, test_probs = member_probabilities({"A": Path(a_dir), "B": Path(b_dir)}, data, "cpu")
        except WeakganError as e:
            raise SystemExit(f"paired.py: {e}") from None
        y_test = data.test.targets.numpy()
        cells = []
        for probs, targets in ((val_probs, y_val), (test_probs, y_test)):
            d, se, only_b, only_a, n = paired(probs["A"], probs["B"], targets)
            cells.append(f"{d:+.2f} ({se:.2f}), {only_b} / {only_a} of {n}")
        print(f"| {Path(a_dir).name} | {Path(b_dir).name} | {cells[0]} | {cells[1]} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
