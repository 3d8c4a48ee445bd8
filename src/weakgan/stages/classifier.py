"""Classifier stages: clean-only, naive, the noise-regularization model (nr and its rounds) and, with
consistency on the non-clean images, nr-match, nr-fixmatch and fixmatch (which reads no noisy label).

A stage owns its model, its batch stream and its loss for one batch; the loop in train.py does the rest.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from weakgan import WeakganError
from weakgan.config import Config
from weakgan.data.batcher import Batcher, normalization
from weakgan.data.dataset import Dataset
from weakgan.models.backbone import load_head_weights, run_backbone
from weakgan.models.heads import HEAD_SCORE, Classifier, MLPHead, NRModel
from weakgan.noise import UNLABELLED, Split
from weakgan.sampling import MixedBatches, clean_share_of, split_batch
from weakgan.recipes import recipe, starts_as_teacher, uses_teacher
from weakgan.stages.base import Stage
from weakgan.stages.consistency import AdaptiveThresholds
from weakgan.teacher import clean_prior, teacher_targets



def bce_onehot(logits: torch.Tensor, labels: torch.Tensor, row_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Binary cross-entropy of sigmoid(logits) against one-hot labels: summed over classes, mean over samples
    (row_weight: each sample's term times its weight, still divided by the number of samples)."""
    logits = logits.float()  # the loss in fp32 also under bf16 autocast
    target = F.one_hot(labels, logits.shape[1]).to(logits.dtype)
    if row_weight is None:
        return F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / logits.shape[0]
    per_row = F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(1)
    return (per_row * row_weight).sum() / logits.shape[0]


def soft_bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """bce_onehot with soft targets (rows of probabilities): the teacher's pseudo-labels."""
    logits = logits.float()
    return F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / max(1, logits.shape[0])


def nr_loss(c_clean: torch.Tensor, y_clean: torch.Tensor, c_noisy: torch.Tensor, r_noisy: torch.Tensor,
            y_noisy: torch.Tensor, alpha: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hu et al.: L = alpha * BCE(sigmoid(c), v) on clean + BCE(sigmoid(c + r), y) on noisy samples."""
    l_clean = bce_onehot(c_clean, y_clean)
    l_noise = bce_onehot(c_noisy + r_noisy, y_noisy) if len(y_noisy) else c_noisy.sum() * 0.0
    return alpha * l_clean + l_noise, l_clean, l_noise


def nr_objective(c: torch.Tensor, r: torch.Tensor, y: torch.Tensor, n_clean: int, cfg: Config,
                 soft: torch.Tensor | None = None, all_labelled: bool = False
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The loss of an NR batch whose first n_clean rows are clean: Hu et al.'s L = alpha L_clean + L_noise
    over the rows that have a label (unlabelled rows, noise 'none', get no L_noise), plus
    teacher_weight * soft_bce(c, teacher targets) on the rows n_clean .. n_clean + len(soft).
    all_labelled: the caller knows on the host that every row has a label, so no mask is needed (indexing
    with a mask that lives on an accelerator makes the host wait for it)."""
    labelled = slice(None) if all_labelled else y[n_clean:] != UNLABELLED
    loss, l_clean, l_noise = nr_loss(c[:n_clean], y[:n_clean], c[n_clean:][labelled], r[n_clean:][labelled],
                                     y[n_clean:][labelled], cfg.alpha)
    logs = {"clean": l_clean.detach(), "noise": l_noise.detach()}
    if soft is not None:
        l_teacher = soft_bce(c[n_clean:n_clean + len(soft)], soft)
        loss = loss + cfg.teacher_weight * l_teacher
        logs["teacher"] = l_teacher.detach()
    return loss, {"loss": loss.detach(), **logs}


def given_labels(data: Dataset, split: Split, device: torch.device) -> torch.Tensor:
    """The label given with every training image: the true one for clean images, the noisy one (or
    UNLABELLED) otherwise."""
    labels = torch.full((split.n_train,), UNLABELLED, dtype=torch.long)
    labels[torch.as_tensor(split.noisy_idx)] = torch.as_tensor(split.noisy_labels)
    labels[torch.as_tensor(split.clean_idx)] = data.train.targets[torch.as_tensor(split.clean_idx)]
    return labels.to(device)


def labels_and_all_labelled(data: Dataset, split: Split, noisy: torch.Tensor,
                            device: torch.device) -> tuple[torch.Tensor, bool]:
    """given_labels on `device`, and whether every image of the batches' noisy part has a label: known here on
    the host, so nr_objective can skip its mask (indexing with a mask on an accelerator waits for it)."""
    labels = given_labels(data, split, torch.device("cpu"))
    return labels.to(device), bool((labels[noisy] != UNLABELLED).all())


def noisy_part(split: Split, with_teacher: bool) -> torch.Tensor:
    """The images of the noisy part of an NR batch: those with a noisy label, and with a teacher also the
    unlabelled ones (the teacher gives them targets)."""
    noisy = torch.as_tensor(split.noisy_idx)
    return noisy if with_teacher else noisy[torch.as_tensor(split.noisy_labels) != UNLABELLED]


class TeacherTargets:
    """Mixin for the NR stages: teacher_targets() makes the (n_train, K) soft targets once, on first use."""

    def init_teacher(self, data: Dataset, split: Split, wanted: bool | None = None) -> None:
        """wanted: whether this stage learns the teacher's targets (None: uses_teacher of its config)."""
        # the teacher's targets are made at the first training step, so that rebuilding a finished run
        # (evaluate) neither needs the teacher run nor predicts the whole training set
        wanted = uses_teacher(self.cfg) if wanted is None else wanted
        self.teacher, self.teacher_source = None, (data, split) if wanted else None

    def teacher_targets(self) -> torch.Tensor:
        if self.teacher is None:
            data, split = self.teacher_source
            self.teacher = teacher_targets(self.cfg.teacher_run, data, split, self.cfg.teacher_temperature,
                                           self.device, with_labels=self.cfg.teacher_posterior)
        return self.teacher


class ClassifierStage(TeacherTargets, Stage):
    score = HEAD_SCORE

    def __init__(self, cfg: Config, data: Dataset, split: Split, device: torch.device,
                 backbone_weights: str | None = None, rank: int = 0, world: int = 1):
        self.recipe = recipe(cfg.model)
        if self.recipe.stage != "classifier":
            raise WeakganError(f"model '{cfg.model}' is not trained by the classifier stage")
        self.cfg, self.device = cfg, device
        k = data.train.num_classes
        backbone = run_backbone(cfg, data.train.shape, backbone_weights)
        clean_head = MLPHead((backbone.out_dim, cfg.head_hidden, k))
        if backbone_weights and starts_as_teacher(cfg) and self.recipe.soft_targets:
            # the run starts as its teacher (backbone and clean net), so its first steps refine what the teacher
            # learnt instead of fitting a random head on top of it. nr-fixmatch learns none of the teacher's
            # targets and takes its backbone only: with the teacher's clean net its first pseudo-labels would be
            # the teacher's confident predictions, and it stayed near them (full_recipe.md)
            load_head_weights(clean_head, backbone_weights)
        if self.recipe.residual:
            self.model = NRModel(backbone, clean_head, MLPHead((backbone.out_dim, cfg.head_hidden, k)))
        else:
            self.model = Classifier(backbone, clean_head)
        self.model.to(device)
        if cfg.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.train_model = self.model   # the DDP wrapper under torchrun (set by the caller)

        clean = torch.as_tensor(split.clean_idx)
        # the noisy part of a batch: the images with a noisy label and, when something gives them targets (a
        # teacher, consistency), the unlabelled ones
        noisy = noisy_part(split, uses_teacher(cfg) or self.recipe.consistency)
        self.labels, self.all_labelled = labels_and_all_labelled(data, split, noisy, device)
        self.init_teacher(data, split)
        b = cfg.batch_size
        if self.recipe.batches == "clean":
            parts, sizes = {"clean": clean}, {"clean": b}
        elif self.recipe.batches == "all":
            parts, sizes = {"all": torch.cat([clean, noisy])}, {"all": b}
        else:
            if len(noisy) == 0:
                raise WeakganError(f"model '{cfg.model}' needs images without a clean label (the split has none)"
                                   if self.recipe.batches == "semi" else
                                   f"model '{cfg.model}' needs noisy labels or a teacher (--teacher-weight > 0); noise "
                                   "'none' leaves the noisy set unlabelled")
            # NR's batches take clean_share (Hu et al.'s 1:9); fixmatch's draw every image about equally often (1:9
            # at least): its clean net learns the true labels from the clean images alone, and at 50% clean a 1:9
            # batch shows each of them a tenth as often as clean-only does (full_recipe.md, fixmatch/share-auto)
            share = cfg.clean_share if self.recipe.residual else 0.0
            n_clean, n_noisy = split_batch(b, clean_share_of(share, len(clean), len(noisy)))
            parts, sizes = {"clean": clean, "noisy": noisy}, {"clean": n_clean, "noisy": n_noisy}
        self.batches = MixedBatches(parts, sizes, seed=cfg.seed, rank=rank, world=world)
        self.mean, self.std = normalization(data.train.images)
        self.batcher = Batcher(data.train.images, self.mean, self.std, device, cfg, seed=cfg.seed + 1)
        if self.recipe.consistency:
            self.thresholds = AdaptiveThresholds(clean_prior(data, split), cfg.consistency_momentum,
                                                 cfg.consistency_threshold)
            self.rampup_steps = cfg.consistency_rampup * cfg.steps(split.n_train)

    def param_groups(self) -> list[dict]:
        backbone = list(self.model.backbone.parameters())
        ids = {id(p) for p in backbone}
        heads = [p for p in self.model.parameters() if id(p) not in ids]
        return [{"params": backbone, "lr": self.cfg.lr * self.cfg.backbone_lr_scale},
                {"params": heads, "lr": self.cfg.lr}]

    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if self.recipe.batches in ("clean", "all"):
            idx = next(iter(batch.values()))
            loss = bce_onehot(self.train_model(self.batcher(idx)), self.labels[idx.to(self.device)])
            return loss, {"loss": loss.detach()}
        idx = torch.cat([batch["clean"], batch["noisy"]])
        n_clean, n = len(batch["clean"]), len(idx)
        x = self.batcher(idx)
        if self.recipe.consistency:   # the noisy part once more, strongly augmented, in the same pass
            x = torch.cat([x, self.batcher.strong(batch["noisy"], self.cfg.strong_ops)])
        idx = idx.to(self.device)
        if self.recipe.residual:
            # one pass (BatchNorm sees the mixed batch); the residual net only on the rows with a label to fit
            c, r = self.train_model(x, with_residual=True, residual_rows=n)
            soft = self.teacher_targets()[idx[n_clean:]] if self.teacher_source else None
            loss, logs = nr_objective(c[:n], r[:n], self.labels[idx], n_clean, self.cfg, soft, self.all_labelled)
        else:   # semi: one pass too, the loss on the clean rows only
            c = self.train_model(x)
            loss = bce_onehot(c[:n_clean], self.labels[idx[:n_clean]])
            logs = {"loss": loss.detach(), "clean": loss.detach()}
        if not self.recipe.consistency:
            return loss, logs
        # softmax of the clean logits: the heads' renormalized sigmoids are flat (0.9 against 0.05 for the other
        # nine classes renormalizes to 0.67), so no confidence threshold means the same on them
        labels, mask = self.thresholds.pseudo_labels(torch.softmax(c[n_clean:n].detach().float(), 1))
        # the confident rows' cross-entropy over all the batch's rows: a masked sum instead of indexing, whose
        # length the host would have to wait for
        l_cons = bce_onehot(c[n:], labels, row_weight=mask)
        weight = self.cfg.consistency_weight * min(1.0, self.thresholds.steps / max(1.0, self.rampup_steps))
        loss = loss + weight * l_cons
        return loss, {**logs, "loss": loss.detach(), "consistency": l_cons.detach(), "confident": mask.float().mean()}

    def state_dict(self) -> dict:
        state = {"batches": self.batches.state_dict(), "augment_gen": self.batcher.gen.get_state()}
        if self.recipe.consistency:
            state["thresholds"] = self.thresholds.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.batches.load_state_dict(state["batches"])
        self.batcher.gen.set_state(state["augment_gen"])
        if self.recipe.consistency:
            self.thresholds.load_state_dict(state["thresholds"])
