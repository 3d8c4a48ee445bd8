"""NR + WSGAN: no label leaks into the residual branch; the model and its ablation variants train end to end."""
import copy
import dataclasses
import json

import pytest
import torch
import yaml
from conftest import TINY, run_cli

from weakgan import WeakganError
from weakgan.config import Config
from weakgan.data import load_dataset
from weakgan.noise import Split
from weakgan.run import split_for
from weakgan.stages.nr_wsgan import NRWSGANStage

GAN_FLAGS = ["--gan-steps", "3", "--gan-batch-size", "16", "--gan-n-critic", "2", "--gan-g-width", "8",
             "--gan-critic-width", "8", "--gan-z-dim", "16", "--gan-d-width", "8", "--no-gan-d-backbone",
             "--gan-d-batch-size", "16"]


@pytest.fixture(scope="module")
def wsgan_run(tiny_fashion, tmp_path_factory):
    out = tmp_path_factory.mktemp("nrw") / "wsgan"
    run_cli("train", "--model", "wsgan", "--data-dir", str(tiny_fashion), "--clean-fraction", "0.2",
            "--cache-dir", str(out.parent / "cache"), *TINY, "--epochs", "1", *GAN_FLAGS, "--out", str(out))
    return out


def _stage(tiny_fashion, wsgan_run, tmp_path, model="nr-wsgan"):
    cfg = Config(model=model, data_dir=str(tiny_fashion), clean_fraction=0.2, wsgan_run=str(wsgan_run),
                 batch_size=40, threads=1, progress=False, noise="symmetric:0.5", teacher_weight=0.0)
    data = load_dataset("fashion-mnist", str(tiny_fashion))
    tmp_path.mkdir(exist_ok=True)
    split = split_for(cfg, data)
    split.save(tmp_path, data.train.targets.numpy())   # read back by the tests that check the noisy labels
    return NRWSGANStage(cfg, data, split, torch.device("cpu")), cfg


def _inputs_during_training(stage, cfg, residual: torch.nn.Module, clean: torch.nn.Module, steps: int = 4):
    """Train `steps` real steps (shuffled noisy labels, the shared loop) while recording, at every forward pass,
    what the residual branch and the clean branch are given."""
    from weakgan.train import LossStep
    seen = {"residual": [], "clean": []}
    hooks = [residual.register_forward_pre_hook(lambda m, args: seen["residual"].append(args[0].detach().clone())),
             clean.register_forward_pre_hook(lambda m, args: seen["clean"].append(args[0].detach().clone()))]
    step = LossStep(stage, cfg, steps, torch.device("cpu"), "leak")
    weights = copy.deepcopy(stage.model.state_dict())
    for i in range(steps):
        step(i)
    for h in hooks:
        h.remove()
    assert any(not torch.equal(v, weights[k]) for k, v in stage.model.state_dict().items()), "nothing trained"
    return seen


def test_residual_branch_is_given_the_clean_branch_input_only(tiny_fashion, wsgan_run, tmp_path):
    """nr-wsgan: at every training step D (the residual branch) is given exactly the images the clean branch
    is given, while the noisy labels are a shuffle; a label concatenated to its input (the original code's
    mistake) or any other extra input would differ in shape or value."""
    stage, cfg = _stage(tiny_fashion, wsgan_run, tmp_path / "a")
    noisy = torch.as_tensor(Split.load(tmp_path / "a").noisy_idx)   # the split _stage saved there
    perm = torch.randperm(len(noisy), generator=torch.Generator().manual_seed(0))
    stage.labels[noisy] = stage.labels[noisy][perm]   # shuffled: nothing in the labels is about the images
    seen = _inputs_during_training(stage, cfg, stage.model.wsgan, stage.model.backbone)
    assert len(seen["residual"]) == len(seen["clean"]) == 4
    for r, c in zip(seen["residual"], seen["clean"]):
        assert r.shape == c.shape and torch.equal(r, c)


def test_nr_residual_head_is_given_the_shared_features_only(tiny_fashion, tmp_path):
    """nr: the residual head r gets the backbone's features of the images, the clean head the same ones."""
    from weakgan.run import split_for
    from weakgan.stages.classifier import ClassifierStage
    cfg = Config(model="nr", data_dir=str(tiny_fashion), clean_fraction=0.2, batch_size=40, threads=1, progress=False,
                 noise="permutation", teacher_weight=0.0, backbone_width=16, head_hidden=16)
    data = load_dataset("fashion-mnist", str(tiny_fashion))
    stage = ClassifierStage(cfg, data, split_for(cfg, data), torch.device("cpu"))
    seen = _inputs_during_training(stage, cfg, stage.model.residual_head, stage.model.clean_head)
    assert len(seen["residual"]) == 4
    for r, c in zip(seen["residual"], seen["clean"]):
        assert r.shape == c.shape == (40, stage.model.backbone.out_dim) and torch.equal(r, c)


def _one_step_inputs(stage):
    """One loss step: the rows the model was given, the same rows as the batcher makes them (replaying its
    random draws, without any erasing), and how often G was called."""
    given, calls = [], []
    h1 = stage.model.backbone.register_forward_pre_hook(lambda m, args: given.append(args[0].detach().clone()))
    h2 = stage.model.wsgan.generator.register_forward_hook(lambda m, i, o: calls.append(len(o)))
    batches, gen = stage.batches.state_dict(), stage.batcher.gen.get_state()
    stage.loss(next(stage.batches))
    stage.batches.load_state_dict(batches)
    stage.batcher.gen.set_state(gen)
    batch = next(stage.batches)
    plain = stage.batcher(torch.cat([batch["clean"], batch.get("noisy", batch["clean"][:0])]))
    h1.remove()
    h2.remove()
    return given[0], plain, calls


@pytest.mark.parametrize("model", ["nr-wsgan", "nr-wsgan-nofake", "nr-wsgan-round2"])
def test_each_variant_trains_on_what_makes_it_different(tiny_fashion, wsgan_run, tmp_path, model):
    stage, cfg = _stage(tiny_fashion, wsgan_run, tmp_path / model, model)
    if model == "nr-wsgan-round2":
        stage.erase = 1.0   # every real image erased, so that each one must show it
    x, plain, g_calls = _one_step_inputs(stage)
    real = len(plain)
    if model == "nr-wsgan-nofake":   # no generated image, G never run
        assert len(x) == real and g_calls == [] and torch.equal(x, plain)
    elif model == "nr-wsgan":        # real images as the batcher makes them, then fake_share of G's
        assert g_calls == [stage.n_fake] and stage.n_fake > 0 and len(x) == real + stage.n_fake
        assert torch.equal(x[:real], plain)
    else:                            # round 2: every real image has a box set to 0, the rest untouched
        changed = (x[:real] != plain).flatten(1)
        assert changed.any(1).all() and (changed.float().mean(1) <= 0.41).all()
        assert (x[:real].flatten(1)[changed] == 0).all()


def test_nr_wsgan_variants_train(tiny_fashion, wsgan_run, tmp_path):
    teacher = tmp_path / "teacher"   # one clean-only teacher for the three (each would train its own)
    run_cli("train", "--model", "clean-only", "--data-dir", str(tiny_fashion), "--clean-fraction", "0.2", *TINY,
            "--out", str(teacher))
    for model in ("nr-wsgan", "nr-wsgan-nofake", "nr-wsgan-frozen"):
        out = tmp_path / model
        run_cli("train", "--model", model, "--data-dir", str(tiny_fashion), "--clean-fraction", "0.2",
                "--wsgan-run", str(wsgan_run), "--teacher-run", str(teacher), *TINY, "--epochs", "1", "--out", str(out))
        m = json.loads((out / "metrics.json").read_text())
        assert m["model"] == model and 0 <= m["top1"] <= 1 and m["n_test"] == 100
    # the second round of self-training is taught by a finished nr-wsgan run, never by a clean-only one it trains
    args = ("train", "--model", "nr-wsgan-round2", "--data-dir", str(tiny_fashion), "--clean-fraction", "0.2",
            "--wsgan-run", str(wsgan_run), *TINY, "--epochs", "1")
    lost = run_cli(*args, "--out", str(tmp_path / "no-teacher"), check=False)
    assert lost.returncode == 2 and lost.stderr.strip().count("\n") == 0 and "needs --teacher-run" in lost.stderr
    assert not (tmp_path / "no-teacher" / "teacher").exists()
    bad = run_cli(*args, "--teacher-run", str(tmp_path / "nr-wsgan"), "--round2-erase", "1.5",
                  "--out", str(tmp_path / "bad-erase"), check=False)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "round2_erase 1.5" in bad.stderr
    assert not (tmp_path / "bad-erase" / "metrics.json").exists()
    round2 = tmp_path / "round2"
    run_cli(*args, "--teacher-run", str(tmp_path / "nr-wsgan"), "--out", str(round2))
    assert json.loads((round2 / "metrics.json").read_text())["model"] == "nr-wsgan-round2"
    assert yaml.safe_load((round2 / "config.yaml").read_text())["teacher_run"] == str(tmp_path / "nr-wsgan")
    assert (wsgan_run / "generated.png").stat().st_size > 500   # the paper's Fig. 3 for the wsgan run
    # frozen really keeps D fixed
    from safetensors.torch import load_file
    d0 = load_file(wsgan_run / "model.safetensors")
    d1 = load_file(tmp_path / "nr-wsgan-frozen" / "model.safetensors")
    d2 = load_file(tmp_path / "nr-wsgan" / "model.safetensors")
    d_keys = [k for k in d0 if k.startswith("discriminator.")]
    assert d_keys and all(torch.equal(d0[k], d1["wsgan." + k]) for k in d_keys)   # weights and BatchNorm statistics
    assert not all(torch.equal(d0[k], d2["wsgan." + k]) for k in d_keys)            # fine-tuned otherwise


def test_needs_a_wsgan_run(tiny_fashion, tmp_path):
    cfg = Config(model="nr-wsgan", data_dir=str(tiny_fashion), clean_fraction=0.2, teacher_weight=0.0)
    data = load_dataset("fashion-mnist", str(tiny_fashion))
    split = split_for(cfg, data)
    with pytest.raises(WeakganError, match="needs --wsgan-run"):
        NRWSGANStage(cfg, data, split, torch.device("cpu"))
    with pytest.raises(WeakganError, match="not a finished wsgan run"):
        NRWSGANStage(dataclasses.replace(cfg, wsgan_run=str(tmp_path)), data, split, torch.device("cpu"))


def test_sweep_conditions_the_generator_on_its_clean_only_sibling(tiny_fashion, tmp_path):
    out, cache = tmp_path / "sweep", tmp_path / "cache"
    run_cli("sweep", "--models", "wsgan", "--gan-labels", "pseudo", "--fractions", "0.2", "--seeds", "0", "--noise",
            "permutation", "--gan-pseudo-threshold", "0",
            "--data-dir", str(tiny_fashion), "--cache-dir", str(cache), *TINY, "--epochs", "1", *GAN_FLAGS,
            "--out", str(out))
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert runs == ["clean-only_p0.2_permutation_s0", "wsgan_p0.2_permutation_s0"]   # the pseudo-labeller ran
    cfg = yaml.safe_load((out / "runs" / runs[1] / "config.yaml").read_text())
    assert cfg["gan_pseudo_run"] == str(out / "runs" / runs[0])
    [summary] = [json.loads(p.read_text()) for p in cache.glob("generator-*/summary.json")]
    assert summary["conditioning"]["labels"] == "pseudo"
    assert summary["conditioning"]["n_pseudo"] > 0   # threshold 0: every noisy image gets its pseudo-label
