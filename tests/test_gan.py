"""The GAN half: networks, attention, losses, augmentation, measures, stages and commands (tiny, seconds)."""
from __future__ import annotations

import argparse
import dataclasses
import csv
import json
import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from weakgan import WeakganError
from weakgan.checkpoint import load_weights, save_weights
from weakgan.config import Config
from weakgan.data import load_dataset
from weakgan.gan_augment import augment_group, augment_view, group_index, translate
from weakgan.gan_losses import (gradient_penalty, lsgan_discriminator_loss, lsgan_generator_loss, pseudo_labels,
                                supervised_loss, wgan_critic_loss, wgan_generator_loss)
from weakgan.gan_metrics import (class_grid, fid_report, frechet_distance, gan_test_accuracy, gaussian_stats,
                                 penultimate_features)
from weakgan.metrics import predict_logits
from weakgan.models.attention import PixelAttention, SpatialAttention
from weakgan.models.backbone import make_backbone, resnet18_backbone
from weakgan.models.gan import (WSGAN, Critic, Generator, WSGANDiscriminator, gan_to_classifier, gan_to_uint8,
                                uint8_to_gan)
from weakgan.stages.gan import (GeneratorPretrainStage, WSGANClassifierStage, conditioning_set, load_generator,
                                pretrain_generator, save_generator, wsgan_settings)
from weakgan.train import fit

CPU = torch.device("cpu")
# Settings that make every GAN stage take seconds (a Config field or, before it exists, an attribute).
TINY_GAN = dict(gan_steps=3, gan_batch_size=16, gan_n_critic=2, gan_g_width=8, gan_critic_width=8, gan_z_dim=16,
                gan_d_width=8, gan_d_backbone=False, gan_d_batch_size=16, progress=False, checkpoint_every=2,
                clean_fraction=0.25, threads=1, eval_batch_size=100)


@pytest.fixture(autouse=True)
def one_thread():
    """One thread: these tiny models gain nothing from two, and lose a lot when the cores are busy."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_cfg(data_dir, **changes) -> Config:
    return dataclasses.replace(Config(data_dir=str(data_dir)), **{**TINY_GAN, **changes})


def tiny_split(cfg, data):
    from weakgan.run import split_for
    return split_for(cfg, data)


def gan_cli(argv: list[str]) -> None:
    """Run a GAN command through add_gan_commands (works before and after cli.py hooks it in)."""
    from weakgan.cli_gan import add_gan_commands
    parser = argparse.ArgumentParser()
    add_gan_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    args.func(args)


# ------------------------------------------------------------------------------------------- networks
@pytest.mark.parametrize("channels,size", [(1, 28), (3, 16), (3, 18), (1, 13), (1, 4)])
def test_generator_and_critic_shapes(channels, size):
    torch.manual_seed(0)
    g = Generator(5, channels, size, z_dim=8, width=8)
    y = torch.tensor([0, 1, 4])
    x = g(g.sample_z(3), y)
    assert x.shape == (3, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1
    assert Critic(5, channels, size, width=8)(x, y).shape == (3,)


def test_generator_crops_sizes_that_are_not_multiples_of_4():
    g = Generator(2, 1, 18, z_dim=4, width=4)
    assert g.fc.out_features == 4 * 4 * 5 * 5 and g.crop == slice(1, 19)   # 20x20, centre 18x18 kept
    with pytest.raises(WeakganError, match="below 4 pixels"):
        Generator(10, 1, 3)


def test_generator_depends_on_the_class():
    torch.manual_seed(0)
    g = Generator(3, 1, 12, z_dim=4, width=4)
    nn.init.normal_(g.bn1.gain.weight)        # conditional BatchNorm starts neutral; make it class-specific
    g.eval()
    z = g.sample_z(1).repeat(2, 1)
    a, b = g(z, torch.tensor([0, 1]))
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("backbone", [None, "smallcnn"])
def test_discriminator_shapes(backbone):
    torch.manual_seed(0)
    d = WSGANDiscriminator(10, 1, width=8, backbone=backbone and make_backbone(backbone, 1, width=8))
    x = torch.randn(4, 1, 28, 28)
    assert d(x).shape == (4, 11)
    model = WSGAN(d, Generator(10, 1, 28, width=4))
    assert model(x).shape == (4, 10)
    model.eval()   # (in training mode every call advances spectral norm's power iteration)
    assert torch.allclose(model(x), d(x)[:, :10])
    model.train()
    assert d.training and not model.generator.training   # G samples with its running statistics


def test_discriminator_sums_its_three_branches():
    torch.manual_seed(0)
    d = WSGANDiscriminator(3, 1, width=4, backbone=resnet18_backbone(1)).eval()
    x = torch.randn(2, 1, 28, 28)
    parts = d.global_branch(x) + d.local_branch(x) + d.backbone_branch(x)
    assert torch.allclose(d(x), parts, atol=1e-5)


def test_discriminator_without_attention_is_its_backbone_branch():
    torch.manual_seed(0)
    d = WSGANDiscriminator(3, 1, width=4, backbone=make_backbone("smallcnn", 1, width=8), attention=False).eval()
    x = torch.randn(2, 1, 28, 28)
    assert d.global_branch is None and d.local_branch is None and torch.equal(d(x), d.backbone_branch(x))
    with pytest.raises(WeakganError, match="no branch left"):
        WSGANDiscriminator(3, 1, width=4, backbone=None, attention=False)


@pytest.mark.parametrize("backbone", ["resnet18", "smallcnn"])
def test_backbone_branch_is_the_runs_backbone_and_loads_contrastive_weights(tiny_fashion, tmp_path, backbone):
    torch.manual_seed(1)
    source = make_backbone(backbone, 1, "imagenet", 8)
    save_weights(tmp_path / "backbone.safetensors", {f"backbone.{k}": v for k, v in source.state_dict().items()})
    cfg = tiny_cfg(tiny_fashion, gan_d_backbone=True, backbone=backbone, backbone_width=8)
    data = load_dataset("fashion-mnist", str(tiny_fashion))
    stage = WSGANClassifierStage(cfg, data, tiny_split(cfg, data), CPU, str(tmp_path / "backbone.safetensors"))
    branch = stage.model.discriminator.backbone_branch.backbone
    assert type(branch) is type(source) and torch.equal(branch.conv1.weight, source.conv1.weight)


def test_pixel_space_conversions():
    u = torch.tensor([0, 51, 255], dtype=torch.uint8)
    assert torch.allclose(uint8_to_gan(u), torch.tensor([-1.0, 51 / 127.5 - 1, 1.0]))
    assert torch.equal(gan_to_uint8(uint8_to_gan(u)), u)
    mean, std = 0.3, 0.35
    assert torch.allclose(gan_to_classifier(uint8_to_gan(u), mean, std), (u.float() / 255 - mean) / std, atol=1e-6)


# ------------------------------------------------------------------------------------------ attention
def test_pixel_attention_hand_computed():
    # X = [[1, 0], [0, 2]] (2 channels, 2 positions): X X^T / sqrt(2) = diag(1, 4) / sqrt(2)
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0]]).view(1, 2, 1, 2)
    att = PixelAttention(gamma_init=1.0)
    r = 1 / math.sqrt(2)
    a0 = torch.tensor([math.exp(r), 1.0]) / (math.exp(r) + 1)          # row 0 over channels 0, 1
    a1 = torch.tensor([1.0, math.exp(4 * r)]) / (1 + math.exp(4 * r))
    assert torch.allclose(att.attention(x)[0], torch.stack([a0, a1]), atol=1e-6)
    mixed = torch.stack([a0[0] * x[0, 0, 0] + a0[1] * x[0, 1, 0], a1[0] * x[0, 0, 0] + a1[1] * x[0, 1, 0]])
    assert torch.allclose(att(x)[0, :, 0], x[0, :, 0] + mixed, atol=1e-6)


def test_pixel_attention_is_channel_permutation_equivariant():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 5, 4)
    att = PixelAttention(gamma_init=0.7)
    perm = torch.randperm(6)
    assert att.attention(x).shape == (2, 6, 6)
    assert torch.allclose(att.attention(x).sum(-1), torch.ones(2, 6), atol=1e-6)
    assert torch.allclose(att(x[:, perm]), att(x)[:, perm], atol=1e-5)
    assert torch.equal(PixelAttention()(x), x)   # gamma starts at 0: the identity


def test_spatial_attention_is_position_permutation_equivariant():
    torch.manual_seed(0)
    b, c, h, w = 2, 16, 5, 4
    att = SpatialAttention(c, gamma_init=0.8)
    x = torch.randn(b, c, h, w)
    perm = torch.randperm(h * w)
    permuted = x.flatten(2)[:, :, perm].view(b, c, h, w)
    expected = att(x).flatten(2)[:, :, perm].view(b, c, h, w)
    assert torch.allclose(att(permuted), expected, atol=1e-5)
    assert att.attention(x).shape == (b, h * w, h * w)
    assert torch.allclose(att.attention(x).sum(-1), torch.ones(b, h * w), atol=1e-6)


def test_spatial_attention_matches_explicit_sum():
    torch.manual_seed(1)
    c, h, w = 8, 3, 3
    att = SpatialAttention(c, gamma_init=0.5)
    x = torch.randn(1, c, h, w)
    with torch.no_grad():
        q, k, v = (conv(x)[0].flatten(1) for conv in (att.query, att.key, att.value))   # (d|C, N)
    n = h * w
    out = torch.empty(c, n)
    for i in range(n):
        e = torch.tensor([float(q[:, i] @ k[:, j]) / math.sqrt(q.shape[0]) for j in range(n)])
        a = torch.softmax(e, 0)
        out[:, i] = x[0].flatten(1)[:, i] + 0.5 * sum(a[j] * v[:, j] for j in range(n))
    assert torch.allclose(att(x)[0].flatten(1), out, atol=1e-5)


# --------------------------------------------------------------------------------------------- losses
def test_gradient_penalty_on_linear_critic_by_hand():
    # critic(x) = <w, x>: its gradient is w everywhere, so the penalty is (||w|| - 1)^2 at every x_hat
    w = torch.tensor([3.0, 4.0, 0.0, 0.0]).view(1, 1, 2, 2).requires_grad_(True)

    def critic(x, y):
        return (x * w).flatten(1).sum(1)

    real, fake = torch.randn(5, 1, 2, 2), torch.randn(5, 1, 2, 2)
    gp = gradient_penalty(critic, real, fake, torch.zeros(5, dtype=torch.long), gen=torch.Generator().manual_seed(0))
    assert gp.item() == pytest.approx((5.0 - 1.0) ** 2, rel=1e-5)
    gp.backward()   # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    assert torch.allclose(w.grad, 2 * 4.0 * w.detach() / 5.0, atol=1e-4)


def test_gradient_penalty_zero_for_unit_gradient():
    w = torch.tensor([0.6, 0.8]).view(1, 2)
    gp = gradient_penalty(lambda x: (x * w).sum(1), torch.randn(3, 2), torch.randn(3, 2))
    assert gp.item() == pytest.approx(0.0, abs=1e-6)


def test_wgan_losses():
    real, fake = torch.tensor([2.0, 4.0]), torch.tensor([1.0, -1.0])
    assert wgan_critic_loss(real, fake).item() == pytest.approx(0.0 - 3.0)
    assert wgan_generator_loss(fake).item() == pytest.approx(0.0)


def test_lsgan_losses_with_a0_b1():
    real, fake = torch.tensor([1.0, 0.5, 2.0]), torch.tensor([0.0, 0.5])
    # real: ((0)^2 + (-0.5)^2 + 1^2) / 3; fake: (0 + 0.25) / 2
    expected = (0.25 + 1.0) / 3 + 0.25 / 2
    assert lsgan_discriminator_loss(real, fake).item() == pytest.approx(expected)
    assert lsgan_discriminator_loss(torch.ones(4), torch.zeros(4)).item() == 0.0   # the perfect D
    assert lsgan_generator_loss(fake).item() == pytest.approx((1.0 + 0.25) / 2)


def test_pseudo_label_thresholding():
    probs = torch.tensor([[0.96, 0.02, 0.02], [0.5, 0.3, 0.2], [0.05, 0.95, 0.0], [0.1, 0.1, 0.8]])
    logits = torch.log(probs + 1e-12)
    assert pseudo_labels(logits, 0.95).tolist() == [0, -1, 1, -1]
    assert pseudo_labels(logits, 0.955).tolist() == [0, -1, -1, -1]
    assert pseudo_labels(logits, 0.5).tolist() == [0, 0, 1, 2]
    assert pseudo_labels(logits, 1.01).tolist() == [-1, -1, -1, -1]


def test_supervised_loss_skips_unlabelled():
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [5.0, -5.0]], requires_grad=True)
    labels = torch.tensor([0, -1, 1])
    expected = torch.nn.functional.cross_entropy(logits[[0, 2]], labels[[0, 2]])
    assert supervised_loss(logits, labels).item() == pytest.approx(expected.item())
    none = supervised_loss(logits, torch.full((3,), -1))
    none.backward()
    assert none.item() == 0.0


# ------------------------------------------------------------------------------------------ augmentation
def test_augment_group_layout_and_views():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(5, 1, 12, 12)
    group = augment_group(x, gen, views=2, fill=-1.0, vflip=True)
    assert group.shape == (15, 1, 12, 12)
    assert torch.equal(group[:5], x)                          # originals first, untouched
    assert not torch.allclose(group[5:10], x)
    assert group_index(5, 2).tolist() == [0, 1, 2, 3, 4] * 3


def test_views_and_translation_are_differentiable_and_fill_borders():
    gen = torch.Generator().manual_seed(0)
    x = torch.full((8, 1, 10, 10), 0.5, requires_grad=True)
    shifted = translate(x, gen, max_shift=3, fill=-1.0)
    assert set(torch.unique(shifted.detach()).tolist()) <= {-1.0, 0.5}   # only the fill enters
    (shifted.sum() + augment_view(x, gen, fill=-1.0).sum()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


# --------------------------------------------------------------------------------------------- measures
def test_frechet_distance_diagonal_by_hand():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    # diagonal: |mu1 - mu2|^2 + sum (sqrt(s1) - sqrt(s2))^2 = 5 + (1 + 1 + 0)
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(7.0, abs=1e-8)
    assert frechet_distance(mu1, np.diag(s1), mu1, np.diag(s1)) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_uses_the_matrix_square_root():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    s1, s2 = a @ a.T + np.eye(4), b @ b.T + np.eye(4)   # non-commuting covariances
    w, v = np.linalg.eigh(s1)
    r1 = v @ np.diag(np.sqrt(w)) @ v.T                     # tr((S1 S2)^1/2) = tr((r1 S2 r1)^1/2)
    expected = np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.linalg.eigvalsh(r1 @ s2 @ r1)).sum()
    assert frechet_distance(np.zeros(4), s1, np.zeros(4), s2) == pytest.approx(expected, rel=1e-6)


def test_frechet_distance_singular_covariances():
    import warnings
    s = np.diag([1.0, 4.0, 0.0])                   # a dead feature unit: zero variance
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert frechet_distance(np.zeros(3), s, np.ones(3), s) == pytest.approx(3.0, abs=1e-4)


def test_penultimate_features_follow_execution_not_registration():
    class TwoHeads(nn.Module):   # like NRModel: a later-registered head that forward() does not use
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU())
            self.head = nn.Linear(3, 2)
            self.unused = nn.Linear(3, 2)

        def forward(self, x):
            return self.head(self.body(x))

    torch.manual_seed(0)
    model = TwoHeads()
    images = torch.randint(0, 256, (5, 1, 2, 2), dtype=torch.uint8)
    feats = penultimate_features(model, images, 0.5, 0.25, CPU, batch_size=2)
    with torch.no_grad():
        expected = model.body((images.float() / 255 - 0.5) / 0.25).double().numpy()
    assert np.allclose(feats, expected)
    mu, cov = gaussian_stats(feats)
    assert mu.shape == (3,) and cov.shape == (3, 3)


# ------------------------------------------------------------------------------------------ stages, e2e
def test_pretrain_wsgan_generate_end_to_end(tiny_fashion, tmp_path):
    cfg = tiny_cfg(tiny_fashion)
    data = load_dataset("fashion-mnist", str(tiny_fashion))
    split = tiny_split(cfg, data)
    cache = tmp_path / "cache"
    path = pretrain_generator(cfg, data, split, CPU, cache, log=lambda *a: None)
    folder = path.parent
    for name in ("generator.safetensors", "generator.json", "classes.json", "config.yaml", "summary.json", "grid.png"):
        assert (folder / name).is_file(), name
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["steps"] == 3 and summary["conditioning"]["n_clean"] == len(split.clean_idx)
    assert summary["precision"] == "none" and summary["precision_reason"]   # fp32 (stage 1), and the choice is on record
    stamp = path.stat().st_mtime_ns
    assert pretrain_generator(cfg, data, split, CPU, cache) == path and path.stat().st_mtime_ns == stamp  # cached
    other = pretrain_generator(dataclasses.replace(cfg, gan_n_critic=1), data, split, CPU, cache, log=lambda *a: None)
    assert other != path                                              # settings are part of the key

    # stage 2 + 3 through fit(), then the classifier interface run.py uses
    stage = WSGANClassifierStage(cfg, data, split, CPU, generator_weights=path, total_steps=4)
    g_before = {k: v.clone() for k, v in stage.model.generator.state_dict().items()}
    summary = fit(stage, stage.cfg, 4, tmp_path / "run" / "last.pt", {"model": "wsgan"}, name="wsgan")
    assert summary["steps"] == 4 and {"sup", "pseudo", "unsup", "d_real", "d_fake"} <= set(summary["history"][-1])
    assert all(torch.equal(g_before[k], v) for k, v in stage.model.generator.state_dict().items())  # G fixed
    logits = predict_logits(stage.model, data.test.images[:7], stage.mean, stage.std, CPU)
    assert logits.shape == (7, 10) and stage.score == "softmax"
    save_weights(tmp_path / "model.safetensors", stage.model.state_dict())    # as run.py saves a run
    again = WSGANClassifierStage(cfg, data, split, CPU)                      # as evaluate_run rebuilds it
    again.model.load_state_dict(load_weights(tmp_path / "model.safetensors"))
    assert torch.allclose(predict_logits(again.model, data.test.images[:7], again.mean, again.std, CPU), logits)

    # generate: a one-class grid and an image folder with manifest.csv
    gan_cli(["generate", str(folder), "--class", "Trouser", "--n", "6", "--out", str(tmp_path / "grid.png"),
             "--device", "cpu"])
    assert (tmp_path / "grid.png").stat().st_size > 0
    gan_cli(["generate", str(folder), "--per-class", "2", "--out", str(tmp_path / "gen"), "--device", "cpu"])
    rows = list(csv.DictReader(open(tmp_path / "gen" / "manifest.csv")))
    assert len(rows) == 20 and rows[0] == {"path": "T-shirt_top/00000.png", "label": "T-shirt/top"}
    assert all((tmp_path / "gen" / r["path"]).is_file() for r in rows)
    from weakgan.data.manifest import read_manifest
    assert len(read_manifest(tmp_path / "gen" / "manifest.csv", test=True)) == 20   # usable as a test manifest
    with pytest.raises(WeakganError, match="class 'Hat'"):
        gan_cli(["generate", str(folder), "--class", "Hat", "--out", str(tmp_path / "x.png"), "--device", "cpu"])


def test_wsgan_stage_3_updates_generator_and_backbone_branch_trains(tiny_fashion, tmp_path):
    torch.manual_seed(0)
    cfg = tiny_cfg(tiny_fashion, gan_g_every=1, gan_d_backbone=True, backbone="resnet18", gan_views=2)
    data = load_dataset("fashion-mnist", str(tiny_fashion))
    split = tiny_split(cfg, data)
    stage = WSGANClassifierStage(cfg, data, split, CPU, total_steps=2)
    before = {k: v.clone() for k, v in stage.model.state_dict().items()}
    summary = fit(stage, stage.cfg, 2, tmp_path / "last.pt", {"m": 1}, name="wsgan")
    after = stage.model.state_dict()
    assert "g_adv" in summary["history"][-1] and "g_class" in summary["history"][-1]
    assert not torch.equal(before["generator.fc.weight"], after["generator.fc.weight"])
    assert not torch.equal(before["discriminator.backbone_branch.head.net.2.weight"],
                           after["discriminator.backbone_branch.head.net.2.weight"])
    assert stage.cfg.gan_views == 2 and stage.cfg.ema == 0.0 and wsgan_settings(cfg).batch_size == 16


@pytest.mark.parametrize("fraction, share, clean_rows", [(0.25, 0.0, 4), (0.75, 0.0, 11), (0.75, 0.5, 8)])
def test_wsgan_batch_clean_share_auto_follows_a_large_clean_set(tiny_fashion, fraction, share, clean_rows):
    """gan_clean_share 0: a quarter of a D batch clean, or the split's clean share where that is larger."""
    cfg = tiny_cfg(tiny_fashion, clean_fraction=fraction, gan_clean_share=share)
    data = load_dataset("fashion-mnist", str(tiny_fashion))
    split = tiny_split(cfg, data)
    stage = WSGANClassifierStage(cfg, data, split, CPU, total_steps=2)
    batch = next(stage.batches)
    assert len(batch["clean"]) == clean_rows and len(batch["clean"]) + len(batch["noisy"]) == 16
    assert set(batch["clean"].tolist()) <= set(split.clean_idx.tolist())


def test_wsgan_pseudo_labels_join_after_warmup(tiny_fashion):
    torch.manual_seed(0)
    cfg = tiny_cfg(tiny_fashion, gan_pseudo_threshold=0.0, gan_pseudo_warmup=0.5)
    data = load_dataset("fashion-mnist", str(tiny_fashion))
    stage = WSGANClassifierStage(cfg, data, tiny_split(cfg, data), CPU, total_steps=4)
    stage.model.train()
    assert stage.train_step(0)["pseudo_share"] == 0.0   # before gan_pseudo_warmup * steps
    logs = stage.train_step(2)
    assert logs["pseudo_share"] == 1.0 and logs["pseudo"] > 0     # threshold 0: every noisy image


def assert_resumes_exactly(make_stage, name: str, tmp_path) -> None:
    """4 steps straight and 2 + 2 steps through a checkpoint end with the same weights."""
    def run(steps, ckpt):
        torch.manual_seed(0)
        stage = make_stage()
        fit(stage, stage.cfg, steps, ckpt, {"k": 1}, name=name)   # a stage may adapt its settings (WSGAN)
        return stage.model.state_dict()

    straight = run(4, tmp_path / "a.pt")
    run(2, tmp_path / "b.pt")
    resumed = run(4, tmp_path / "b.pt")
    assert all(torch.allclose(straight[k].float(), resumed[k].float(), atol=1e-6) for k in straight)


def test_generator_pretraining_resumes_exactly(tiny_fashion, tmp_path):
    cfg = dataclasses.replace(tiny_cfg(tiny_fashion), ema=0.0)
    data = load_dataset("fashion-mnist", str(tiny_fashion))
    idx, labels, _ = conditioning_set(cfg, data, tiny_split(cfg, data), CPU)
    assert_resumes_exactly(lambda: GeneratorPretrainStage(cfg, data, idx, labels, CPU), "generator", tmp_path)


def test_wsgan_stage_resumes_exactly(tiny_fashion, tmp_path):
    cfg = tiny_cfg(tiny_fashion, gan_g_every=2, gan_pseudo_threshold=0.0, gan_pseudo_warmup=0.0)
    data = load_dataset("fashion-mnist", str(tiny_fashion))
    split = tiny_split(cfg, data)
    assert_resumes_exactly(lambda: WSGANClassifierStage(cfg, data, split, CPU, total_steps=4), "wsgan", tmp_path)


def test_nan_loss_stops_with_a_clear_message(tiny_fashion, tmp_path):
    cfg = dataclasses.replace(tiny_cfg(tiny_fashion), ema=0.0)
    data = load_dataset("fashion-mnist", str(tiny_fashion))
    idx, labels, _ = conditioning_set(cfg, data, tiny_split(cfg, data), CPU)
    stage = GeneratorPretrainStage(cfg, data, idx, labels, CPU)
    with torch.no_grad():
        stage.model.critic.linear.bias.fill_(float("nan"))
    with pytest.raises(WeakganError, match=r"generator: loss is nan \(critic\) at step 0"):
        fit(stage, cfg, 2, tmp_path / "c.pt", {"k": 1}, name="generator")
    assert not (tmp_path / "c.pt").exists()


def test_pseudo_conditioning_needs_a_run_on_the_same_split(tiny_fashion, tmp_path):
    data = load_dataset("fashion-mnist", str(tiny_fashion))
    cfg = tiny_cfg(tiny_fashion, gan_labels="pseudo")
    split = tiny_split(cfg, data)
    with pytest.raises(WeakganError, match="needs gan_pseudo_run"):
        conditioning_set(cfg, data, split, CPU)
    other = tiny_split(dataclasses.replace(cfg, seed=1), data)
    other.save(tmp_path, data.train.targets.numpy())
    with pytest.raises(WeakganError, match="another clean split"):
        conditioning_set(dataclasses.replace(cfg, gan_pseudo_run=str(tmp_path)), data, split, CPU)
    with pytest.raises(WeakganError, match="expected clean or pseudo"):
        conditioning_set(dataclasses.replace(cfg, gan_labels="truth"), data, split, CPU)


def test_gan_measures_with_a_perfect_classifier(tiny_fashion, tmp_path):
    """GAN-test and FID plumbing against a classifier that reads the synthetic images' class block."""
    data = load_dataset("fashion-mnist", str(tiny_fashion))

    class BlockReader(nn.Module):   # conftest's class k: a bright 6x6 block at a class-specific place
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(10, 10)
            with torch.no_grad():
                self.linear.weight.copy_(torch.eye(10))
                self.linear.bias.zero_()

        def forward(self, x):
            means = [x[:, 0, 2 + (k // 4) * 8:8 + (k // 4) * 8, 2 + (k % 4) * 6:8 + (k % 4) * 6].mean((1, 2))
                     for k in range(10)]
            return self.linear(torch.stack(means, 1))

    class Painter(Generator):   # draws each class's block exactly: a "perfect" generator for this data
        def forward(self, z, y):
            x = torch.full((len(y), 1, 28, 28), -0.7) + 0.05 * z[:, :1, None, None]
            for i, k in enumerate(y.tolist()):
                x[i, :, 2 + (k // 4) * 8:8 + (k // 4) * 8, 2 + (k % 4) * 6:8 + (k % 4) * 6] = 0.8
            return x

    clf, painter = BlockReader(), Painter(10, 1, 28, z_dim=4, width=4)
    assert gan_test_accuracy(clf, 0.0, 1.0, painter, 5, CPU)["accuracy"] == 1.0
    wrong = gan_test_accuracy(clf, 0.0, 1.0, Generator(10, 1, 28, z_dim=4, width=4), 5, CPU)["accuracy"]
    assert wrong < 0.5
    report = fid_report(clf, 0.0, 1.0, painter, data.train.images, data.test.images, 100, CPU)
    assert report["n"] == 100 and report["floor"] >= 0 and math.isfinite(report["fid"])
    save_generator(tmp_path, Generator(10, 1, 28, z_dim=4, width=4))
    assert load_generator(tmp_path).arch["z_dim"] == 4
    class_grid(load_generator(tmp_path), data.class_names, tmp_path / "fig3.png", per_class=3)
    assert (tmp_path / "fig3.png").stat().st_size > 0


def test_pretrain_gan_command(tiny_fashion, tmp_path, capsys):
    flags = ["--data-dir", str(tiny_fashion), "--cache-dir", str(tmp_path), "--clean-fraction", "0.25",
             "--no-progress", "--threads", "1", "--gan-steps", "2", "--gan-batch-size", "8", "--gan-n-critic", "1",
             "--gan-g-width", "4", "--gan-critic-width", "4"]
    gan_cli(["pretrain-gan", *flags])
    out = capsys.readouterr().out
    assert "generator:" in out and "grid.png" in out
    folder = next(tmp_path.glob("generator-*"))
    assert load_generator(folder).arch["width"] == 4


@pytest.fixture(scope="module")
def tiny_classifier_run(tiny_fashion, tmp_path_factory):
    """A finished clean-only run on the tiny data (the same clean split as tiny_cfg's)."""
    from weakgan.run import train_run
    out = tmp_path_factory.mktemp("clf_run")
    before = torch.get_num_threads()
    # min_steps 0 and a narrow backbone: the tests read this run's predictions, not its accuracy
    cfg = Config(data_dir=str(tiny_fashion), model="clean-only", clean_fraction=0.25, epochs=2, batch_size=50,
                 min_steps=0, backbone_width=16, head_hidden=16, progress=False, threads=1, ema=0.0,
                 eval_batch_size=100, lr=3e-3)
    train_run(cfg, out)
    torch.set_num_threads(before)
    return out


def test_pseudo_conditioning_and_gan_eval_with_a_classifier_run(tiny_fashion, tiny_classifier_run, tmp_path,
                                                               capsys):
    from weakgan.run_folder import load_trained_classifier
    data = load_dataset("fashion-mnist", str(tiny_fashion))
    cfg = tiny_cfg(tiny_fashion, gan_labels="pseudo", gan_pseudo_run=str(tiny_classifier_run),
                   gan_pseudo_threshold=0.0)
    split = tiny_split(cfg, data)
    idx, labels, info = conditioning_set(cfg, data, split, CPU, log=lambda *a: None)
    n_clean = len(split.clean_idx)
    assert info["n_pseudo"] == len(split.noisy_idx) and len(idx) == n_clean + len(split.noisy_idx)
    assert torch.equal(labels[:n_clean], data.train.targets[split.clean_idx])
    # the noisy images' labels are the classifier's predictions, not their hidden targets
    probs = load_trained_classifier(tiny_classifier_run, "cpu").probabilities(data.train.images[idx[n_clean:]])
    assert torch.equal(labels[n_clean:], torch.from_numpy(probs.argmax(1)))
    strict = conditioning_set(dataclasses.replace(cfg, gan_pseudo_threshold=1.01), data, split, CPU,
                              log=lambda *a: None)
    assert strict[2]["n_pseudo"] == 0

    path = pretrain_generator(cfg, data, split, CPU, tmp_path, log=lambda *a: None)
    gan_cli(["gan-eval", str(path.parent), "--classifier", str(tiny_classifier_run), "--n", "60",
             "--per-class", "3", "--device", "cpu"])
    assert "GAN-test accuracy" in capsys.readouterr().out
    result = json.loads((path.parent / "gan_metrics.json").read_text())
    assert 0 <= result["gan_test_accuracy"] <= 1 and result["fid_n"] == 60
    assert math.isfinite(result["fid"]) and result["fid_floor"] >= 0
    assert result["fid_reference"] == "test images"


def test_wsgan_d_starts_as_its_clean_only_teacher(tiny_fashion, tmp_path):
    """pretrain: teacher: D's backbone branch and class logits are the clean-only run's (the attention branches
    and the real/fake output start at zero), and a teacher from another clean split is refused. With
    gan_pseudo_source: teacher, D's noisy rows learn that run's soft targets."""
    from conftest import TINY, run_cli
    from weakgan.recipes import sibling_runs
    from weakgan.run import backbone_weights_for
    from weakgan.run_folder import load_trained_classifier
    from weakgan.sweep import with_dependencies
    common = ["--data-dir", str(tiny_fashion), "--noise", "permutation", *TINY]
    teacher = tmp_path / "clean-only"
    run_cli("train", "--model", "clean-only", "--clean-fraction", "0.25", *common, "--out", str(teacher))
    cfg = tiny_cfg(tiny_fashion, model="wsgan", gan_d_backbone=True, backbone="smallcnn", backbone_width=16,
                   head_hidden=32, pretrain="teacher", teacher_run=str(teacher), noise="permutation")
    assert ("teacher_run", "clean-only") in sibling_runs(cfg) \
        and with_dependencies(["wsgan"], dataclasses.replace(cfg, teacher_run=""))[0] == "clean-only"
    data = load_dataset("fashion-mnist", str(tiny_fashion))
    weights = backbone_weights_for(cfg, data, CPU)
    stage = WSGANClassifierStage(cfg, data, tiny_split(cfg, data), CPU, weights)
    clf = load_trained_classifier(teacher, "cpu")
    x = torch.randn(6, 1, 28, 28)
    stage.model.eval()
    out = stage.model(x, full=True)
    assert torch.allclose(out[:, :10], clf.model(x), atol=1e-5) and torch.equal(out[:, 10], torch.zeros(6))
    # a teacher of another split would bring that split's clean labels, some of them this split's noisy images
    moved = dataclasses.replace(cfg, clean_fraction=0.5)
    with pytest.raises(WeakganError, match="another clean split"):
        WSGANClassifierStage(moved, data, tiny_split(moved, data), CPU, backbone_weights_for(moved, data, CPU))
    with pytest.raises(WeakganError, match="gan_d_backbone is off"):
        WSGANClassifierStage(dataclasses.replace(cfg, gan_d_backbone=False), data, tiny_split(cfg, data), CPU, weights)
    # gan_pseudo_source: teacher: the noisy rows learn the teacher's soft targets (those nr's clean net learns),
    # from the first step, with no confidence threshold; a D without it has no targets there during the warm-up
    from weakgan.recipes import uses_teacher
    from weakgan.teacher import teacher_targets
    taught = dataclasses.replace(cfg, gan_pseudo_source="teacher", pretrain="none", gan_pseudo_warmup=0.5)
    assert not uses_teacher(cfg) and uses_teacher(taught) and ("teacher_run", "clean-only") in sibling_runs(taught)
    # so its warm-up is no setting of that run (a finished run differing in it is still the one asked for)
    from weakgan.recipes import unused_settings
    assert "gan_pseudo_warmup" in unused_settings(taught) and "gan_pseudo_warmup" not in unused_settings(cfg)
    # ... and its threshold is read only by a pseudo-conditioned generator
    assert "gan_pseudo_threshold" in unused_settings(dataclasses.replace(taught, gan_labels="clean"))
    assert "gan_pseudo_threshold" not in unused_settings(dataclasses.replace(taught, gan_labels="pseudo"))
    split = tiny_split(taught, data)
    stages = {}
    for c, has_targets in ((taught, True), (dataclasses.replace(taught, gan_pseudo_source="own"), False)):
        torch.manual_seed(0)
        stages[has_targets] = WSGANClassifierStage(c, data, split, CPU, None, total_steps=10)
        logs = stages[has_targets].train_step(0)
        assert float(logs["pseudo_share"]) == (1.0 if has_targets else 0.0)
        assert (float(logs["pseudo"]) > 0) == has_targets and torch.isfinite(logs["pseudo"])
    expected = teacher_targets(teacher, data, split, taught.teacher_temperature, CPU, taught.teacher_posterior)
    assert torch.equal(stages[True].teacher_targets(), expected) and stages[False].teacher_source is None


def test_the_wsgan_d_trains_in_the_runs_precision_and_keeps_it_on_resume(tiny_fashion, tmp_path):
    """--amp bf16: D's steps run under autocast (its outputs are bf16) and metrics say so; a resumed run keeps
    the precision it started with; stage 1 (WGAN-GP) stays fp32 whatever is asked."""
    data = load_dataset("fashion-mnist", str(tiny_fashion))
    cfg = tiny_cfg(tiny_fashion, amp="bf16")
    dtypes = []

    def stage_for(c):
        torch.manual_seed(0)
        stage = WSGANClassifierStage(c, data, tiny_split(c, data), CPU, total_steps=4)
        stage.model.discriminator.local_branch.head.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
        return stage

    summary = fit(stage_for(cfg), cfg, 2, tmp_path / "d.pt", {"k": 1}, name="wsgan")
    assert summary["precision"] == "bf16" and set(dtypes) == {torch.bfloat16}
    dtypes.clear()
    fp32 = dataclasses.replace(cfg, amp="none")
    summary = fit(stage_for(fp32), fp32, 4, tmp_path / "d.pt", {"k": 1}, name="wsgan")   # resumed at step 2
    assert summary["precision"] == "bf16" and set(dtypes) == {torch.bfloat16} and len(dtypes) == 2
    idx, labels, _ = conditioning_set(cfg, data, tiny_split(cfg, data), CPU)
    summary = fit(GeneratorPretrainStage(cfg, data, idx, labels, CPU), cfg, 2, tmp_path / "g.pt", {"k": 1},
                  name="generator")
    assert summary["precision"] == "none"
