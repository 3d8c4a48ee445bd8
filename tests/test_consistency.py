"""nr-match: strong augmentation, self-adaptive thresholds, and the model end to end (with resume)."""
import json

import torch
from conftest import TINY, kill_at_first_checkpoint, run_cli

from weakgan.augment import strong_augment
from weakgan.stages.consistency import AdaptiveThresholds


def test_strong_augment_is_seeded_changes_images_and_keeps_their_shape():
    x = torch.rand(64, 3, 20, 20) * 2 - 1
    a = strong_augment(x, torch.Generator().manual_seed(1), 0.5, 0.5)
    b = strong_augment(x, torch.Generator().manual_seed(1), 0.5, 0.5)
    c = strong_augment(x, torch.Generator().manual_seed(2), 0.5, 0.5)
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    changed = (a != x).flatten(1).float().mean(1)
    assert (changed > 0).all()   # every image at least gets its cutout box
    # every pixel stays a normalized [0, 1] pixel: (p - 0.5) / 0.5 in [-1, 1]
    assert a.min() >= -1 - 1e-6 and a.max() <= 1 + 1e-6


def test_thresholds_adapt_per_class_and_align_to_the_prior():
    t = AdaptiveThresholds(torch.tensor([1.0, 1.0]), momentum=0.0)   # momentum 0: this batch alone
    # the model predicts class 0 for most images: class 1 gets the lower bar, and alignment to the 50/50 prior
    # lifts class 1's probabilities
    probs = torch.tensor([[0.9, 0.1]] * 6 + [[0.3, 0.7]] * 2)
    labels, mask = t.pseudo_labels(probs)
    assert labels.tolist() == [0] * 6 + [1] * 2
    per_class = t.class_probs / t.class_probs.max() * t.global_tau
    assert per_class[1] < per_class[0] and mask[6:].all()
    state = t.state_dict()
    u = AdaptiveThresholds(torch.tensor([1.0, 1.0]), momentum=0.0)
    u.load_state_dict(state)
    assert torch.equal(u.global_tau, t.global_tau) and torch.equal(u.class_probs, t.class_probs)


def test_nr_match_trains_logs_consistency_and_resumes_exactly(tiny_fashion, tmp_path):
    args = ["train", "--model", "nr-match", "--data-dir", str(tiny_fashion), "--clean-fraction", "0.2",
            "--noise", "symmetric:0.4", "--teacher-weight", "0", *TINY, "--epochs", "15", "--checkpoint-every", "40"]
    run_cli(*args, "--out", str(tmp_path / "whole"))
    m = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    log = json.loads((tmp_path / "whole" / "train_log.json").read_text())
    assert m["model"] == "nr-match" and m["top1"] > 0.3 and {"consistency", "confident", "noise"} <= set(log[-1])
    assert log[-1]["confident"] > 0 and log[-1]["consistency"] > 0   # pseudo-labels did pass the threshold
    # killed after its first checkpoint and resumed: the same weights as the unbroken run (thresholds included)
    kill_at_first_checkpoint([*args, "--out", str(tmp_path / "parts")], tmp_path / "parts")
    run_cli(*args, "--out", str(tmp_path / "parts"))
    from weakgan.checkpoint import load_weights
    a, b = load_weights(tmp_path / "whole" / "model.safetensors"), load_weights(tmp_path / "parts" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
