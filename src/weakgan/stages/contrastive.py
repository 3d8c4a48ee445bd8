"""Label-free pretraining of the run's backbone on the training images (SimCLR, Chen et al. 2020).

Where the paper uses an ImageNet-pretrained ResNet18, weakgan pretrains on the user's own training
images instead: two augmented views of every image, NT-Xent loss on a projection of the features.
The result is cached under cache/contrastive-<key>/ and reused by every run with the same data and
settings (models/backbone.py loads it).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from weakgan.augment import contrastive_view
from weakgan.checkpoint import atomic_write_text, cache_lock, save_weights
from weakgan.config import Config
from weakgan.data.dataset import Dataset
from weakgan.models.backbone import make_backbone, resolve_backbone
from weakgan.stages.base import Stage
from weakgan.sampling import MixedBatches
from weakgan.data.batcher import Batcher, normalization
from weakgan.train import fit


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """Normalized-temperature cross-entropy: each view must pick its partner among the 2N-1 others."""
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    n = z1.shape[0]
    sim = z @ z.T / temperature
    sim.fill_diagonal_(float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, partner)


class SimCLR(nn.Module):
    def __init__(self, in_channels: int, backbone: str, stem: str, width: int, proj_dim: int = 128):
        super().__init__()
        self.backbone = make_backbone(backbone, in_channels, stem, width)
        d = self.backbone.out_dim
        self.projector = nn.Sequential(nn.Linear(d, d), nn.BatchNorm1d(d), nn.ReLU(inplace=True),
                                       nn.Linear(d, proj_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projector(self.backbone(x))


class ContrastiveStage(Stage):
    def __init__(self, cfg: Config, data: Dataset, device: torch.device):
        self.cfg = cfg
        self.model = SimCLR(data.train.shape[0], cfg.backbone, cfg.stem, cfg.backbone_width).to(device)
        self.train_model = self.model
        if cfg.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.batches = MixedBatches({"all": torch.arange(len(data.train))}, {"all": cfg.batch_size}, cfg.seed)
        self.mean, self.std = normalization(data.train.images)
        self.batcher = Batcher(data.train.images, self.mean, self.std, device, cfg, seed=cfg.seed + 1)

    def loss(self, batch):
        x = self.batcher(batch["all"], train=False)
        fmt = self.batcher.memory_format
        v1 = contrastive_view(x, self.batcher.gen).contiguous(memory_format=fmt)
        v2 = contrastive_view(x, self.batcher.gen).contiguous(memory_format=fmt)
        z = self.model(torch.cat([v1, v2]))          # one pass: BatchNorm sees both views
        loss = nt_xent(z[:len(x)], z[len(x):], self.cfg.contrastive_temperature)
        return loss, {"loss": loss.detach()}

    def state_dict(self) -> dict:
        return {"batches": self.batches.state_dict(), "augment_gen": self.batcher.gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.batches.load_state_dict(state["batches"])
        self.batcher.gen.set_state(state["augment_gen"])


def contrastive_settings(cfg: Config, data: Dataset) -> Config:
    """The run settings the pretraining uses (its own epochs, lr, batch; no EMA). Its seed is fixed: it reads
    no labels, so one pretraining serves every clean fraction and every seed of a sweep. The backbone is the
    run's own (also the wsgan D's backbone branch)."""
    backbone = resolve_backbone(cfg.backbone, data.train.shape)
    return dataclasses.replace(cfg, epochs=cfg.contrastive_epochs, lr=cfg.contrastive_lr, backbone=backbone,
                               batch_size=cfg.contrastive_batch_size, weight_decay=1e-4, ema=0.0, seed=0)


def cache_key(cfg: Config, data: Dataset) -> str:
    """Hash of the training images and every setting that changes the pretrained weights."""
    h = hashlib.sha256(data.train.images.numpy().tobytes())
    pre = contrastive_settings(cfg, data)
    h.update(json.dumps({k: getattr(pre, k) for k in (
        "backbone", "backbone_width", "stem", "seed", "epochs", "lr", "batch_size", "contrastive_temperature", "optimizer", "warmup",
        "amp")}, sort_keys=True).encode())
    return h.hexdigest()[:12]


def pretrain_contrastive(cfg: Config, data: Dataset, device: torch.device, cache_dir: str | Path,
                         log=print) -> Path:
    """Return the cached backbone weights, training them first if the cache lacks them (resumable)."""
    folder = Path(cache_dir) / f"contrastive-{cache_key(cfg, data)}"
    weights = folder / "backbone.safetensors"
    if weights.exists():
        return weights
    folder.mkdir(parents=True, exist_ok=True)
    with cache_lock(folder):
        if weights.exists():   # another worker made it while this one waited
            return weights
        pre = contrastive_settings(cfg, data)
        log(f"contrastive pretraining -> {folder} ({pre.epochs} epochs of {len(data.train)} images, two views each)")
        torch.manual_seed(pre.seed)
        stage = ContrastiveStage(pre, data, device)
        summary = fit(stage, pre, pre.steps(len(data.train)), folder / "checkpoint.pt",
                      {"stage": "contrastive", "key": folder.name}, name="contrastive")
        atomic_write_text(folder / "summary.json", json.dumps(
            {"train_seconds": summary["train_seconds"], "steps": summary["steps"], "precision": summary["precision"],
             "precision_reason": summary["precision_reason"], "history": summary["history"]}) + "\n")
        save_weights(weights, {f"backbone.{k}": v for k, v in stage.model.backbone.state_dict().items()})
    return weights
