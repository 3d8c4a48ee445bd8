"""The test set is read once, after training: it can feed no weight and no choice."""
import json
import shutil

import numpy as np
from conftest import TINY, run_cli

from weakgan.checkpoint import load_weights
from weakgan.data.idx import read_idx, write_idx


def test_the_test_labels_change_no_weight_and_no_validation_figure(tiny_fashion, tmp_path):
    other = tmp_path / "other_test_labels"
    shutil.copytree(tiny_fashion, other)
    labels = read_idx(other / "t10k-labels-idx1-ubyte.gz")
    write_idx(other / "t10k-labels-idx1-ubyte.gz", ((labels + 3) % 10).astype(np.uint8))   # every label wrong
    runs = []
    for data in (tiny_fashion, other):
        out = tmp_path / f"run_{data.name}"
        # nr with its clean-only teacher: both trainings, and the teacher's targets, see the data
        run_cli("train", "--model", "nr", "--data-dir", str(data), "--clean-fraction", "0.3", *TINY, "--out", str(out))
        runs.append(out)
    a, b = (json.loads((r / "metrics.json").read_text()) for r in runs)
    assert a["top1"] > 0.5 and b["top1"] < 0.2   # the test labels did differ, and the test figure saw it
    assert a["val_top1"] == b["val_top1"] and a["n_val"] == b["n_val"] > 0
    for name in ("model.safetensors", "teacher/model.safetensors"):
        wa, wb = load_weights(runs[0] / name), load_weights(runs[1] / name)
        assert wa.keys() == wb.keys() and all(np.array_equal(wa[k].numpy(), wb[k].numpy()) for k in wa), name
    za, zb = np.load(runs[0] / "split.npz"), np.load(runs[1] / "split.npz")
    assert all(np.array_equal(za[k], zb[k]) for k in ("clean_idx", "val_idx", "noisy_idx", "noisy_labels"))
