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
from weakgan.run import load_or_make_split
from weakgan.stages.nr_wsgan import NRWSGANStage

GAN_FLAGS = ["--gan-steps", "3", "--gan-batch-size", "16", "--gan-n-critic", "2", "--gan-g-width", "8",
             "--gan-critic-width", "8", "--gan-z-dim", "16", "--gan-d-width", "8", "--no-gan-d-resnet",
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
    split = load_or_make_split(cfg, data, tmp_path)
    return NRWSGANStage(cfg, data, split, torch.device("cpu")), cfg


def test_residual_branch_never_sees_labels(tiny_fashion, wsgan_run, tmp_path):
    stage, _ = _stage(tiny_fashion, wsgan_run, tmp_path / "a")
    stage.model.eval()
    idx = torch.arange(0, 40)
    x = stage.batcher(idx, train=False)
    before = stage.model(x, with_residual=True)[1]
    stage.labels[idx] = (stage.labels[idx] + 3) % 10          # change only the noisy/clean labels
    after = stage.model(x, with_residual=True)[1]
    assert torch.equal(before, after)
    # and through a full training step: with the same images and random draws, the residual
    # predictions entering the loss are identical whatever the labels are
    seen = []
    hook = stage.model.wsgan.register_forward_hook(lambda m, i, o: seen.append(o.detach().clone()))
    stage.model.train()
    for shift in (0, 5):
        stage.labels[idx] = (stage.labels[idx] + shift) % 10
        state, weights = stage.state_dict(), copy.deepcopy(stage.model.state_dict())
        torch.manual_seed(0)
        stage.loss(next(stage.batches))
        stage.load_state_dict(state)
        stage.model.load_state_dict(weights)   # spectral-norm power iterations and BN statistics
    hook.remove()
    assert torch.equal(seen[0], seen[1])


def test_nr_wsgan_variants_train(tiny_fashion, wsgan_run, tmp_path):
    for model in ("nr-wsgan", "nr-wsgan-nofake", "nr-wsgan-frozen"):
        out = tmp_path / model
        run_cli("train", "--model", model, "--data-dir", str(tiny_fashion), "--clean-fraction", "0.2",
                "--wsgan-run", str(wsgan_run), *TINY, "--epochs", "2", "--out", str(out))
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
    key = next(k for k in d0 if k.startswith("discriminator.") and d0[k].dtype.is_floating_point
               and "weight" in k)
    assert torch.equal(d0[key], d1["wsgan." + key]) and not torch.equal(d0[key], d2["wsgan." + key])


def test_needs_a_wsgan_run(tiny_fashion, tmp_path):
    cfg = Config(model="nr-wsgan", data_dir=str(tiny_fashion), clean_fraction=0.2, teacher_weight=0.0)
    data = load_dataset("fashion-mnist", str(tiny_fashion))
    split = load_or_make_split(cfg, data, tmp_path)
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
