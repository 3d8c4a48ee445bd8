"""Run configuration: one flat dataclass of typed values.

Defaults live here; a YAML file (--config) overrides them; command-line flags override both. The
resolved values are written to config.yaml in every run folder.
"""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import math
import re
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from weakgan import WeakganError
from weakgan.models.backbone import BACKBONES
from weakgan.recipes import MODELS
from weakgan.runtime import PRECISIONS


@dataclass
class Config:
    # what to train
    model: str = "nr"                 # clean-only | naive | nr | nr-match | nr-fixmatch | fixmatch[-round2|-round3] |
                                      # nr-round2 | nr-round3 | nr-match-round4 | nr-fixmatch-round2 | nr-match-round2 |
                                      # wsgan | nr-wsgan[-nofake|-frozen|-round2]
                                      # (recipes.py)
    seed: int = 0                     # seeds the split, the initial weights, batches and augmentation
    # data
    dataset: str = "fashion-mnist"    # fashion-mnist | folder:ROOT | manifest:FILE.csv (docs/own-data.md)
    data_dir: str = ""                # folder with the IDX files; else $WEAKGAN_DATA, then the Debian path
    download: bool = False            # allow torchvision to download FashionMNIST (never in tests)
    clean_fraction: float = 0.05      # share of each class's training images whose labels are trusted (FashionMNIST)
    noise: str = "auto"               # auto | permutation | symmetric:R | pairflip:R | none | given;
                                      # auto = given for a dataset that supplies labels, else permutation
    channels: int = 0                 # user datasets: 1 or 3; 0 = 1 if every image is grey, else 3
    image_size: int = 0               # user datasets: resize to SxS; 0 = the images' own (equal) size
    test_fraction: float = 0.0        # manifest datasets: share of each class's clean rows held out as test
    test_manifest: str = ""           # manifest datasets: CSV path,label of the test images
    val_fraction: float = 0.1         # share of each class's clean images held out for validation, never trained
                                      # on: every choice is made on them, the test set only reports (0 = none)
    val_min_per_class: int = 50       # validation images per class at least, at most a quarter of its clean ones
    # model
    backbone: str = "auto"            # auto | smallcnn | resnet18; auto = smallcnn for images up to 64 px a side
                                      # (models/backbone.py), resnet18 above
    backbone_width: int = 64          # smallcnn: channels width/2 (stem), width, 2 width, 4 width
    stem: str = "imagenet"            # ResNet18 stem: imagenet (fast on CPU) | cifar
    backbone_weights: str = ""        # optional local weights file for the backbone (e.g. ImageNet's)
    pretrain: str = "auto"            # none | contrastive: start from a SimCLR backbone trained on the train
                                      # images | auto: contrastive for the wsgan D's ResNet18 branch (as the
                                      # paper has it), none for classifier backbones (measured no better there)
                                      # | teacher: as auto, but the models with a teacher (nr, nr-match,
                                      # nr-round*, nr-wsgan*) start their backbone from their teacher run's (on
                                      # the same split), and the classifier stage's models their clean net too
    backbone_lr_scale: float = 1.0    # backbone lr = lr * this (a pretrained backbone is fine-tuned gently)
    contrastive_epochs: float = 15.0  # SimCLR pretraining (pretrain: contrastive): epochs over the training images
    contrastive_lr: float = 2e-3      # its learning rate
    contrastive_batch_size: int = 256  # its batch (each image in two views: the other views are its negatives)
    contrastive_temperature: float = 0.2  # its NT-Xent temperature
    head_hidden: int = 256            # Linear(512, hidden) -> ReLU -> Linear(hidden, K)
    # teacher (teacher.py): soft pseudo-labels on the noisy/unlabelled images for the nr-family's clean net
    teacher_weight: float = 3.0       # weight of that loss; 0 = off (Hu et al. and the paper as published)
    teacher_run: str = ""             # finished classifier run on the same split; empty = train a clean-only
                                      # teacher into OUT/teacher first (sweeps use the clean-only sibling run)
    teacher_temperature: float = 0.5  # sharpening of the teacher's (prior-aligned) probabilities
    teacher_posterior: bool = True    # on an image with a noisy label, the target is the teacher's posterior
                                      # given that label, through a noise matrix estimated from its predictions
                                      # (teacher.label_posterior): labels right more often than chance sharpen it,
                                      # uninformative ones (permutation noise) leave it as it is
    # semi-supervision (stages/consistency.py, model nr-match): consistency on the non-clean images
    consistency_weight: float = 1.0   # weight of the loss on strongly augmented views toward the confident
                                      # predictions on weakly augmented ones (FixMatch)
    consistency_momentum: float = 0.99  # EMA of the confidence threshold and of the class distribution of the
                                      # predictions (FreeMatch's self-adaptive thresholds; FreeMatch's 0.999 is
                                      # for a million steps, weakgan's runs take a few thousand)
    consistency_threshold: float = 0.8  # the least confidence that makes a pseudo-label, whatever the adaptive
                                      # thresholds say (they start at 1/K and let nearly every early guess through)
    consistency_rampup: float = 0.3   # share of the steps over which its weight rises linearly from 0: early
                                      # predictions are mostly wrong, and a model trained toward them keeps them
    strong_ops: int = 2               # RandAugment-style operations per strongly augmented view (augment.py)
    consistency_epochs: float = 0.0   # epochs of nr-fixmatch, which starts from its teacher's backbone but learns
                                      # none of its targets, so it needs a whole schedule at the peak lr;
                                      # 0 = as any run (warm_epochs when it starts as its teacher, else epochs)
    # optimisation (one epoch = as many samples as the training set, for every model)
    epochs: float = 3.0               # passes over the training set (the number of steps: min_steps)
    min_steps: int = 500              # optimizer steps a run takes at least, however few its epochs make: a small
                                      # dataset (1,400 images at batch 256: 16 steps in 3 epochs) would stop
                                      # before it learnt anything (benchmarks/results/own_data.md); 0 = epochs only
    warm_epochs: float = 0.0          # epochs of a run that starts from its teacher (pretrain: teacher): it
                                      # needs fewer than one from scratch; 0 = epochs
    warm_lr: float = 0.0              # peak learning rate of such a run: a lower one refines what the teacher
                                      # learnt instead of moving away from it (quick.md); 0 = lr
    batch_size: int = 256             # images per step (global: split over torchrun's processes)
    clean_share: float = 0.1          # share of clean samples in an NR batch (Hu et al.: 1:9); 0 = auto: 1:9 or
                                      # the clean images' own share of the data, whichever is larger (fixmatch's
                                      # batches, which have no NR loss, are always auto)
    alpha: float = 0.2                # L = alpha * L_clean + L_noise
    optimizer: str = "adamw"          # adamw | adam (coupled L2, the paper's)
    lr: float = 2e-3                  # peak learning rate
    weight_decay: float = 5e-4        # decoupled (adamw) or L2 (adam)
    warmup: float = 0.03              # share of steps with linear warm-up; cosine decay after
    ema: float = 0.999                # decay of the weight average used for evaluation; 0 = off
    crop_pad: int = 2                 # random translation by up to this many pixels
    hflip: str = "auto"               # horizontal flips in training and mirror-averaged predictions (tta): on | off
                                      # | auto = on for FashionMNIST (its classes look the same mirrored), off for
                                      # your own images (digits, text, many medical images do not)
    vflip: bool = False               # vertical flips in training too (for images with no up and down)
    # WSGAN (stages/gan.py): stage 1 generator pretraining, stage 2/3 discriminator-classifier
    gan_labels: str = 'clean'             # labels G is conditioned on: clean | pseudo (clean + confident
                                          # predictions of the classifier run gan_pseudo_run on the noisy images)
    gan_pseudo_run: str = ''              # finished classifier run whose predictions pseudo-label the noisy
                                          # images for gan_labels: pseudo (must use the same clean split)
    gan_steps: int = 1000                 # generator steps of stage 1 (each with gan_n_critic critic steps)
    gan_batch_size: int = 64              # real images per critic step in stage 1
    gan_n_critic: int = 5                 # critic steps per generator step
    gan_gp_weight: float = 10.0           # gradient-penalty weight
    gan_lr: float = 0.0002                # Adam learning rate of G and critic in stage 1
    gan_beta1: float = 0.0                # Adam beta1 of stage 1 (WGAN-GP: 0 or 0.5)
    gan_beta2: float = 0.9                # Adam beta2 of stage 1
    gan_z_dim: int = 64                   # latent size of G
    gan_g_width: int = 32                 # G widths: 4w -> 2w -> w channels
    gan_critic_width: int = 32            # critic widths: w -> 2w -> 4w -> 4w channels
    gan_g_ema: float = 0.999              # decay of the moving average of G's weights (the G that is kept)
    gan_shift: int = 2                    # stage 1: random translation (pixels) of real and generated images alike
    gan_d_width: int = 32                 # width of D's attention branches (global: w -> 2w, local: w)
    gan_d_backbone: bool = True           # D's third branch: the run's backbone (`backbone`; the paper's is
                                          # ResNet18), from the contrastive backbone with pretrain: auto, or as
                                          # the split's clean-only run with pretrain: teacher
    gan_d_attention: bool = True          # D's two attention branches (the paper's); off: D is its backbone
                                          # branch alone, a classifier with a real/fake output (Salimans et al.
                                          # 2016), at a fraction of the cost on a CPU (wsgan_step_cost.md)
    gan_d_batch_size: int = 64            # real images (clean + noisy) per D step, before augmented views
    gan_d_epochs: float = 0.0             # epochs of the wsgan D (stage 2/3); 0 = epochs
    gan_d_lr: float = 0.0002              # Adam learning rate of D (warm-up + cosine)
    gan_clean_share: float = 0.0          # share of clean images among the real images of a D batch; 0 = auto:
                                          # a quarter or the clean images' own share of the data, the larger
                                          # (the paper states none; auto chosen over a fixed quarter on
                                          # validation at 50-70% clean, the same batches below 25%: wsgan.md)
    gan_views: int = 1                    # augmented views travelling with each real image
    gan_vflip: bool = False               # vertical flips in the views (the paper's; off: upside-down clothes
                                          # are not in the test set)
    gan_fake_ratio: float = 0.5           # generated images per real image in a D batch
    gan_pseudo_source: str = "own"        # targets of D's class logits on the noisy images: own (its confident
                                          # predictions, the paper's) | teacher (the teacher run's soft targets,
                                          # as nr's clean net learns them: teacher_temperature, teacher_posterior)
    gan_pseudo_threshold: float = 0.95    # softmax confidence from which a prediction becomes a pseudo-label
    gan_pseudo_weight: float = 1.0        # weight of the pseudo-label cross-entropy
    gan_pseudo_warmup: float = 0.1        # share of D steps before pseudo-labels are used
    gan_unsup_weight: float = 1.0         # weight of L_unsup
    gan_g_every: int = 0                  # stage 3: one G update every N D steps (0 = G stays fixed)
    gan_g_lr: float = 5e-05               # Adam learning rate of G in stage 3
    gan_class_weight: float = 1.0         # stage 3: weight of D's class cross-entropy on G(z, y)
    # NR + WSGAN (stages/nr_wsgan.py)
    wsgan_run: str = ""               # finished --model wsgan run on the same split (sweeps fill it in)
    fake_share: float = 0.3           # share of generated images in the noisy part of a batch
    wsgan_lr_scale: float = 0.3       # D's learning rate = lr * this while it is fine-tuned through L_noise
    round2_erase: float = 0.5         # nr-wsgan-round2: random-erasing probability on its real images (the
                                      # noised student of Noisy Student; round 1 and its teachers train without)
    # runtime
    cache_dir: str = "cache"          # shared pretraining results (contrastive backbone, generator)
    device: str = "auto"              # auto | cpu | cuda | mps
    threads: int = 0                  # CPU threads; 0 = all cores
    channels_last: bool = True        # faster on CPU too (benchmarks/results/: stem_speed.md for ResNet18,
                                      # smallcnn_choices.md for smallcnn)
    amp: str = "auto"                 # auto | none | bf16 | fp16 (CUDA only). auto: bf16 on CUDA; on a CPU, fp32
                                      # unless it has native bf16 and a timing probe finds bf16 faster (runtime.py)
    compile: bool = False             # torch.compile the training model (worth it on CUDA for long runs)
    eval_batch_size: int = 1024       # images per forward pass when predicting
    tta: bool = True                  # predictions: mean over each image and its mirror (where hflip is on)
    checkpoint_every: int = 200       # steps between checkpoints
    progress: bool = True             # a progress bar on stderr

    def mirrored(self) -> bool:
        """Whether this (resolved) run trains with horizontal flips and averages predictions with the mirror."""
        return self.hflip == "on"

    def steps(self, n_train: int) -> int:
        return max(1, self.min_steps, self.epoch_steps(n_train))

    def epoch_steps(self, n_train: int) -> int:
        return int(round(self.epochs * n_train / self.batch_size))

    def schedule(self, n_train: int) -> str:
        """How many steps a run of n_train images takes, and why (a line for the run's log)."""
        by_epochs = self.epoch_steps(n_train)
        line = f"{self.epochs:g} epochs of {n_train} images at batch {self.batch_size} = {by_epochs} steps"
        return line if by_epochs >= self.min_steps else \
            f"{line}; training the minimum of {self.steps(n_train)} instead (--min-steps)"


# settings with a fixed set of values (device, noise and dataset have patterns of their own, checked where read)
CHOICES = {"model": MODELS, "amp": PRECISIONS, "backbone": BACKBONES, "stem": ("imagenet", "cifar"),
           "optimizer": ("adamw", "adam"), "pretrain": ("auto", "none", "contrastive", "teacher"),
           "gan_labels": ("clean", "pseudo"), "gan_pseudo_source": ("own", "teacher"), "hflip": ("auto", "on", "off")}


def check_choice(name: str, value, source: str = "config") -> None:
    """Refuse a value outside CHOICES[name], listing the allowed ones."""
    if value not in CHOICES[name]:
        raise WeakganError(f"{source}: {name} '{value}': expected one of {', '.join(CHOICES[name])}")


def check_choices(cfg: "Config", source: str = "config") -> None:
    for name in CHOICES:
        check_choice(name, getattr(cfg, name), source)


def check_models(names: list[str], source: str = "config") -> None:
    """Refuse an unknown model name (a preset's or a sweep's list), listing the known ones."""
    for name in names:
        check_choice("model", name, source)


# The range of every numeric setting, as an interval ("[" closed, "(" open; "inf" = no bound). Checked whenever
# a Config is built from values (flags, YAML, presets), before any data is loaded or any folder is made.
RANGES = {
    "seed": "[0, inf)", "clean_fraction": "(0, 1]", "channels": "[0, 3]", "image_size": "[0, inf)",
    "test_fraction": "[0, 1)", "val_fraction": "[0, 1)", "val_min_per_class": "[0, inf)",
    "backbone_width": "[2, inf)", "backbone_lr_scale": "[0, inf)",
    "contrastive_epochs": "(0, inf)", "contrastive_lr": "(0, inf)", "contrastive_batch_size": "[2, inf)",
    "contrastive_temperature": "(0, inf)", "head_hidden": "[1, inf)", "teacher_weight": "[0, inf)",
    "teacher_temperature": "(0, inf)", "consistency_weight": "[0, inf)",
    "consistency_momentum": "[0, 1)", "consistency_rampup": "[0, 1]", "consistency_threshold": "[0, 1]", "strong_ops": "[0, 8]", "consistency_epochs": "[0, inf)", "epochs": "(0, inf)", "min_steps": "[0, inf)", "warm_epochs": "[0, inf)", "warm_lr": "[0, inf)", "batch_size": "[1, inf)",
    "clean_share": "[0, 1)", "alpha": "[0, inf)", "lr": "[0, inf)", "weight_decay": "[0, inf)", "warmup": "[0, 1)",
    "ema": "[0, 1)", "crop_pad": "[0, inf)", "gan_steps": "[1, inf)", "gan_batch_size": "[1, inf)",
    "gan_n_critic": "[1, inf)", "gan_gp_weight": "[0, inf)", "gan_lr": "(0, inf)", "gan_beta1": "[0, 1)",
    "gan_beta2": "[0, 1)", "gan_z_dim": "[1, inf)", "gan_g_width": "[1, inf)", "gan_critic_width": "[1, inf)",
    "gan_g_ema": "[0, 1)", "gan_shift": "[0, inf)", "gan_d_width": "[1, inf)", "gan_d_batch_size": "[1, inf)",
    "gan_d_epochs": "[0, inf)", "gan_d_lr": "(0, inf)", "gan_clean_share": "[0, 1]", "gan_views": "[0, inf)",
    "gan_fake_ratio": "[0, inf)", "gan_pseudo_threshold": "[0, 1]", "gan_pseudo_weight": "[0, inf)",
    "gan_pseudo_warmup": "[0, 1]", "gan_unsup_weight": "[0, inf)", "gan_g_every": "[0, inf)",
    "gan_g_lr": "(0, inf)", "gan_class_weight": "[0, inf)", "fake_share": "[0, 1)", "wsgan_lr_scale": "[0, inf)",
    "round2_erase": "[0, 1]", "threads": "[0, inf)", "eval_batch_size": "[1, inf)", "checkpoint_every": "[1, inf)",
}


def _in_range(value: float, interval: str) -> bool:
    lo, hi = (float(v) for v in interval[1:-1].split(","))
    above = value > lo or (interval[0] == "[" and value == lo)
    below = value < hi or (interval[-1] == "]" and value == hi)
    return above and below


def check_ranges(cfg: "Config", source: str = "config") -> None:
    """Refuse the first numeric setting outside its RANGES interval (or not finite), naming its flag."""
    for name, interval in RANGES.items():
        value = getattr(cfg, name)
        if not math.isfinite(value) or not _in_range(value, interval):
            raise WeakganError(f"{source}: {name} {value!r} is out of range; expected a value in {interval} "
                               f"(--{name.replace('_', '-')})")


def _coerce(field_type: str, value, name: str):
    try:
        if field_type == "bool":
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        return {"int": int, "float": float, "str": str}[field_type](value)
    except (TypeError, ValueError):
        raise WeakganError(f"config '{name}': {value!r} is not a valid {field_type}") from None


# config.yaml of older runs: gan_d_resnet was the D branch that is now the run's backbone (it was ResNet18 alone)
RENAMED = {"gan_d_resnet": "gan_d_backbone"}


def from_dict(values: dict, base: Config | None = None, source: str = "config") -> Config:
    known = {f.name: f for f in fields(Config)}
    out = dataclasses.asdict(base or Config())
    for key, value in values.items():
        name = RENAMED.get(key.replace("-", "_"), key.replace("-", "_"))
        if name not in known:
            raise WeakganError(f"{source}: unknown setting '{key}'")
        if name == "hflip" and isinstance(value, bool):   # config.yaml of runs from before 'auto'
            value = "on" if value else "off"
        out[name] = _coerce(known[name].type, value, name)
    cfg = Config(**out)
    check_ranges(cfg, source)
    check_choices(cfg, source)
    return cfg


# settings that change how a run is carried out, not what it computes (nor what its metrics say)
RUNTIME_ONLY = {"device", "threads", "progress", "checkpoint_every", "cache_dir", "data_dir", "download",
                "eval_batch_size", "compile"}


def differences(saved: Config, wanted: Config, ignore: set[str] = frozenset()) -> list[str]:
    """'name: saved -> wanted' for every setting (but the runtime-only and ignored ones) where two configs
    differ; a wanted 'auto' or '' accepts whatever the run resolved it to (noise: auto -> permutation)."""
    a, b = dataclasses.asdict(saved), dataclasses.asdict(wanted)
    return [f"{k}: {a[k]!r} -> {b[k]!r}" for k in a
            if k not in RUNTIME_ONLY | ignore and a[k] != b[k] and b[k] not in ("auto", "")]


def load_yaml(path: str | Path) -> dict:
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise WeakganError(f"{path}: config file not found") from None
    except yaml.YAMLError as e:
        raise WeakganError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(values, dict):
        raise WeakganError(f"{path}: expected a mapping of setting: value")
    return values


def read_config(path: str | Path) -> Config:
    """A run's saved config.yaml. Runs from before the backbone setting trained a ResNet18."""
    values = load_yaml(path)
    values.setdefault("backbone", "resnet18")
    return from_dict(values, source=str(path))


def field_help() -> dict[str, tuple[str, str]]:
    """{setting: (group, help)}, read from Config's source: the group is the section comment above a field
    (its words before any '(' or ':'), the help is the comment beside it with its continuation lines. So the
    flags' help is the code's own documentation, and a setting without a comment shows up in a test."""
    try:
        lines = inspect.getsource(Config).splitlines()[1:]
    except (OSError, TypeError):   # no source (a frozen build): flags without help
        return {}
    out, group, name = {}, "settings", None
    for line in lines:
        if line.startswith("    def "):
            break
        code, _, comment = line.partition("  #") if not line.lstrip().startswith("#") else ("", "", line.strip()[1:])
        if re.match(r"^    [a-z_0-9]+: ", line):
            name = line.split(":")[0].strip()
            out[name] = (group, comment.strip())
        elif re.match(r"^    # ", line):   # a section: the group of the fields below it
            group, name = re.split(r" \(|:", line.strip()[2:])[0].strip(), None
        elif comment and name:           # a continuation line of the last field's comment
            out[name] = (group, f"{out[name][1]} {comment.strip()}")
    return out


def add_config_flags(parser: argparse.ArgumentParser, skip: tuple[str, ...] = (),
                     groups: tuple[str, ...] | None = None) -> None:
    """One --flag per Config field (default None, so that only flags actually given override), in argument
    groups by Config's sections, each with its comment as help; groups limits them to the ones a command uses."""
    parser.add_argument("--config", help="YAML file with settings (flags win)")
    docs, sections = field_help(), {}
    for f in fields(Config):
        group, text = docs.get(f.name, ("settings", ""))
        if f.name in skip or groups is not None and group not in groups:
            continue
        if group not in sections:
            sections[group] = parser.add_argument_group(f"{group} settings")
        flag = "--" + f.name.replace("_", "-")
        text = f"{text} [default: {f.default!r}]".strip().replace("%", "%%")
        if f.type == "bool":
            sections[group].add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=text)
        else:
            sections[group].add_argument(flag, default=None, metavar=f.type.upper(), help=text)


def resolve(args: argparse.Namespace, base: Config | None = None) -> Config:
    cfg = base or Config()
    if getattr(args, "config", None):
        cfg = from_dict(load_yaml(args.config), cfg, source=args.config)
    given = {f.name: getattr(args, f.name) for f in fields(Config) if getattr(args, f.name, None) is not None}
    return from_dict(given, cfg, source="command line")


def to_yaml(cfg: Config) -> str:
    return yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False)
