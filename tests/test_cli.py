"""The CLI end to end on a tiny synthetic IDX dataset, in real subprocesses."""
import csv
import dataclasses
import json

import yaml
from conftest import TINY, run_cli

from weakgan.config import Config
from weakgan.report import COLUMNS
from weakgan.sweep import run_config, with_dependencies


def test_train_evaluate_end_to_end(tiny_fashion, tmp_path):
    out = tmp_path / "run"
    cfg = tmp_path / "c.yaml"
    cfg.write_text("lr: 0.003\nhead_hidden: 16\nalpha: 0.5\n")
    run_cli("train", "--model", "nr", "--data-dir", str(tiny_fashion), "--clean-fraction", "0.2",
            "--noise", "symmetric:0.4", "--seed", "1", "--config", str(cfg), *TINY, "--out", str(out))
    for name in ("config.yaml", "classes.json", "split.json", "split.npz", "model.safetensors", "metrics.json",
                 "predictions.png", "checkpoints/last.pt", "train_log.json"):
        assert (out / name).is_file(), name
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    # YAML sets lr and alpha; the flag --head-hidden 32 (in TINY) wins over the YAML's 16
    assert resolved["lr"] == 0.003 and resolved["alpha"] == 0.5 and resolved["head_hidden"] == 32
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_test"] == 100 and len(m["confusion"]) == 10 and 0 <= m["top1"] <= m["top3"] <= 1
    assert m["top1"] > 0.3, "the synthetic classes are easy; a model this bad did not learn"
    # provenance of every run: code, library, machine, how it ran and how long
    assert {"commit", "torch", "machine", "date", "device", "precision", "precision_reason", "threads"} <= set(m)
    assert m["threads"] == 1 and m["wall_seconds"] >= m["train_seconds"] > 0 and m["commit"]
    # 8 clean images per class: a quarter of them (2 per class) held out for validation, never trained on
    assert (m["split"]["n_clean"], m["split"]["n_val"], m["n_val"]) == (60, 20, 20) and 0 <= m["val_top1"] <= 1
    ev = json.loads(run_cli("evaluate", str(out)).stdout)
    assert abs(ev["top1"] - m["top1"]) < 1e-9   # the saved weights reproduce the metrics


def test_sweep_writes_results_contract(tiny_fashion, tmp_path):
    out = tmp_path / "sweep"
    args = ["sweep", "--models", "clean-only,naive,nr", "--fractions", "0.1,0.5", "--seeds", "0",
            "--data-dir", str(tiny_fashion), *TINY, "--epochs", "0.5", "--out", str(out)]
    run_cli(*args)
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0].keys()) == COLUMNS and len(rows) == 6
    assert {r["model"] for r in rows} == {"clean-only", "naive", "nr"}
    assert all(0 <= float(r["top1"]) <= 1 for r in rows)
    assert "± " in (out / "results.md").read_text()
    # re-running skips the finished runs
    again = run_cli(*args)
    assert again.stdout.count("done before") == 6
    # ... but only when they were made with the settings asked for now: no silent reuse of other runs
    other = run_cli(*args, "--stem", "cifar", check=False)
    assert other.returncode == 2 and other.stderr.strip().count("\n") == 0
    assert "finished with other settings (stem: 'imagenet' -> 'cifar')" in other.stderr
    # what counts of `pretrain` is where a backbone started: the same for clean-only and naive, not for nr
    warm = run_cli(*args, "--pretrain", "teacher", check=False)
    assert warm.stdout.count("done before") == 2 and warm.returncode == 2
    assert "nr_p0.1" in warm.stderr and "backbone starts from: 'scratch' -> 'the teacher'" in warm.stderr


def test_sweep_fills_in_the_sibling_runs_a_model_reads(tmp_path):
    pseudo = Config(gan_labels="pseudo", noise="permutation")
    assert with_dependencies(["wsgan"], Config()) == ["wsgan"]
    assert with_dependencies(["wsgan"], pseudo) == ["clean-only", "wsgan"]   # its generator's pseudo-labeller
    assert with_dependencies(["nr-wsgan", "nr"], Config()) == ["clean-only", "wsgan", "nr-wsgan", "nr"]
    runs = tmp_path / "runs"
    cfg = run_config(pseudo, "nr-wsgan", 0.05, 1, tmp_path)
    assert (cfg.model, cfg.clean_fraction, cfg.seed) == ("nr-wsgan", 0.05, 1)
    assert cfg.teacher_run == cfg.gan_pseudo_run == str(runs / "clean-only_p0.05_permutation_s1")
    assert cfg.wsgan_run == str(runs / "wsgan_p0.05_permutation_s1")
    assert run_config(Config(noise="permutation"), "wsgan", 0.5, 0, tmp_path).gan_pseudo_run == ""
    given = dataclasses.replace(pseudo, gan_pseudo_run="elsewhere")   # a run named by the user wins
    assert run_config(given, "wsgan", 0.5, 0, tmp_path).gan_pseudo_run == "elsewhere"
    assert with_dependencies(["wsgan"], given) == ["wsgan"]
    # per-model epochs: the wsgan D and the runs warm-started from their teacher train their own number
    short = Config(noise="permutation", epochs=10, gan_d_epochs=1, warm_epochs=3, pretrain="teacher")
    epochs = {m: run_config(short, m, 0.5, 0, tmp_path).epochs for m in ("clean-only", "naive", "wsgan", "nr", "nr-wsgan")}
    assert epochs == {"clean-only": 10, "naive": 10, "wsgan": 1, "nr": 3, "nr-wsgan": 3}
    assert run_config(dataclasses.replace(short, pretrain="auto"), "nr", 0.5, 0, tmp_path).epochs == 10


def test_bad_inputs_are_one_line_errors(tmp_path):
    p = run_cli("train", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o"), check=False)
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0
    assert "no FashionMNIST IDX files" in p.stderr and str(tmp_path) in p.stderr
    p = run_cli("train", "--noise", "gaussian:0.2", "--out", str(tmp_path / "o2"), check=False,
                env={"WEAKGAN_DATA": str(tmp_path)})
    assert p.returncode == 2 and "noise 'gaussian:0.2'" in p.stderr
    p = run_cli("train", "--epochs", "many", "--out", str(tmp_path / "o3"), check=False)
    assert p.returncode == 2 and "'many' is not a valid float" in p.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("learning_rate: 0.1\n")
    p = run_cli("train", "--config", str(bad), "--out", str(tmp_path / "o4"), check=False)
    assert p.returncode == 2 and "unknown setting 'learning_rate'" in p.stderr


def test_every_flag_has_help_in_its_group():
    from dataclasses import fields

    from weakgan.config import field_help
    docs = field_help()
    assert all(docs.get(f.name, ("", ""))[1] for f in fields(Config)), \
        [f.name for f in fields(Config) if not docs.get(f.name, ("", ""))[1]]
    assert docs["gan_steps"][0] == "WSGAN" and docs["lr"][0] == "optimisation" and docs["tta"][0] == "runtime"
    # a section comment is one line: a second one would read as a group of its own
    assert {g for g, _ in docs.values()} == {"what to train", "data", "model", "teacher", "semi-supervision",
                                            "optimisation", "WSGAN", "NR + WSGAN", "runtime"}
    text = run_cli("train", "--help").stdout
    for group in ("data settings:", "optimisation settings:", "teacher settings:", "WSGAN settings:", "runtime settings:"):
        assert group in text
    assert "--min-steps INT" in text and "optimizer steps a run takes at least" in text
    # a command shows only the groups it uses
    gan = run_cli("pretrain-gan", "--help").stdout
    assert "WSGAN settings:" in gan and "teacher settings:" not in gan and "--teacher-weight" not in gan
