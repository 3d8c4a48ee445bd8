"""The ensemble of a split's runs: members chosen on validation only, ranked on validation images its members were
not chosen on, its figures those of its members' average, and `weakgan predict` on an ensemble folder."""
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import TINY, run_cli, synthetic_images
from weakgan import WeakganError
from weakgan.ensemble import accuracy, cross_fitted_accuracy, select_members, validation_halves
from weakgan.report import chosen_models

REPO = Path(__file__).resolve().parents[1]


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


def test_the_ensemble_is_ranked_on_the_half_its_members_were_not_chosen_on():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    assert validation_halves(y).tolist() == [0, 1, 0, 1, 0, 1, 0, 1]     # alternating within each class
    a = np.array([[.3, .7], [.3, .7], [.9, .1], [.9, .1], [.1, .9], [.1, .9], [.1, .9], [.1, .9]])  # 6/8
    u = [.5, .5]
    b = np.array([[1., 0.], [1., 0.], [0., 1.], u, u, u, u, u])  # fixes images 0 and 1 of a, ruins image 2
    runs = {"a": a, "b": b}
    # on all eight images b joins (a + b: 7/8), and its gain there is its own selection's
    members = select_members(runs, y)
    assert members == ["a", "b"] and accuracy(a + b, y) == 7 / 8
    # chosen on {1, 3, 5, 7}, b joins and costs image 2 on {0, 2, 4, 6}; chosen on {0, 2, 4, 6}, it does not
    # join (image 0 fixed, image 2 lost) and a misses image 1: 6/8, no better than a alone
    assert cross_fitted_accuracy(runs, y) == 6 / 8 == accuracy(a, y)
    assert chosen_models([{"model": m, "clean_fraction": "0.1", "seed": "0", "top1": "0.9", "val_top1": "0.75"}
                          for m in ("ensemble", "a")]) == {0.1: "a"}
    # one validation image per class: no half to choose on, so the best run's figure
    assert cross_fitted_accuracy({"a": a[[0, 4]], "b": b[[0, 4]]}, y[[0, 4]]) == 1 / 2


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
    val_targets = data.train.targets[val_idx].numpy()
    assert metrics["val_top1_selected"] == pytest.approx(float((val.argmax(1) == val_targets).mean()))
    assert metrics["n_val"] == len(val_idx) > 0
    assert metrics["val_top1_selected"] >= max(v["val_top1"] for v in metrics["candidates"].values()) - 0.02  # bf16
    # the figure it is ranked by: members chosen on one half of the validation images, scored on the other
    every = {m: load_trained_classifier(out / "runs" / f"{m}_p0.5_auto_s0", "cpu").probabilities(
        data.train.images[val_idx]) for m in ("clean-only", "naive")}
    assert metrics["val_top1"] == pytest.approx(cross_fitted_accuracy(every, val_targets))
    assert metrics["ranking"] == json.loads((folder / "ensemble.json").read_text())["ranking"]
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
    # so does one ranked under another rule (before ensemble.json named its ranking): benchmarks/rerank_ensembles.py
    # rebuilds it from the candidates it names, and the folder's results.csv carries the figure it is ranked by now
    record = json.loads((folder / "ensemble.json").read_text())
    (folder / "ensemble.json").write_text(json.dumps({k: v for k, v in record.items() if k != "ranking"}))
    metrics = json.loads((folder / "metrics.json").read_text())
    (folder / "metrics.json").write_text(json.dumps({**metrics, "val_top1": 0.0}))
    rerank = subprocess.run([sys.executable, str(REPO / "benchmarks" / "rerank_ensembles.py"), str(out)],
                            capture_output=True, text=True, timeout=300, check=True)
    assert "ensemble_p0.5_auto_s0: members" in rerank.stdout
    with open(out / "results.csv") as f:
        assert [r["val_top1"] for r in csv.DictReader(f) if r["model"] == "ensemble"] == [f"{metrics['val_top1']:.4f}"]
    assert "already ranked by the current rule" in subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "rerank_ensembles.py"), str(out)],
        capture_output=True, text=True, timeout=300, check=True).stdout

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
    bad = subprocess.run([sys.executable, str(REPO / "benchmarks" / "rerank_ensembles.py"), str(out)],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "ensemble.json: expected its candidates" in bad.stderr.strip().splitlines()[-1]
    assert "Traceback" not in bad.stderr


def test_a_preset_whose_ensemble_is_not_a_boolean_is_one_line(tiny_fashion, tmp_path):
    preset = tmp_path / "bad.yaml"
    preset.write_text("models: [clean-only, nr]\nfractions: [0.5]\nseeds: [0]\nensemble: sometimes\n")
    bad = run_cli("reproduce", "--preset", str(preset), "--data-dir", str(tiny_fashion), "--out",
                  str(tmp_path / "out"), check=False)
    assert bad.returncode != 0 and "'ensemble' must be true or false" in bad.stderr.strip().splitlines()[-1]
    assert "Traceback" not in bad.stderr and not (tmp_path / "out" / "runs").exists()
