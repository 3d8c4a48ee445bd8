import numpy as np
import pytest

from weakgan import WeakganError, noise
from weakgan.noise import Split, corrupt, make_split, parse_noise

TARGETS = np.repeat(np.arange(10), 600)  # 6,000 images, 600 per class


def test_stratified_exact_counts():
    s = make_split(TARGETS, 10, 0.05, "permutation", seed=0)
    assert np.bincount(TARGETS[s.clean_idx], minlength=10).tolist() == [30] * 10
    assert len(np.intersect1d(s.clean_idx, s.noisy_idx)) == 0
    assert len(s.clean_idx) + len(s.noisy_idx) == len(TARGETS)


def test_same_seed_same_split_other_seed_differs():
    a, b = make_split(TARGETS, 10, 0.1, "permutation", 3), make_split(TARGETS, 10, 0.1, "permutation", 3)
    c = make_split(TARGETS, 10, 0.1, "permutation", 4)
    assert np.array_equal(a.clean_idx, b.clean_idx) and np.array_equal(a.noisy_labels, b.noisy_labels)
    assert not np.array_equal(a.clean_idx, c.clean_idx)


def test_permutation_keeps_histogram_and_is_about_90_percent_wrong():
    s = make_split(TARGETS, 10, 0.05, "permutation", 0)
    true = TARGETS[s.noisy_idx]
    assert np.array_equal(np.bincount(s.noisy_labels, minlength=10), np.bincount(true, minlength=10))
    wrong = (s.noisy_labels != true).mean()
    assert 0.88 < wrong < 0.92


@pytest.mark.parametrize("rate", [0.2, 0.4])
def test_symmetric_rate_and_other_class(rate):
    rng = np.random.default_rng(1)
    labels = np.tile(np.arange(10), 2000)
    noisy = corrupt(labels, f"symmetric:{rate}", 10, rng)
    flipped = noisy != labels
    assert abs(flipped.mean() - rate) < 0.015
    # a flip lands uniformly on the 9 other classes
    counts = np.bincount(noisy[flipped & (labels == 0)], minlength=10)
    assert counts[0] == 0 and counts[1:].min() > 0.7 * counts[1:].mean()


def test_pairflip_goes_to_next_class():
    labels = np.tile(np.arange(10), 1000)
    noisy = corrupt(labels, "pairflip:0.3", 10, np.random.default_rng(0))
    flipped = noisy != labels
    assert abs(flipped.mean() - 0.3) < 0.02
    assert np.array_equal(noisy[flipped], (labels[flipped] + 1) % 10)


def test_none_is_unlabelled():
    s = make_split(TARGETS, 10, 0.2, "none", 0)
    assert (s.noisy_labels == -1).all()


def test_save_load_roundtrip(tmp_path):
    s = make_split(TARGETS, 10, 0.2, "symmetric:0.4", 5)
    s.save(tmp_path, TARGETS)
    t = Split.load(tmp_path)
    assert np.array_equal(s.clean_idx, t.clean_idx) and np.array_equal(s.noisy_labels, t.noisy_labels)
    assert (t.noise, t.seed, t.clean_fraction) == ("symmetric:0.4", 5, 0.2)
    import json
    assert abs(json.loads((tmp_path / "split.json").read_text())["noisy_label_error_rate"] - 0.4) < 0.03


@pytest.mark.parametrize("spec", ["gaussian", "symmetric", "symmetric:1.5", "pairflip:x", "permutation:0.2"])
def test_bad_noise_spec(spec):
    with pytest.raises(WeakganError, match="noise"):
        parse_noise(spec)


def test_bad_fraction():
    with pytest.raises(WeakganError, match="clean fraction 1.5"):
        make_split(TARGETS, 10, 1.5, "permutation", 0)


def test_validation_set_is_held_out_of_the_clean_images_stratified_and_leaves_the_rest_alone(tmp_path):
    plain = make_split(TARGETS, 10, 0.1, "permutation", 2)
    s = make_split(TARGETS, 10, 0.1, "permutation", 2, val_fraction=0.1, val_min_per_class=12)
    # 60 clean per class: max(12, round(0.1 * 60)) = 12 of them validate (at most 60 // 4 = 15), 48 train
    assert np.bincount(TARGETS[s.val_idx], minlength=10).tolist() == [12] * 10
    assert np.array_equal(np.union1d(s.clean_idx, s.val_idx), plain.clean_idx)
    assert len(np.intersect1d(s.val_idx, s.noisy_idx)) == 0 and len(np.intersect1d(s.val_idx, s.clean_idx)) == 0
    # the noisy set and its labels are those of the split without validation (same seed)
    assert np.array_equal(s.noisy_idx, plain.noisy_idx) and np.array_equal(s.noisy_labels, plain.noisy_labels)
    s.save(tmp_path, TARGETS)
    assert np.array_equal(Split.load(tmp_path).val_idx, s.val_idx)
    # never more than a quarter of a class's clean images: 3 per class keep all three
    few = make_split(TARGETS, 10, 0.005, "permutation", 0, val_fraction=0.1, val_min_per_class=50)
    assert len(few.val_idx) == 0 and len(few.clean_idx) == 30
    assert len(make_split(TARGETS, 10, 0.1, "permutation", 0, val_fraction=0.1, val_min_per_class=50).val_idx) == 150
    assert len(make_split(TARGETS, 10, 0.5, "permutation", 0, val_fraction=0.3, val_min_per_class=5).val_idx) == 750


def test_a_split_save_killed_midway_leaves_no_split_to_load(tmp_path, monkeypatch):
    """split.npz marks a saved split (run.load_or_make_split): a save that dies while writing the arrays must
    leave none, nor a temporary file, so the next attempt makes the split again instead of failing to load."""
    s = make_split(TARGETS, 10, 0.1, "permutation", 1)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt
    for module, name in ((noise.json, "dumps"), (np, "savez")):   # while writing split.json, then the arrays
        monkeypatch.setattr(module, name, killed)
        with pytest.raises(KeyboardInterrupt):
            s.save(tmp_path, TARGETS)
        assert not (tmp_path / "split.npz").exists() and not list(tmp_path.glob(".*.tmp"))
        monkeypatch.undo()
    s.save(tmp_path, TARGETS)
    loaded = Split.load(tmp_path)
    assert np.array_equal(loaded.clean_idx, s.clean_idx) and np.array_equal(loaded.noisy_labels, s.noisy_labels)
    assert np.array_equal(loaded.val_idx, s.val_idx)
