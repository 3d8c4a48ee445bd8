"""Run configuration: one flat dataclass of typed values.

Defaults live here; a YAML file (--config) overrides them; command-line flags override both. The
resolved values are written to config.yaml in every run folder.
"""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from weakgan import WeakganError


@dataclass
class Config:
    # what to train
    model: str = "nr"                 # clean-only | naive | nr
    seed: int = 0
    # data
    dataset: str = "fashion-mnist"    # fashion-mnist | folder:ROOT | manifest:FILE.csv (docs/own-data.md)
    data_dir: str = ""                # folder with the IDX files; else $WEAKGAN_DATA, then the Debian path
    download: bool = False            # allow torchvision to download FashionMNIST (never in tests)
    clean_fraction: float = 0.05
    noise: str = "auto"               # auto | permutation | symmetric:R | pairflip:R | none | given
                                      # auto = given for a dataset that supplies labels, else permutation
    channels: int = 0                 # user datasets: 1 or 3; 0 = 1 if every image is grey, else 3
    image_size: int = 0               # user datasets: resize to SxS; 0 = the images' own (equal) size
    test_fraction: float = 0.0        # manifest datasets: share of each class's clean rows held out as test
    test_manifest: str = ""           # manifest datasets: CSV path,label of the test images
    # model
    stem: str = "imagenet"            # ResNet18 stem: imagenet (fast on CPU) | cifar
    backbone_weights: str = ""        # optional local weights file for the backbone (e.g. ImageNet's)
    pretrain: str = "none"            # none | contrastive: start from a SimCLR backbone trained on the train images
    backbone_lr_scale: float = 1.0    # backbone lr = lr * this (a pretrained backbone is fine-tuned gently)
    contrastive_epochs: float = 15.0
    contrastive_lr: float = 2e-3
    contrastive_batch_size: int = 256
    contrastive_temperature: float = 0.2
    cache_dir: str = "cache"          # shared pretraining results (contrastive backbone, generator)
    head_hidden: int = 256            # Linear(512, hidden) -> ReLU -> Linear(hidden, K)
    # optimisation (one epoch = as many samples as the training set, for every model)
    epochs: float = 3.0
    batch_size: int = 256
    clean_share: float = 0.1          # share of clean samples in an NR batch (Hu et al.: 1:9)
    alpha: float = 0.2                # L = alpha * L_clean + L_noise
    optimizer: str = "adamw"          # adamw | adam (coupled L2, the paper's)
    lr: float = 2e-3
    weight_decay: float = 5e-4
    warmup: float = 0.03              # share of steps with linear warm-up; cosine decay after
    ema: float = 0.999                # decay of the weight average used for evaluation; 0 = off
    crop_pad: int = 2                 # random translation by up to this many pixels
    hflip: bool = True
    vflip: bool = False
    # runtime
    device: str = "auto"              # auto | cpu | cuda | mps
    threads: int = 0                  # CPU threads; 0 = all cores
    channels_last: bool = True        # measured faster on CPU too (models/backbone.py)
    amp: str = "none"                 # none | bf16 | fp16 (fp16 on CUDA only); bf16 is ~1.3x faster on AVX512-BF16 CPUs
    compile: bool = False             # torch.compile the training model (worth it on CUDA for long runs)
    eval_batch_size: int = 1024
    checkpoint_every: int = 200       # steps between checkpoints
    progress: bool = True

    def steps(self, n_train: int) -> int:
        return max(1, int(round(self.epochs * n_train / self.batch_size)))


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


def from_dict(values: dict, base: Config | None = None, source: str = "config") -> Config:
    known = {f.name: f for f in fields(Config)}
    out = dataclasses.asdict(base or Config())
    for key, value in values.items():
        name = key.replace("-", "_")
        if name not in known:
            raise WeakganError(f"{source}: unknown setting '{key}'")
        out[name] = _coerce(known[name].type, value, name)
    return Config(**out)


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


def add_config_flags(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """One --flag per Config field; default None so that only flags actually given override."""
    parser.add_argument("--config", help="YAML file with settings (flags win)")
    for f in fields(Config):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        else:
            parser.add_argument(flag, default=None, metavar=f.type.upper())


def resolve(args: argparse.Namespace, base: Config | None = None) -> Config:
    cfg = base or Config()
    if getattr(args, "config", None):
        cfg = from_dict(load_yaml(args.config), cfg, source=args.config)
    given = {f.name: getattr(args, f.name) for f in fields(Config) if getattr(args, f.name, None) is not None}
    return from_dict(given, cfg, source="command line")


def to_yaml(cfg: Config) -> str:
    return yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False)
