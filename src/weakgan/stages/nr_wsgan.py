"""NR + WSGAN, the paper's proposed model (§3.3), and its ablation variants.

The noise-regularization model whose residual net is the pretrained WSGAN classifier: its K class
logits r = D1(x). The clean net c is deeper (512 -> 256 -> 128 -> K) on the ResNet18 backbone features.
A batch is 1 part clean (true labels, supervise g = sigmoid(c)) to 9 parts noisy; the noisy part holds
real noisy images with their noisy labels and generated images G(z, y) labelled y, and supervises
h = sigmoid(c + r). L = alpha * L_clean + L_noise; D is fine-tuned through L_noise; predictions come
from the clean net alone. Images are the only input of c and of r: unlike the authors' code, no label
ever enters the branch trained to predict it.

Variants: nr-wsgan-nofake (no generated images), nr-wsgan-frozen (D fixed, not fine-tuned), and
nr-wsgan-round2: nr-wsgan again, taught by the split's nr-wsgan run instead of its clean-only run (a second
round of self-training, as Noisy Student iterates: the better student becomes the teacher), and noised more
than its teacher was: random erasing on its real images (round2_erase). Noisy Student (Xie et al.) finds
the student's noise essential; without it, round 2 measured no gain at 5% clean; with it, +0.30 at 5% clean
and a loss at 10-70% (ablation.yaml).
The WSGAN classifier and generator come from a finished `--model wsgan` run on the same split
(--wsgan-run; `weakgan sweep`/`reproduce` fill it in with the sibling run).
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from weakgan import WeakganError
from weakgan.augment import random_erase
from weakgan.checkpoint import load_weights
from weakgan.config import Config, read_config
from weakgan.data.dataset import Dataset
from weakgan.models.backbone import load_backbone_weights, make_backbone, resolve_backbone
from weakgan.models.gan import WSGAN, gan_to_classifier
from weakgan.models.heads import HEAD_SCORE, MLPHead
from weakgan.noise import Split
from weakgan.sampling import MixedBatches, clean_share_of, split_batch
from weakgan.data.batcher import Batcher, normalization
from weakgan.stages.classifier import TeacherTargets, labels_and_all_labelled, noisy_part, nr_objective
from weakgan.recipes import recipe, uses_teacher
from weakgan.stages.base import Stage
from weakgan.teacher import require_same_clean_split

class NRWSGANModel(nn.Module):
    """forward(x) = clean logits c; forward(x, with_residual=True) = (c, r) with r = D's class logits."""

    def __init__(self, backbone: nn.Module, clean_head: nn.Module, wsgan: WSGAN):
        super().__init__()
        self.backbone, self.clean_head, self.wsgan = backbone, clean_head, wsgan

    def forward(self, x: torch.Tensor, with_residual: bool = False):
        c = self.clean_head(self.backbone(x))
        return (c, self.wsgan(x)) if with_residual else c


def load_wsgan_run(run_dir: str | Path, data: Dataset, split: Split, device: torch.device) -> WSGAN:
    """D and G of a finished `--model wsgan` run, checked to be trained on this very split."""
    from weakgan.stages.gan import WSGANClassifierStage
    run_dir = Path(run_dir)
    if not (run_dir / "model.safetensors").is_file():
        raise WeakganError(f"{run_dir}: not a finished wsgan run (no model.safetensors); nr-wsgan needs "
                           "--wsgan-run pointing at one trained on the same split")
    wcfg = read_config(run_dir / "config.yaml")
    if wcfg.model != "wsgan":
        raise WeakganError(f"{run_dir}: a '{wcfg.model}' run, nr-wsgan needs a wsgan run")
    require_same_clean_split(run_dir, split, "fraction/seed differ")
    stage = WSGANClassifierStage(wcfg, data, split, device, generator_weights=run_dir)
    stage.model.load_state_dict(load_weights(run_dir / "model.safetensors"))
    return stage.model


class NRWSGANStage(TeacherTargets, Stage):
    score = HEAD_SCORE

    def __init__(self, cfg: Config, data: Dataset, split: Split, device: torch.device,
                 backbone_weights: str | None = None, rank: int = 0, world: int = 1):
        r = recipe(cfg.model)
        if r.stage != "nr-wsgan":
            raise WeakganError(f"model '{cfg.model}' is not trained by the nr-wsgan stage")
        if not cfg.wsgan_run:
            raise WeakganError(f"model '{cfg.model}' needs --wsgan-run RUN_DIR (a finished --model wsgan run "
                               "on the same split)")
        self.cfg, self.device = cfg, device
        self.fakes, self.frozen = r.fakes, r.frozen_d
        self.erase = cfg.round2_erase if r.erase else 0.0
        if not 0.0 <= self.erase <= 1.0:
            raise WeakganError(f"round2_erase {self.erase}: expected a probability in [0, 1]")
        k, channels = data.train.num_classes, data.train.shape[0]
        backbone = make_backbone(resolve_backbone(cfg.backbone, data.train.shape), channels, cfg.stem,
                                 cfg.backbone_width)
        if backbone_weights:
            load_backbone_weights(backbone, backbone_weights)
        wsgan = load_wsgan_run(cfg.wsgan_run, data, split, torch.device("cpu"))
        wsgan.generator.requires_grad_(False)   # G only supplies images here
        wsgan.discriminator.requires_grad_(not self.frozen)
        self.model = NRWSGANModel(backbone, MLPHead((backbone.out_dim, 256, 128, k)), wsgan).to(device)
        if cfg.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.train_model = self.model
        self.k = k

        clean = torch.as_tensor(split.clean_idx)
        noisy = noisy_part(split, uses_teacher(cfg))
        # generated images are labelled too
        self.labels, self.all_labelled = labels_and_all_labelled(data, split, noisy, device)
        self.init_teacher(data, split)
        n_clean, n_noisy = split_batch(cfg.batch_size, clean_share_of(cfg.clean_share, len(clean), len(noisy)))
        # the noisy part: real noisy images, and a share fake_share of generated ones
        self.n_fake = int(round(n_noisy * cfg.fake_share)) if self.fakes else 0
        parts, sizes = {"clean": clean}, {"clean": n_clean}
        if len(noisy):
            parts["noisy"], sizes["noisy"] = noisy, n_noisy - self.n_fake
        elif not self.n_fake:
            raise WeakganError(f"model '{cfg.model}' has no noisy labels and no generated images to learn from")
        self.batches = MixedBatches(parts, sizes, seed=cfg.seed, rank=rank, world=world)
        self.mean, self.std = normalization(data.train.images)
        self.batcher = Batcher(data.train.images, self.mean, self.std, device, cfg, seed=cfg.seed + 1)
        self.gen = torch.Generator().manual_seed(cfg.seed + 5 + 1000 * rank)   # latents and fake labels

    def param_groups(self) -> list[dict]:
        m, cfg = self.model, self.cfg
        groups = [{"params": list(m.backbone.parameters()), "lr": cfg.lr * cfg.backbone_lr_scale},
                  {"params": list(m.clean_head.parameters()), "lr": cfg.lr}]
        if not self.frozen:
            groups.append({"params": list(m.wsgan.discriminator.parameters()), "lr": cfg.lr * cfg.wsgan_lr_scale})
        return groups

    @torch.no_grad()
    def _fake_batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = self.model.wsgan.generator
        y = torch.randint(0, self.k, (n,), generator=self.gen).to(self.device)
        x = gan_to_classifier(g(g.sample_z(n, self.gen).to(self.device), y), self.mean, self.std)
        return x.contiguous(memory_format=self.batcher.memory_format), y

    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        self.model.wsgan.generator.eval()
        if self.frozen:
            self.model.wsgan.discriminator.eval()   # frozen: its BatchNorm statistics stay as pretrained
        idx = torch.cat([batch["clean"], batch.get("noisy", batch["clean"][:0])]).to(self.device)
        x, y = self.batcher(idx), self.labels[idx]
        if self.erase:
            x = random_erase(x, self.batcher.gen, self.erase)
        if self.n_fake:   # generated images go last: labelled by their asked class, no teacher target
            xf, yf = self._fake_batch(self.n_fake // max(1, self.batches.world))
            x, y = torch.cat([x, xf]), torch.cat([y, yf])
        n_clean = len(batch["clean"])
        c, r = self.train_model(x, with_residual=True)
        soft = self.teacher_targets()[idx[n_clean:]] if self.teacher_source else None
        return nr_objective(c, r, y, n_clean, self.cfg, soft, self.all_labelled)

    def state_dict(self) -> dict:
        return {"batches": self.batches.state_dict(), "augment_gen": self.batcher.gen.get_state(),
                "fake_gen": self.gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.batches.load_state_dict(state["batches"])
        self.batcher.gen.set_state(state["augment_gen"])
        self.gen.set_state(state["fake_gen"])
