"""The teacher's soft pseudo-labels: alignment and sharpening, the loss by hand, the split guard, and
`weakgan train --model nr` training its own clean-only teacher first."""
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import TINY, run_cli

from weakgan import WeakganError
from weakgan.config import Config
from weakgan.data import load_dataset
from weakgan.noise import UNLABELLED, Split
from weakgan.run import split_for
from weakgan.stages.classifier import nr_objective
from weakgan.teacher import align_and_sharpen, label_posterior, teacher_targets


def sig(v):
    return 1 / (1 + math.exp(-v))


def test_alignment_matches_the_prior_and_sharpening_raises_confidence():
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(500, 4, generator=g) + torch.tensor([2.0, 0, 0, 0]), 1)  # class 0 dominates
    prior = torch.full((4,), 0.25)
    aligned = align_and_sharpen(probs, prior, temperature=1.0)
    assert torch.allclose(aligned.sum(1), torch.ones(500))
    # one alignment step moves the marginal much closer to the prior
    assert (aligned.mean(0) - prior).abs().max() < 0.5 * (probs.mean(0) - prior).abs().max()
    sharp = align_and_sharpen(probs, prior, temperature=0.5)
    assert torch.allclose(sharp.sum(1), torch.ones(500))
    assert (sharp.max(1).values >= aligned.max(1).values - 1e-6).all()
    assert torch.equal(sharp.argmax(1), aligned.argmax(1))
    with pytest.raises(WeakganError, match="teacher_temperature"):
        align_and_sharpen(probs, prior, 0.0)


def test_the_posterior_given_a_noisy_label_uses_informative_labels_only():
    g = torch.Generator().manual_seed(0)
    n, k = 20000, 10
    true = torch.randint(0, k, (n,), generator=g)
    probs = torch.softmax(torch.randn(n, k, generator=g) + 3 * torch.nn.functional.one_hot(true, k), 1)
    acc = lambda p: (p.argmax(1) == true).float().mean().item()  # noqa: E731
    # permutation noise: labels independent of the images move no probability by more than estimation noise
    shuffled = true[torch.randperm(n, generator=g)]
    assert (label_posterior(probs, shuffled) - probs).abs().max() < 0.06
    # pairflip 0.3 (70% right, the rest on the next class): the posterior is right far more often than the teacher
    flipped = torch.where(torch.rand(n, generator=g) < 0.3, (true + 1) % k, true)
    post = label_posterior(probs, flipped)
    assert acc(post) > acc(probs) + 0.05
    assert torch.allclose(post.sum(1), torch.ones(n))
    # unlabelled rows are returned as they are; a batch without any label is the teacher's
    partly = flipped.clone()
    partly[::2] = UNLABELLED
    post = label_posterior(probs, partly)
    assert torch.equal(post[::2], probs[::2]) and not torch.equal(post[1::2], probs[1::2])
    assert torch.equal(label_posterior(probs, torch.full((n,), UNLABELLED)), probs)


def test_nr_objective_with_teacher_targets_by_hand():
    cfg = Config(alpha=0.2, teacher_weight=0.5)
    c = torch.tensor([[1.0, -1.0], [0.2, 0.3], [-0.5, 1.0]])   # row 0 clean, rows 1-2 noisy
    r = torch.tensor([[0.0, 0.0], [-1.2, 0.4], [0.5, -2.0]])
    y = torch.tensor([0, 1, UNLABELLED])                        # row 2 has no noisy label
    soft = torch.tensor([[0.8, 0.2], [0.1, 0.9]])
    loss, logs = nr_objective(c, r, y, 1, cfg, soft)

    def bce(p, t):
        return -(t * math.log(p) + (1 - t) * math.log(1 - p))
    clean = bce(sig(1.0), 1) + bce(sig(-1.0), 0)
    noise = bce(sig(0.2 - 1.2), 0) + bce(sig(0.3 + 0.4), 1)                     # only the labelled row
    teacher = (bce(sig(0.2), 0.8) + bce(sig(0.3), 0.2) + bce(sig(-0.5), 0.1) + bce(sig(1.0), 0.9)) / 2
    assert abs(logs["clean"] - clean) < 1e-5 and abs(logs["noise"] - noise) < 1e-5
    assert abs(logs["teacher"] - teacher) < 1e-5
    assert abs(loss.item() - (0.2 * clean + noise + 0.5 * teacher)) < 1e-5
    # a caller that knows every row is labelled skips the mask: the same loss as with the mask
    y[2] = 0
    masked, _ = nr_objective(c, r, y, 1, cfg, soft)
    unmasked, _ = nr_objective(c, r, y, 1, cfg, soft, all_labelled=True)
    assert torch.equal(masked, unmasked) and not torch.equal(masked, loss)


def test_nr_trains_its_own_teacher_and_learns_from_unlabelled_images(tiny_fashion, tmp_path):
    out = tmp_path / "nr"
    # noise none: the noisy set is unlabelled, so only the teacher's targets reach it
    run_cli("train", "--model", "nr", "--data-dir", str(tiny_fashion), "--clean-fraction", "0.2",
            "--noise", "none", *TINY, "--out", str(out))
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["teacher_run"] == str(out / "teacher")
    teacher = json.loads((out / "teacher" / "metrics.json").read_text())
    assert teacher["model"] == "clean-only"
    log = json.loads((out / "train_log.json").read_text())
    assert all("teacher" in row and row["noise"] == 0.0 for row in log)
    assert json.loads((out / "metrics.json").read_text())["top1"] > 0.3
    # re-evaluating the finished run needs neither the teacher run nor its predictions
    (out / "teacher").rename(tmp_path / "teacher-away")
    run_cli("evaluate", str(out))
    (tmp_path / "teacher-away").rename(out / "teacher")

    # its targets: zero on clean rows, distributions on the others, and refused for another split
    cfg = Config(data_dir=str(tiny_fashion), clean_fraction=0.2, noise="none")
    data = load_dataset("fashion-mnist", str(tiny_fashion))
    split = split_for(cfg, data)
    t = teacher_targets(out / "teacher", data, split, 0.5, torch.device("cpu"))
    assert t[torch.as_tensor(split.clean_idx)].abs().sum() == 0
    assert torch.allclose(t[torch.as_tensor(split.noisy_idx)].sum(1), torch.ones(len(split.noisy_idx)))
    other = split_for(Config(data_dir=str(tiny_fashion), clean_fraction=0.2, noise="none", seed=1), data)
    with pytest.raises(WeakganError, match="another clean split"):
        teacher_targets(out / "teacher", data, other, 0.5, torch.device("cpu"))


def test_sweeps_order_a_splits_runs_after_what_they_read():
    from weakgan.recipes import unused_settings
    from weakgan.sweep import run_config, with_dependencies
    assert with_dependencies(["nr-wsgan", "nr"], Config()) == ["clean-only", "wsgan", "nr-wsgan", "nr"]
    assert with_dependencies(["nr", "clean-only", "naive"], Config()) == ["clean-only", "nr", "naive"]
    # the second round reads the first (its teacher), which reads clean-only and wsgan
    assert with_dependencies(["nr-wsgan-round2"], Config()) == ["clean-only", "wsgan", "nr-wsgan", "nr-wsgan-round2"]
    # the consistency rounds read their previous round only to start as it (pretrain: teacher)
    assert with_dependencies(["fixmatch-round3"], Config(pretrain="teacher")) == [
        "clean-only", "fixmatch", "fixmatch-round2", "fixmatch-round3"]
    assert with_dependencies(["fixmatch-round3"], Config()) == ["fixmatch-round3"]
    cfg = run_config(Config(noise="permutation"), "nr-wsgan-round2", 0.1, 2, Path("out"))
    assert cfg.teacher_run == str(Path("out/runs/nr-wsgan_p0.1_permutation_s2"))
    assert cfg.wsgan_run == str(Path("out/runs/wsgan_p0.1_permutation_s2"))
    # the second round's own noise is no setting of its siblings: changing it keeps their finished runs
    assert "round2_erase" not in unused_settings(cfg)
    assert "round2_erase" in unused_settings(run_config(Config(noise="permutation"), "nr-wsgan", 0.1, 2, Path("out")))
    # no teacher wanted (or one given): nothing is added
    assert with_dependencies(["nr"], Config(teacher_weight=0.0)) == ["nr"]
    assert with_dependencies(["nr"], Config(teacher_run="runs/t")) == ["nr"]


def test_a_later_round_trains_its_chain_of_teachers_and_starts_as_the_previous_round(tiny_fashion, tmp_path):
    from safetensors.torch import load_file
    from weakgan.recipes import unused_settings
    from weakgan.sweep import run_config, with_dependencies
    assert with_dependencies(["nr-round3"], Config()) == ["clean-only", "nr", "nr-round2", "nr-round3"]
    assert run_config(Config(noise="permutation"), "nr-round3", 0.1, 2, Path("o")).teacher_run == \
        str(Path("o/runs/nr-round2_p0.1_permutation_s2"))
    # the consistency round: taught by round 3, and the only one of the chain that reads the consistency settings
    assert with_dependencies(["nr-match-round4"], Config())[-2:] == ["nr-round3", "nr-match-round4"]
    last = run_config(Config(noise="permutation"), "nr-match-round4", 0.1, 2, Path("o"))
    assert last.teacher_run == str(Path("o/runs/nr-round3_p0.1_permutation_s2"))
    assert "consistency_weight" not in unused_settings(last)
    assert "consistency_weight" in unused_settings(run_config(Config(), "nr-round3", 0.1, 2, Path("o")))
    common = ["--data-dir", str(tiny_fashion), "--clean-fraction", "0.2", "--noise", "symmetric:0.4",
              "--pretrain", "teacher", *TINY]
    out = tmp_path / "r2"
    done = run_cli("train", "--model", "nr-round2", *common, "--out", str(out))
    # the chain's validation figures, and the one to use chosen on them
    vals = {m: json.loads((out / sub / "metrics.json").read_text())["val_top1"]
            for m, sub in (("nr-round2", "."), ("nr", "teacher"), ("clean-only", "teacher/teacher"))}
    best = max(reversed(vals), key=vals.get)   # ties: the earlier round
    assert f"best on validation: {best} ->" in done.stdout and done.stdout.count("val_top1") == 3
    chain = [json.loads((out / sub / "metrics.json").read_text())["model"]
             for sub in (".", "teacher", "teacher/teacher")]
    assert chain == ["nr-round2", "nr", "clean-only"]
    assert yaml.safe_load((out / "config.yaml").read_text())["teacher_run"] == str(out / "teacher")
    round1 = yaml.safe_load((out / "teacher" / "config.yaml").read_text())
    assert round1["teacher_run"] == str(out / "teacher" / "teacher")
    # the finished teachers are reused: the same command again does not train them again
    stamps = [p.stat().st_mtime_ns for p in sorted(out.glob("teacher/**/model.safetensors"))]
    assert len(stamps) == 2
    run_cli("train", "--model", "nr-round2", *common, "--out", str(out))
    assert [p.stat().st_mtime_ns for p in sorted(out.glob("teacher/**/model.safetensors"))] == stamps
    # a round starts as the previous one (backbone and clean net; lr 0: what it saves is what it started from,
    # only BatchNorm statistics move), and round 1 had moved away from the clean-only run
    run_cli("train", "--model", "nr-round2", *common, "--teacher-run", str(out / "teacher"), "--lr", "0",
            "--out", str(tmp_path / "lr0"))
    r2, r1 = load_file(tmp_path / "lr0" / "model.safetensors"), load_file(out / "teacher" / "model.safetensors")
    t = load_file(out / "teacher" / "teacher" / "model.safetensors")
    start = [k for k in r1 if (k.startswith("backbone.") and r1[k].dim() == 4) or k.startswith("clean_head.")]
    assert len(start) >= 7 and all(torch.equal(r2[k], r1[k]) for k in start)
    assert not any(torch.equal(r1[k], t[k]) for k in start)


def test_pretrain_teacher_starts_the_backbone_from_the_teacher_run(tiny_fashion, tmp_path):
    from safetensors.torch import load_file
    common = ["--data-dir", str(tiny_fashion), "--clean-fraction", "0.2", "--noise", "permutation", *TINY]
    teacher = tmp_path / "teacher"
    run_cli("train", "--model", "clean-only", *common, "--out", str(teacher))
    # lr 0: whatever the nr run's backbone starts from is what it saves (only BatchNorm statistics move)
    for name, pretrain in (("warm", "teacher"), ("cold", "auto")):
        run_cli("train", "--model", "nr", *common, "--teacher-run", str(teacher), "--pretrain", pretrain,
                "--lr", "0", "--epochs", "0.5", "--out", str(tmp_path / name))
    # warm_epochs / warm_lr: the warm-started run trains that many epochs (the teacher trained TINY's 5) at that lr
    run_cli("train", "--model", "nr", *common, "--teacher-run", str(teacher), "--pretrain", "teacher",
            "--warm-epochs", "1", "--warm-lr", "0.0007", "--out", str(tmp_path / "short"))
    steps = {name: json.loads((tmp_path / name / "metrics.json").read_text())["steps"] for name in ("teacher", "short")}
    assert steps["short"] * 5 == pytest.approx(steps["teacher"], abs=5)
    short = yaml.safe_load((tmp_path / "short" / "config.yaml").read_text())
    assert short["epochs"] == 1 and short["lr"] == 0.0007
    t = load_file(teacher / "model.safetensors")
    convs = [k for k in t if k.startswith("backbone.") and t[k].dim() == 4]   # every conv of the backbone
    assert len(convs) >= 7
    warm, cold = load_file(tmp_path / "warm" / "model.safetensors"), load_file(tmp_path / "cold" / "model.safetensors")
    assert all(torch.equal(warm[k], t[k]) for k in convs)
    assert not any(torch.equal(cold[k], t[k]) for k in convs)
    # the clean net starts as the teacher's too (the run starts as its teacher); the residual net is its own
    heads = [k for k in t if k.startswith("clean_head.")]
    assert heads and all(torch.equal(warm[k], t[k]) for k in heads)
    assert not any(torch.equal(cold[k], t[k]) for k in heads)
    assert any(k.startswith("residual_head.") for k in warm)
    # without a teacher there is nothing to start from: a one-line error, not a silent cold start
    bad = run_cli("train", "--model", "nr", *common, "--teacher-weight", "0", "--pretrain", "teacher",
                  "--out", str(tmp_path / "bad"), check=False)
    assert bad.returncode == 2 and "pretrain 'teacher'" in bad.stderr


def test_nr_fixmatch_starts_from_its_teachers_backbone_learns_none_of_its_targets_runs_its_own_epochs(tiny_fashion, tmp_path):
    from safetensors.torch import load_file
    from weakgan.recipes import reads_teacher, unused_settings, uses_teacher, with_run_schedule
    from weakgan.sweep import run_config, with_dependencies
    warm = Config(model="nr-fixmatch", pretrain="teacher", teacher_weight=3.0, warm_epochs=2.0, warm_lr=1e-4,
                  consistency_epochs=6.0)
    # the teacher is read to start from, never for soft targets, whatever teacher_weight says
    assert reads_teacher(warm) and not uses_teacher(warm)
    assert {"teacher_weight", "teacher_temperature"} <= unused_settings(warm) and "teacher_run" not in unused_settings(warm)
    assert "consistency_epochs" not in unused_settings(warm)
    assert "consistency_epochs" in unused_settings(Config(model="nr-match"))
    # its own epochs at the peak lr, not the warm-started schedule; 0 falls back to it
    assert (with_run_schedule(warm).epochs, with_run_schedule(warm).lr) == (6.0, warm.lr)
    assert with_run_schedule(Config(model="nr-fixmatch", pretrain="teacher", warm_epochs=2.0)).epochs == 2.0
    assert with_dependencies(["nr-fixmatch"], warm) == ["clean-only", "nr-fixmatch"]
    assert with_dependencies(["nr-fixmatch"], Config(model="nr-fixmatch")) == ["nr-fixmatch"]   # from scratch
    # fixmatch's second round starts from fixmatch's run of the split, at its own epochs, and learns no targets
    again = Config(model="fixmatch-round2", pretrain="teacher", teacher_weight=3.0, consistency_epochs=6.0)
    assert with_dependencies(["fixmatch-round2"], again) == ["clean-only", "fixmatch", "fixmatch-round2"]
    assert reads_teacher(again) and not uses_teacher(again) and with_run_schedule(again).epochs == 6.0
    assert run_config(Config(noise="permutation", pretrain="teacher"), "fixmatch-round2", 0.2, 1, Path("o")).teacher_run \
        == str(Path("o/runs/fixmatch_p0.2_permutation_s1"))
    common = ["--data-dir", str(tiny_fashion), "--clean-fraction", "0.2", "--noise", "permutation", *TINY]
    teacher = tmp_path / "teacher"
    run_cli("train", "--model", "clean-only", *common, "--out", str(teacher))
    # lr 0 (warm_lr is not its lr): what it saves is what it started from, the teacher's backbone and a clean net
    # of its own
    run_cli("train", "--model", "nr-fixmatch", *common, "--teacher-run", str(teacher), "--pretrain", "teacher",
            "--consistency-epochs", "2", "--warm-epochs", "1", "--lr", "0", "--warm-lr", "0.0007",
            "--out", str(tmp_path / "fm"))
    saved = yaml.safe_load((tmp_path / "fm" / "config.yaml").read_text())
    assert saved["epochs"] == 2 and saved["lr"] == 0
    steps = {name: json.loads((tmp_path / name / "metrics.json").read_text())["steps"] for name in ("teacher", "fm")}
    assert steps["fm"] * 5 == pytest.approx(steps["teacher"] * 2, abs=5)
    t, fm = load_file(teacher / "model.safetensors"), load_file(tmp_path / "fm" / "model.safetensors")
    convs = [k for k in t if k.startswith("backbone.") and t[k].dim() == 4]
    head = [k for k in t if k.startswith("clean_head.") and k.endswith("weight")]
    assert len(convs) >= 7 and all(torch.equal(fm[k], t[k]) for k in convs)
    assert head and not any(torch.equal(fm[k], t[k]) for k in head)


def test_fixmatch_batches_follow_the_data_where_nr_batches_keep_one_to_nine(tiny_fashion):
    """At 75% clean fixmatch's batches are about three quarters clean (it learns the true labels from the clean
    images alone), where nr-fixmatch's keep clean_share (Hu et al.'s 1:9)."""
    from weakgan.stages.classifier import ClassifierStage
    data = load_dataset("fashion-mnist", str(tiny_fashion))
    clean_rows = {}
    for model in ("fixmatch", "nr-fixmatch"):
        cfg = Config(data_dir=str(tiny_fashion), model=model, clean_fraction=0.75, batch_size=40, head_hidden=32,
                     backbone_width=16, clean_share=0.1)
        split = split_for(cfg, data)
        batch = next(ClassifierStage(cfg, data, split, torch.device("cpu")).batches)
        assert len(batch["clean"]) + len(batch["noisy"]) == 40
        assert set(batch["clean"].tolist()) <= set(split.clean_idx.tolist())
        clean_rows[model] = len(batch["clean"])
        share = len(split.clean_idx) / (len(split.clean_idx) + len(split.noisy_idx))
    assert share > 0.6 and clean_rows == {"fixmatch": round(40 * share), "nr-fixmatch": 4}


def test_fixmatch_never_reads_a_noisy_label_and_nr_fixmatch_does(tiny_fashion, tmp_path):
    """fixmatch learns the clean labels and consistency only: two runs whose noisy labels differ (permutation
    against symmetric noise, the same split and seed) save the same weights, where nr-fixmatch's differ."""
    from safetensors.torch import load_file
    from weakgan.recipes import unused_settings
    unused = unused_settings(Config(model="fixmatch"))
    assert {"clean_share", "alpha"} <= unused   # its batches are in proportion to the data, with no NR loss
    common = ["--data-dir", str(tiny_fashion), "--clean-fraction", "0.2", "--seed", "3", *TINY, "--epochs", "2"]
    weights = {}
    for model in ("fixmatch", "nr-fixmatch"):
        for noise in ("permutation", "symmetric:0.4"):
            out = tmp_path / f"{model}-{noise.split(':')[0]}"
            run_cli("train", "--model", model, *common, "--noise", noise, "--out", str(out))
            weights[model, noise] = load_file(out / "model.safetensors")
        a, b = (Split.load(tmp_path / f"{model}-{n}") for n in ("permutation", "symmetric"))
        assert np.array_equal(a.clean_idx, b.clean_idx) and np.array_equal(a.val_idx, b.val_idx)
        assert np.array_equal(a.noisy_idx, b.noisy_idx) and not np.array_equal(a.noisy_labels, b.noisy_labels)
    same = lambda a, b: a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # noqa: E731
    assert same(weights["fixmatch", "permutation"], weights["fixmatch", "symmetric:0.4"])
    assert not same(weights["nr-fixmatch", "permutation"], weights["nr-fixmatch", "symmetric:0.4"])
