"""The WSGAN stages (Mao et al. 2021, paper §3.2), each run by train.fit() through train_step(step).

Stage 1  pretrain_generator(): class-conditional generator G trained with WGAN-GP against a simple critic
         (models/gan.py), cached under cache_dir/generator-<key>/ like the contrastive backbone. G is
         conditioned only on labels the user may use: the clean set's labels, plus (gan_labels: pseudo)
         confident predictions of a finished classifier run on the noisy images. The hidden true labels of
         the noisy set are never read (a summary line reports pseudo-label accuracy where targets exist).
Stage 2  WSGANClassifierStage: discriminator/classifier D (K class logits + a real/fake score) trained
         with L_sup (clean labels) + pseudo-labels (confident predictions on the noisy images, whose given
         labels are ignored) + L_unsup (least squares, real 1 / fake 0) against G's images, G fixed.
Stage 3  optional in the same stage (gan_g_every > 0): every N steps one update of G against the current D,
         with the least-squares generator loss plus D's class cross-entropy on G(z, y) for the asked y.

Settings: the gan_* fields of config.Config.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from weakgan import WeakganError
from weakgan.checkpoint import atomic_write_text, cache_lock, load_weights, save_weights
from weakgan.config import Config, to_yaml
from weakgan.data.dataset import Dataset
from weakgan.gan_augment import augment_group, augment_view, group_index, translate
from weakgan.gan_losses import (gradient_penalty, lsgan_discriminator_loss, lsgan_generator_loss, pseudo_labels,
                                supervised_loss, wgan_critic_loss, wgan_generator_loss)
from weakgan.models.gan import (WSGAN, Critic, Generator, WGANPair, WSGANDiscriminator, gan_to_classifier,
                                uint8_to_gan)
from weakgan.models.backbone import load_head_weights, run_backbone
from weakgan.models.heads import MLPHead
from weakgan.noise import UNLABELLED, Split
from weakgan.recipes import starts_as_teacher
from weakgan.sampling import MixedBatches, clean_share_of, split_batch
from weakgan.stages.base import Stage
from weakgan.stages.classifier import TeacherTargets
from weakgan.data.batcher import Batcher, normalization
from weakgan.train import fit, stop_if_not_finite, warmup_cosine

# ------------------------------------------------------------------------------ generator files
def save_generator(run_dir: str | Path, generator: Generator) -> Path:
    """run_dir/generator.safetensors + generator.json (architecture); `weakgan generate` reads both."""
    run_dir = Path(run_dir)
    path = run_dir / "generator.safetensors"
    atomic_write_text(run_dir / "generator.json", json.dumps(generator.arch, indent=2) + "\n")
    save_weights(path, generator.state_dict())   # last: pretrain_generator's cache takes it as "complete"
    return path


def load_generator(path: str | Path, device: torch.device | str = "cpu") -> Generator:
    """A saved generator (its folder or its .safetensors file), in eval mode."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    arch_file = folder / "generator.json"
    if not arch_file.is_file():
        raise WeakganError(f"{folder}: no generator.json (write generators with save_generator)")
    try:
        arch = json.loads(arch_file.read_text())
        g = Generator(**arch)
    except (ValueError, TypeError) as e:
        raise WeakganError(f"{arch_file}: not a generator description ({e})") from None
    try:
        g.load_state_dict(load_weights(folder / "generator.safetensors"))
    except RuntimeError as e:
        raise WeakganError(f"{folder}/generator.safetensors does not fit generator.json "
                           f"({str(e).splitlines()[0][:160]})") from None
    return g.to(device).eval()


# ------------------------------------------------------------------- stage 1: generator pretraining
def conditioning_set(cfg, data: Dataset, split: Split, device: torch.device, log=print) \
        -> tuple[torch.Tensor, torch.Tensor, dict]:
    """(training indices, their labels, info) that stage 1 conditions G on: the clean set, plus pseudo-labelled
    noisy images with gan_labels: pseudo. Never the true labels of the noisy set."""
    clean = torch.as_tensor(split.clean_idx, dtype=torch.long)
    labels = data.train.targets[clean]
    info: dict = {"labels": cfg.gan_labels, "n_clean": len(clean)}
    if cfg.gan_labels == "clean":
        return clean, labels, info
    if cfg.gan_labels != "pseudo":
        raise WeakganError(f"gan_labels '{cfg.gan_labels}': expected clean or pseudo")
    run = cfg.gan_pseudo_run
    if not run:
        raise WeakganError("gan_labels 'pseudo' needs gan_pseudo_run: a finished classifier run on this data")
    from weakgan.run_folder import load_trained_classifier
    from weakgan.teacher import require_same_clean_split
    require_same_clean_split(run, split, "its clean labels would leak into this split's noisy set")
    clf = load_trained_classifier(run, str(device))
    if clf.class_names != data.class_names or clf.input_shape != data.train.shape:
        raise WeakganError(f"{run}: classes or image shape differ from this dataset")
    noisy = torch.as_tensor(split.noisy_idx, dtype=torch.long)
    probs = clf.probabilities(data.train.images[noisy])
    confident = probs.max(1) >= cfg.gan_pseudo_threshold
    keep = noisy[torch.from_numpy(confident)]
    pseudo = torch.from_numpy(probs.argmax(1)[confident]).long()
    info.update({"pseudo_run": str(run), "n_pseudo": len(keep), "pseudo_share": float(confident.mean())})
    truth = data.train.targets[keep]
    if len(keep) and (truth >= 0).all():   # a diagnostic only; nothing trains on it
        info["pseudo_accuracy_diagnostic"] = float((truth == pseudo).float().mean())
    log(f"generator conditioning: {len(clean)} clean + {len(keep)} pseudo-labelled images "
        f"(confidence >= {cfg.gan_pseudo_threshold})")
    return torch.cat([clean, keep]), torch.cat([labels, pseudo]), info


class GeneratorPretrainStage(Stage):
    """Stage 1: WGAN-GP, gan_n_critic critic steps per generator step; fit() runs gan_steps generator steps.
    In fp32: the gradient penalty differentiates through a gradient (not measured under bf16)."""
    own_updates = True

    def __init__(self, cfg, data: Dataset, idx: torch.Tensor, labels: torch.Tensor, device: torch.device):
        self.cfg = cfg
        k, (c, h, w) = data.train.num_classes, data.train.shape
        if h != w:
            raise WeakganError(f"generator: images must be square, got {h}x{w}; pass --image-size S")
        g = Generator(k, c, h, cfg.gan_z_dim, cfg.gan_g_width)
        self.model = WGANPair(g, Critic(k, c, h, cfg.gan_critic_width)).to(device)
        self.train_model = self.model
        self.images = data.train.images[idx].to(device)
        self.labels = labels.to(device)
        self.batch_size = cfg.gan_batch_size
        self.batches = MixedBatches({"real": torch.arange(len(idx))}, {"real": self.batch_size}, cfg.seed)
        self.gen = torch.Generator().manual_seed(cfg.seed + 2)   # latents, penalty points, translations
        betas = (cfg.gan_beta1, cfg.gan_beta2)
        self.opt_g = torch.optim.Adam(g.parameters(), lr=cfg.gan_lr, betas=betas)
        self.opt_c = torch.optim.Adam(self.model.critic.parameters(), lr=cfg.gan_lr, betas=betas)

    def _shift(self, x: torch.Tensor) -> torch.Tensor:
        return translate(x, self.gen, self.cfg.gan_shift, fill=-1.0)

    def train_step(self, step: int) -> dict[str, torch.Tensor | float]:
        g, critic = self.model.g.generator, self.model.critic
        sums: dict[str, torch.Tensor | float] = {"critic": 0.0, "wdist": 0.0, "gp": 0.0}
        n_critic = self.cfg.gan_n_critic
        for _ in range(n_critic):
            b = next(self.batches)["real"].to(self.images.device)
            real, y = uint8_to_gan(self.images[b]), self.labels[b]
            with torch.no_grad():
                fake = g(g.sample_z(len(b), self.gen), y)
            real, fake = self._shift(real), self._shift(fake)
            scores = critic(torch.cat([real, fake]), torch.cat([y, y]))
            gp = gradient_penalty(critic, real, fake, y, gen=self.gen)
            w_loss = wgan_critic_loss(scores[:len(b)], scores[len(b):])
            loss = w_loss + self.cfg.gan_gp_weight * gp
            stop_if_not_finite(critic=loss)
            self.opt_c.zero_grad(set_to_none=True)
            loss.backward()
            self.opt_c.step()
            for key, v in (("critic", loss), ("wdist", -w_loss), ("gp", gp)):
                sums[key] = sums[key] + v.detach() / n_critic
        # generator step: labels drawn like the data's (those of the last real batch)
        fake = g(g.sample_z(len(y), self.gen), y)
        g_loss = wgan_generator_loss(critic(self._shift(fake), y))
        stop_if_not_finite(generator=g_loss)
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward(inputs=list(g.parameters()))
        self.opt_g.step()
        self.model.g.update(self.cfg.gan_g_ema, step)
        return {**sums, "generator": g_loss.detach()}

    def state_dict(self) -> dict:
        return {"batches": self.batches.state_dict(), "gen": self.gen.get_state(),
                "opt_g": self.opt_g.state_dict(), "opt_c": self.opt_c.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.batches.load_state_dict(state["batches"])
        self.gen.set_state(state["gen"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_c.load_state_dict(state["opt_c"])


STAGE1_KEYS = ("gan_steps", "gan_batch_size", "gan_n_critic", "gan_gp_weight", "gan_lr", "gan_beta1", "gan_beta2",
               "gan_z_dim", "gan_g_width", "gan_critic_width", "gan_g_ema", "gan_shift")


def generator_key(cfg, data: Dataset, idx: torch.Tensor, labels: torch.Tensor) -> str:
    """Hash of the training images, the conditioning set (indices and labels: the clean split and any
    pseudo-labels) and every setting that changes the generator."""
    h = hashlib.sha256(data.train.images.numpy().tobytes())
    h.update(idx.numpy().astype(np.int64).tobytes())
    h.update(labels.numpy().astype(np.int64).tobytes())
    h.update(json.dumps({"seed": cfg.seed, **{k: getattr(cfg, k) for k in STAGE1_KEYS}}, sort_keys=True).encode())
    return h.hexdigest()[:12]


def pretrain_generator(cfg, data: Dataset, split: Split, device: torch.device, cache_dir: str | Path,
                       log=print) -> Path:
    """Return the cached stage-1 generator (generator.safetensors), training it first if needed (resumable).

    The folder is also a generator folder for `weakgan generate`: generator.safetensors + generator.json,
    config.yaml, classes.json, plus summary.json and grid.png (one row per class).
    """
    from weakgan.gan_metrics import class_grid
    idx, labels, info = conditioning_set(cfg, data, split, device, log)
    folder = Path(cache_dir) / f"generator-{generator_key(cfg, data, idx, labels)}"
    weights = folder / "generator.safetensors"
    if weights.exists():
        return weights
    pre = dataclasses.replace(cfg, ema=0.0)
    steps = cfg.gan_steps
    torch.manual_seed(cfg.seed)
    stage = GeneratorPretrainStage(pre, data, idx, labels, device)   # first: bad data leaves no empty folder
    folder.mkdir(parents=True, exist_ok=True)
    with cache_lock(folder):   # a second worker waits, then finds it made
        if weights.exists():
            return weights
        log(f"generator pretraining (WGAN-GP) -> {folder} ({steps} generator steps x {cfg.gan_n_critic} "
            f"critic steps of {cfg.gan_batch_size} images; {len(idx)} conditioning images)")
        summary = fit(stage, pre, steps, folder / "checkpoint.pt", {"stage": "generator", "key": folder.name},
                      name="generator")
        generator = stage.model.g.average
        atomic_write_text(folder / "config.yaml", to_yaml(cfg))
        atomic_write_text(folder / "classes.json", json.dumps(data.class_names) + "\n")
        atomic_write_text(folder / "summary.json", json.dumps(
            {"train_seconds": summary["train_seconds"], "steps": summary["steps"], "conditioning": info,
             "precision": summary["precision"], "precision_reason": summary["precision_reason"],
             "real_images_per_second": steps * cfg.gan_n_critic * cfg.gan_batch_size
             / max(summary["train_seconds"], 1e-9), "history": summary["history"]}) + "\n")
        class_grid(generator, data.class_names, folder / "grid.png")
        return save_generator(folder, generator)   # last: its presence marks the cache entry complete


# ------------------------------------------------------------------ stages 2 and 3: the WSGAN classifier
GAN_CLEAN_SHARE = 0.25   # gan_clean_share 0 (auto): the least clean share of a D batch, the earlier fixed
                         # default's, so that below 25% clean the few clean labels are drawn more often than their
                         # share of the data
def wsgan_settings(cfg: Config) -> Config:
    """The run settings fit() gets for the WSGAN stage: no EMA (the stage owns G and its optimizers) and
    gan_d_batch_size as the batch size, so cfg.steps(n_train) counts passes over the real images."""
    return dataclasses.replace(cfg, ema=0.0, batch_size=cfg.gan_d_batch_size)


class WSGANClassifierStage(TeacherTargets, Stage):
    """Stage 2 (+ stage 3 with gan_g_every > 0), with ClassifierStage's interface for run.py:
    model (forward(x) = D's K class logits for images in the classifier normalization (x/255 - mean)/std),
    score, mean, std, batches, state_dict/load_state_dict, and train_step (it owns its optimizers).

    A D batch: gan_d_batch_size real images (a share gan_clean_share clean with true labels, the rest from the noisy
    set with their given labels ignored), each with gan_views augmented views, plus gan_fake_ratio generated
    images per real image (labels uniform over the classes), augmented like the real rows. The noisy rows learn
    D's own confident predictions, or with gan_pseudo_source: teacher the teacher run's soft targets.
    """
    score = "softmax"
    own_updates = True
    autocast_ok = True   # its losses cast D's outputs to fp32 (gan_losses.py); bf16 halves a D step on a CPU
                         # with native bf16 (wsgan_step_cost.md)

    def __init__(self, cfg: Config, data: Dataset, split: Split, device: torch.device,
                 backbone_weights: str | None = None, generator_weights: str | Path | None = None,
                 rank: int = 0, world: int = 1, total_steps: int | None = None):
        self.cfg = cfg = wsgan_settings(cfg)
        self.device = device
        if world > 1 and cfg.gan_g_every > 0:
            raise WeakganError("stage 3 (gan_g_every > 0) runs in one process only: train without torchrun, "
                               "or with gan_g_every 0")
        self.k = k = data.train.num_classes
        c, h, w = data.train.shape
        if h != w:
            raise WeakganError(f"WSGAN: the generator makes square images; these are {h}x{w}; "
                               "pass --image-size S")
        if generator_weights:
            g = load_generator(generator_weights)
            if (g.arch["num_classes"], g.arch["channels"], g.arch["size"]) != (k, c, h):
                raise WeakganError(f"{generator_weights}: generator makes {g.arch['channels']}x{g.arch['size']} "
                                   f"images of {g.arch['num_classes']} classes; this data needs {c}x{h} of {k}")
        else:   # an untrained G (fresh runs should pass the pretrained one; loading a run overwrites it)
            g = Generator(k, c, h, cfg.gan_z_dim, cfg.gan_g_width)
        d = WSGANDiscriminator(k, c, cfg.gan_d_width, self._backbone(cfg, data, backbone_weights), cfg.head_hidden,
                               cfg.gan_d_attention)
        if backbone_weights and starts_as_teacher(cfg):
            from weakgan.teacher import require_same_clean_split
            require_same_clean_split(cfg.teacher_run, split, "D would start knowing labels of this split's noisy set")
            # D starts as its teacher run (a finished classifier of this split), as the NR students do: stage 2
            # refines what the teacher learnt from the clean labels instead of relearning it beside a random head
            teacher_head = MLPHead((d.backbone_branch.backbone.out_dim, cfg.head_hidden, k))
            load_head_weights(teacher_head, backbone_weights)   # a clear error if its widths differ
            d.start_as_classifier(teacher_head)
        self.model = WSGAN(d, g).to(device)
        if cfg.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.train_model = self.model   # the DDP wrapper under torchrun (set by the caller, as ClassifierStage)
        self.train_g = cfg.gan_g_every > 0
        g.requires_grad_(self.train_g)

        clean = torch.as_tensor(split.clean_idx, dtype=torch.long)
        noisy = torch.as_tensor(split.noisy_idx, dtype=torch.long)
        clean_labels = torch.full((split.n_train,), UNLABELLED, dtype=torch.long)
        clean_labels[clean] = data.train.targets[clean]
        self.clean_labels = clean_labels.to(device)   # true labels of the clean set only; -1 elsewhere
        b = cfg.batch_size
        share = clean_share_of(cfg.gan_clean_share, len(clean), len(noisy), floor=GAN_CLEAN_SHARE)
        n_clean, n_noisy = split_batch(b, share) if len(noisy) else (b, 0)
        self.batches = MixedBatches({"clean": clean, "noisy": noisy}, {"clean": n_clean, "noisy": n_noisy},
                                    seed=cfg.seed, rank=rank, world=world)
        self.mean, self.std = normalization(data.train.images)
        self.batcher = Batcher(data.train.images, self.mean, self.std, device, cfg, seed=cfg.seed + 1)
        self.gen = torch.Generator().manual_seed(cfg.seed + 3 + 1000 * rank)   # views, latents, fake labels
        self.view_args = {"fill": -self.mean / self.std, "hflip": cfg.mirrored(), "vflip": cfg.gan_vflip}
        self.total = total_steps or cfg.steps(split.n_train)
        self.pseudo_from = int(cfg.gan_pseudo_warmup * self.total)
        self.init_teacher(data, split, cfg.gan_pseudo_source == "teacher")   # its targets: at the first step

        branch = list(d.backbone_branch.backbone.parameters()) if d.backbone_branch is not None else []
        ids = {id(p) for p in branch}
        rest = [p for p in d.parameters() if id(p) not in ids]
        lr = cfg.gan_d_lr
        groups = [{"params": rest, "lr": lr}]
        if branch:   # a pretrained backbone is fine-tuned at backbone_lr_scale, as in ClassifierStage
            groups.append({"params": branch, "lr": lr * cfg.backbone_lr_scale})
        self.opt_d = torch.optim.Adam(groups, betas=(0.5, 0.999))
        self.sched_d = torch.optim.lr_scheduler.LambdaLR(self.opt_d, warmup_cosine(self.total, cfg.warmup))
        self.opt_g = torch.optim.Adam(g.parameters(), lr=cfg.gan_g_lr, betas=(0.5, 0.999)) \
            if self.train_g else None

    @staticmethod
    def _backbone(cfg: Config, data: Dataset, weights: str | None) -> torch.nn.Module | None:
        """D's backbone branch: the run's backbone (`backbone`, as the classifiers have it), from `weights`
        (the contrastive backbone, the teacher run's, a user's file) or from scratch; None with gan_d_backbone
        off."""
        if not cfg.gan_d_backbone:
            if weights and starts_as_teacher(cfg):
                raise WeakganError("pretrain 'teacher': the wsgan D starts as its teacher through its backbone "
                                   "branch, and gan_d_backbone is off; use --pretrain none or --gan-d-backbone")
            return None
        return run_backbone(cfg, data.train.shape, weights)

    # ------------------------------------------------------------------ pieces
    def _fakes(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """n generated images in the classifier normalization (differentiable in G) and their labels.
        A share views/(1+views) of them is augmented, matching the mix of originals and views of real rows."""
        g = self.model.generator
        y = torch.randint(0, self.k, (n,), generator=self.gen).to(self.device)
        x = gan_to_classifier(g(g.sample_z(n, self.gen), y), self.mean, self.std)
        views = self.cfg.gan_views
        if views > 0:
            pick = (torch.rand(n, generator=self.gen) < views / (1 + views)).to(self.device)
            x = torch.where(pick[:, None, None, None], augment_view(x, self.gen, **self.view_args), x)
        return x, y

    def _d_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor | float]:
        k, views = self.k, self.cfg.gan_views
        idx = torch.cat([batch["clean"], batch.get("noisy", batch["clean"][:0])])
        n, n_clean = len(idx), len(batch["clean"])
        real = augment_group(self.batcher(idx, train=False), self.gen, views, **self.view_args)
        owner = group_index(n, views, self.device)             # which image each row shows
        with torch.no_grad():
            fake, _ = self._fakes(max(1, round(self.cfg.gan_fake_ratio * n)))
        rows_in = torch.cat([real, fake]).contiguous(memory_format=self.batcher.memory_format)
        out = self.train_model(rows_in, full=True)                # one pass: BatchNorm sees real and fake
        logits, scores = out[:len(real), :k], out[:, k]
        labels = self.clean_labels[idx.to(self.device)][owner]  # -1 on rows of noisy images
        l_sup = supervised_loss(logits, labels)
        rows = owner >= n_clean
        if self.teacher_source:
            # the teacher's soft targets for every row of a noisy image, from the first step (they do not
            # depend on D, so they need no warm-up); cross-entropy of D's softmax against them
            soft = self.teacher_targets()[idx[n_clean:].to(self.device)][owner[rows] - n_clean]
            l_pseudo = -(soft * torch.log_softmax(logits[rows].float(), 1)).sum(1).mean() if len(soft) \
                else logits.sum() * 0.0
            share = 1.0 if n > n_clean else 0.0   # every noisy image has a target
        else:
            # pseudo-labels: confident predictions on the (un-augmented) noisy originals, for all their rows
            pseudo = pseudo_labels(logits[n_clean:n], self.cfg.gan_pseudo_threshold)
            if step < self.pseudo_from:
                pseudo.fill_(UNLABELLED)
            l_pseudo = supervised_loss(logits[rows], pseudo[owner[rows] - n_clean])
            share = (pseudo >= 0).float().mean() if n > n_clean else 0.0
        l_unsup = lsgan_discriminator_loss(scores[:len(real)], scores[len(real):], a=0.0, b=1.0)
        loss = (l_sup + self.cfg.gan_pseudo_weight * l_pseudo
                + self.cfg.gan_unsup_weight * l_unsup)
        stop_if_not_finite(discriminator=loss)
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        self.sched_d.step()
        return {"loss": loss.detach(), "sup": l_sup.detach(), "pseudo": l_pseudo.detach(), "unsup": l_unsup.detach(),
                "pseudo_share": share,
                "d_real": scores[:len(real)].detach().mean(), "d_fake": scores[len(real):].detach().mean(),
                "lr": self.sched_d.get_last_lr()[0]}

    def _g_step(self) -> dict[str, torch.Tensor | float]:
        """Stage 3: G against the fixed D (D in eval mode: its BatchNorm statistics stay those of D batches)."""
        d = self.model.discriminator
        d.eval()
        try:
            fake, y = self._fakes(self.cfg.gan_d_batch_size)
            out = d(fake)
            l_adv = lsgan_generator_loss(out[:, self.k], c=1.0)
            l_cls = F.cross_entropy(out[:, :self.k].float(), y)
            loss = l_adv + self.cfg.gan_class_weight * l_cls
            stop_if_not_finite(generator=loss)
            self.opt_g.zero_grad(set_to_none=True)
            loss.backward(inputs=list(self.model.generator.parameters()))
            self.opt_g.step()
        finally:
            d.train()
        return {"g_adv": l_adv.detach(), "g_class": l_cls.detach()}

    def train_step(self, step: int) -> dict[str, torch.Tensor | float]:
        logs = self._d_step(next(self.batches), step)
        every = self.cfg.gan_g_every
        if self.train_g and (step + 1) % every == 0:
            logs.update(self._g_step())
        return logs

    def state_dict(self) -> dict:
        state = {"batches": self.batches.state_dict(), "gen": self.gen.get_state(),
                 "opt_d": self.opt_d.state_dict(), "sched_d": self.sched_d.state_dict()}
        if self.opt_g is not None:
            state["opt_g"] = self.opt_g.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.batches.load_state_dict(state["batches"])
        self.gen.set_state(state["gen"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.sched_d.load_state_dict(state["sched_d"])
        if self.opt_g is not None:
            self.opt_g.load_state_dict(state["opt_g"])
