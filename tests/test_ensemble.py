"""The ensemble of a split's runs: members chosen on validation only, its figures those of its members' average,
and `weakgan predict` on an ensemble folder."""
import csv
import json

import numpy as np
import pytest
import torch

from conftest import TINY, run_cli, synthetic_images
from weakgan import WeakganError
from weakgan.ensemble import select_members
from weakgan.report import chosen_models


def test_selection_starts_from_the_best_run_and_adds_only_what_raises_validation():
    y = np.array([0, 0, 1, 1, 2, 2])
    a = np.array([[.6, .2, .2], [.6, .2, .2], [.2, .6, .2], [.2, .6, .2], [.45, .15, .4], [.45, .15, .4]])  # 4/6
    b = np.array([[.35, .45, .2], [.35, .45, .2], [.2, .6, .2], [.2, .6, .2], [.1, .1, .8], [.1, .1, .8]])  # 4/6
    c = np.array([[.1, .8, .1], [.1, .8, .1], [.8, .1, .1], [.8, .1, .1], [.8, .1, .1], [.1, .8, .1]])     # 0/6
    # a + b is right on all six; nothing strictly improves on that, so c never joins
    assert select_members({"a": a, "b": b, "c": c}, y) == ["a", "b"]
    assert select_members({"b": b, "a": a, "c": c}, y) == ["b", "a"]    # a tie alone goes to the first listed
    assert select_members({"c": c, "a": a}, y) == ["a"]                 # a + c is worse than a: a alone
    assert select_members({"x": c, "y": c}, y) == ["x"]
    with pytest.raises(WeakganError):
        select_members({}, y)


def test_a_tie_on_validation_goes_to_the_single_model():
    rows = [{"model": m, "clean_fraction": "0.1", "seed": "0", "top1": t, "val_top1": "0.9"}
            for m, t in (("ensemble", "0.95"), ("nr", "0.90"))]
    assert chosen_models(rows) == {0.1: "nr"}
    rows[0]["val_top1"] = "0.91"
    assert chosen_models(rows) == {0.1: "ensemble"}


def test_reproduce_builds_the_ensemble_of_each_split_and_predict_reads_it(tiny_fashion, tmp_path):
    preset = tmp_path / "tiny.yaml"
    preset.write_text("models: [clean-only, naive]\nfractions: [0.5]\nseeds: [0]\nensemble: true\n")
    out = tmp_path / "report"
    args = ["reproduce", "--preset", str(preset), "--data-dir", str(tiny_fashion), *TINY, "--epochs", "2",
            "--out", str(out)]
    first = run_cli(*args)
    folder = out / "runs" / "ensemble_p0.5_auto_s0"
    metrics = json.loads((folder / "metrics.json").read_text())
    members = json.loads((folder / "ensemble.json").read_text())["members"]
    assert metrics["members"] == list(members) and set(members) <= {"clean-only", "naive"}
    assert "ensemble_p0.5_auto_s0: members" in first.stdout

    # its figures are those of its members' mean probabilities, recomputed here from the run folders alone
    from weakgan.data import load_dataset
    from weakgan.noise import Split
    from weakgan.run_folder import load_trained_classifier
    data = load_dataset("fashion-mnist", str(tiny_fashion))
    val_idx = torch.as_tensor(Split.load(out / "runs" / "clean-only_p0.5_auto_s0").val_idx)
    clfs = {m: load_trained_classifier(folder / rel, "cpu") for m, rel in members.items()}
    test = np.mean([c.probabilities(data.test.images) for c in clfs.values()], axis=0)
    val = np.mean([c.probabilities(data.train.images[val_idx]) for c in clfs.values()], axis=0)
    assert metrics["top1"] == pytest.approx(float((test.argmax(1) == data.test.targets.numpy()).mean()))
    assert metrics["val_top1"] == pytest.approx(float((val.argmax(1) == data.train.targets[val_idx].numpy()).mean()))
    assert metrics["n_val"] == len(val_idx) > 0
    assert metrics["val_top1"] >= max(v["val_top1"] for v in metrics["candidates"].values()) - 0.02  # fp32 vs bf16
    with open(out / "results.csv") as f:
        models = sorted(r["model"] for r in csv.DictReader(f))
    assert models == ["clean-only", "ensemble", "naive"]
    assert "| 0.50 | " in (out / "report.md").read_text()

    # a second call finds the same runs: nothing is trained or rebuilt
    stamp = (folder / "metrics.json").stat().st_mtime_ns
    second = run_cli(*args)
    assert second.stdout.count("done before") == 2 and "members" not in second.stdout
    assert (folder / "metrics.json").stat().st_mtime_ns == stamp
    # a member trained again (its metrics.json of another date) makes the ensemble stale: it is built anew
    member = out / "runs" / "clean-only_p0.5_auto_s0" / "metrics.json"
    member.write_text(json.dumps({**json.loads(member.read_text()), "date": "2000-01-01T00:00:00+00:00"}))
    assert "ensemble_p0.5_auto_s0: members" in run_cli(*args).stdout

    # predict on the ensemble folder: the mean of its members' probabilities, image by image
    from PIL import Image
    images = tmp_path / "images"
    images.mkdir()
    pixels = synthetic_images(np.array([3, 7]), np.random.default_rng(1))
    for i, a in enumerate(pixels):
        Image.fromarray(a).save(images / f"{i}.png")
    run_cli("predict", str(folder), str(images), "--out", str(tmp_path / "p.csv"))
    with open(tmp_path / "p.csv") as f:
        got = np.array([[float(r[k]) for k in r if k.startswith("prob:")] for r in csv.DictReader(f)])
    want = np.mean([c.probabilities(torch.from_numpy(pixels[:, None])) for c in clfs.values()], axis=0)
    np.testing.assert_allclose(got, want, atol=2e-6)

    # commands that need one network name the members instead
    bad = run_cli("export", str(folder), "--format", "torchscript", "--out", str(tmp_path / "m.pt"), check=False)
    assert bad.returncode != 0 and "an ensemble folder has no weights of its own" in bad.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "m.pt").exists()

    # a damaged ensemble.json is one line naming the file
    (folder / "ensemble.json").write_text('{"members": []}')
    bad = run_cli("predict", str(folder), str(images), check=False)
    assert bad.returncode != 0 and "ensemble.json: expected its members" in bad.stderr.strip().splitlines()[-1]


def test_a_preset_whose_ensemble_is_not_a_boolean_is_one_line(tiny_fashion, tmp_path):
    preset = tmp_path / "bad.yaml"
    preset.write_text("models: [clean-only, nr]\nfractions: [0.5]\nseeds: [0]\nensemble: sometimes\n")
    bad = run_cli("reproduce", "--preset", str(preset), "--data-dir", str(tiny_fashion), "--out",
                  str(tmp_path / "out"), check=False)
    assert bad.returncode != 0 and "'ensemble' must be true or false" in bad.stderr.strip().splitlines()[-1]
    assert "Traceback" not in bad.stderr and not (tmp_path / "out" / "runs").exists()
