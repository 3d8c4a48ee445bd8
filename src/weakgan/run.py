"""One training run, start to finish: data -> split -> stage -> training -> metrics, figures, weights.

A run folder holds config.yaml, classes.json, split.json + split.npz, checkpoints/last.pt,
model.safetensors, metrics.json, train_log.json and predictions.png.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from weakgan import WeakganError
from weakgan.checkpoint import atomic_write_text, check_writable, folder_lock, load_weights, read_json, save_weights
from weakgan.config import Config, differences, read_config, to_yaml
from weakgan.run_folder import read_run_config
from weakgan.data import load_dataset
from weakgan.data.dataset import Dataset
from weakgan.figures import top_k_figure
from weakgan.metrics import classification_metrics, predict_probs
from weakgan.models.backbone import resolve_backbone
from weakgan.noise import Split, make_split, parse_noise
from weakgan import distributed
from weakgan.distributed import DistInfo, gather_rows
from weakgan.runtime import describe, pick_device, provenance, set_threads
from weakgan.stages.classifier import ClassifierStage
from weakgan.recipes import recipe, reads_teacher, sibling_runs, starts_as_teacher, uses_contrastive, with_run_schedule
from weakgan.train import fit


# Refuse to start without room for checkpoints: a full-preset nr-wsgan checkpoint is 369 MB (weights, EMA, Adam
# moments of ResNet18 + WSGAN), written beside the old one before it replaces it, plus 94 MB of final weights.
MIN_FREE_BYTES = 1024 * 2**20


def prepare_out_dir(out: str | Path) -> Path:
    """Create the run folder and prove it is writable, with room to spare, before any training starts."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):   # a name of its own: workers sharing a folder probe at once
            pass
    except OSError as e:
        raise WeakganError(f"{out}: output folder is not writable ({e.strerror})") from None
    free = shutil.disk_usage(out).free
    if free < MIN_FREE_BYTES:
        raise WeakganError(f"{out}: only {free // 2**20} MB free on this disk, need at least "
                           f"{MIN_FREE_BYTES // 2**20} MB for checkpoints")
    return out


def resolve_auto(cfg: Config, data: Dataset) -> Config:
    """The settings 'auto' resolves with the data: noise (the labels a user dataset supplies, else the
    paper's permutation noise), backbone (by image size, models/backbone.py) and hflip (on for FashionMNIST,
    whose classes are mirror-symmetric; off for a user's images, where that is not known)."""
    noise = cfg.noise if cfg.noise != "auto" else "given" if data.given_labels is not None else "permutation"
    hflip = cfg.hflip if cfg.hflip != "auto" else "on" if cfg.dataset == "fashion-mnist" else "off"
    return dataclasses.replace(cfg, noise=noise, hflip=hflip, backbone=resolve_backbone(cfg.backbone, data.train.shape))


def split_for(cfg: Config, data: Dataset) -> Split:
    """The clean / validation / noisy split a run with these settings makes (deterministic in the seed)."""
    cfg = resolve_auto(cfg, data)
    given = data.given_labels.numpy() if data.given_labels is not None else None
    clean = data.given_clean.numpy() if data.given_clean is not None else None
    return make_split(data.train.targets.numpy(), data.train.num_classes, cfg.clean_fraction, cfg.noise, cfg.seed,
                      given, clean, cfg.val_fraction, cfg.val_min_per_class)


def load_or_make_split(cfg: Config, data: Dataset, out: Path) -> Split:
    """The folder's saved split, or a new one (not saved: the caller saves it once the run is known to start)."""
    cfg = resolve_auto(cfg, data)
    if not (out / "split.npz").exists():
        return split_for(cfg, data)
    split = Split.load(out)
    if (split.noise, split.seed, split.n_train) != (cfg.noise, cfg.seed, len(data.train.targets)) or \
            abs(split.clean_fraction - cfg.clean_fraction) > 1e-9 and data.given_clean is None:
        raise WeakganError(f"{out}/split.json: saved split ({split.clean_fraction}, {split.noise}, seed "
                           f"{split.seed}) does not match this config; use a new --out folder")
    return split


def validation_metrics(model: torch.nn.Module, score: str, data: Dataset, split: Split, mean: float, std: float,
                       cfg: Config, device: torch.device) -> dict:
    """Top-1 on the split's held-out clean images, predicted as the test images are (None without them)."""
    if len(split.val_idx) == 0:
        return {"val_top1": None, "n_val": 0}
    idx = torch.as_tensor(split.val_idx)
    probs = predict_probs(model, data.train.images[idx], score, mean, std, device, cfg.eval_batch_size,
                          cfg.channels_last, flip=cfg.tta and cfg.mirrored())
    return {"val_top1": float((probs.argmax(1) == data.train.targets[idx]).float().mean()), "n_val": len(idx)}


def evaluate(model: torch.nn.Module, score: str, data: Dataset, split: Split, mean: float, std: float, cfg: Config,
             device: torch.device, out: Path, info: DistInfo | None = None) -> dict:
    """Metrics on the validation images, then on the whole test set, read once, after training; under
    torchrun each rank predicts a strided shard of the test set, then all gather."""
    info = info or DistInfo(0, 1, device)
    val = validation_metrics(model, score, data, split, mean, std, cfg, device)
    shard = data.test.images[info.rank::info.world]
    probs = predict_probs(model, shard, score, mean, std, device, cfg.eval_batch_size, cfg.channels_last,
                          flip=cfg.tta and cfg.mirrored())
    probs = gather_rows(probs.to(device), len(data.test), info).cpu().numpy()
    targets = data.test.targets.numpy()
    metrics = {**classification_metrics(probs, targets, data.class_names), **val}
    if info.main:  # Fig. 5: a fixed, seeded selection of test images with true label and top-3 predictions
        pick = np.random.default_rng(0).choice(len(targets), size=min(16, len(targets)), replace=False)
        top_k_figure(data.test.images[pick].numpy(), probs[pick], data.class_names, out / "predictions.png",
                     true_labels=targets[pick])
    return metrics


def backbone_weights_for(cfg: Config, data: Dataset, device: torch.device) -> str | None:
    """The weights a run's backbone starts from: a user's file, its teacher run's, the cached contrastive
    backbone, or none."""
    if starts_as_teacher(cfg):
        if not reads_teacher(cfg):
            raise WeakganError(f"pretrain 'teacher': model '{cfg.model}' has no teacher to start from "
                               "(teacher_weight is 0)")
        # warm start: the teacher already learnt the clean labels; this run adds the noisy images to it
        return str(Path(cfg.teacher_run) / "model.safetensors")
    if cfg.backbone_weights:
        return cfg.backbone_weights
    if uses_contrastive(cfg):
        from weakgan.stages.contrastive import pretrain_contrastive
        return str(pretrain_contrastive(cfg, data, device, cfg.cache_dir))
    return None


def generator_weights_for(cfg: Config, data: Dataset, split: Split, device: torch.device) -> str | None:
    """The cached stage-1 generator a WSGAN run starts from (trained first if the cache lacks it)."""
    if not recipe(cfg.model).generator:
        return None
    from weakgan.stages.gan import pretrain_generator
    return str(pretrain_generator(cfg, data, split, device, cfg.cache_dir))


def make_stage(cfg: Config, data: Dataset, split: Split, device: torch.device, weights: str | None = None,
               generator_weights: str | None = None, rank: int = 0, world: int = 1):
    stage = recipe(cfg.model).stage
    if stage == "wsgan":
        from weakgan.stages.gan import WSGANClassifierStage
        return WSGANClassifierStage(cfg, data, split, device, weights, generator_weights, rank, world)
    if stage == "nr-wsgan":
        from weakgan.stages.nr_wsgan import NRWSGANStage
        return NRWSGANStage(cfg, data, split, device, weights, rank, world)
    return ClassifierStage(cfg, data, split, device, weights, rank, world)


def train_with_teacher(cfg: Config, out: str | Path, override: bool = False) -> dict:
    """`weakgan train`: a run that learns from a classifier-stage teacher and names none (teacher_run) gets one
    trained first, into OUT/teacher, with its own teacher in OUT/teacher/teacher and so on (nr-round3 ->
    nr-round2 -> nr -> clean-only), each resumable like the run itself; every other run it reads (an nr-wsgan
    teacher, wsgan_run, ...) must be given."""
    teacher_model = recipe(cfg.model).teacher
    if reads_teacher(cfg) and not cfg.teacher_run and recipe(teacher_model).stage == "classifier":
        check_run_folder(cfg, Path(out))   # the run's own folder first: no teacher for a run that cannot start
        teacher = Path(out) / "teacher"
        if not (teacher / "metrics.json").exists():
            train_with_teacher(dataclasses.replace(cfg, model=teacher_model), teacher, override)
        cfg = dataclasses.replace(cfg, teacher_run=str(teacher))
    return train_run(cfg, out, override)


def train_run(cfg: Config, out: str | Path, override: bool = False) -> dict:
    """Train one run into `out` (resuming it if it was started with the same settings; with override, also
    if it was started with others: the change is recorded in out/history.json). The main process holds the
    folder's lock throughout."""
    if cfg.noise != "auto":
        parse_noise(cfg.noise)  # fail on a bad setting before touching data or disk
    for setting, model in sibling_runs(cfg):   # a run trains from the runs it is given, never makes them
        if not getattr(cfg, setting):
            raise WeakganError(f"model '{cfg.model}' needs --{setting.replace('_', '-')} RUN_DIR: a finished "
                               f"{model} run on the same split (`weakgan sweep` fills it in)")
    info = distributed.setup(cfg.device)
    out = Path(out)
    if not info.main:
        return _train(cfg, out, info, override)
    fresh = not out.exists()
    check_run_folder(cfg, out)
    try:
        with folder_lock(out, log=lambda msg: print(f"weakgan: {msg}", file=sys.stderr)):
            return _train(cfg, out, info, override)
    except WeakganError:
        if fresh and [p.name for p in out.iterdir()] == [".lock"]:
            shutil.rmtree(out)   # refused before anything was written: no folder left behind
        raise


def _train(cfg: Config, out: Path, info: DistInfo, override: bool) -> dict:
    t0 = time.perf_counter()
    threads = set_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    data = load_dataset(cfg.dataset, cfg.data_dir, cfg.download, cfg=cfg)
    cfg = resolve_auto(cfg, data)
    cfg = with_run_schedule(cfg)
    if info.main:   # rank 0 writes the split and does shared pretraining; the others then read them
        check_same_settings(cfg, out, override)
        split = load_or_make_split(cfg, data, out)
        weights = backbone_weights_for(cfg, data, info.device)
        gen_weights = generator_weights_for(cfg, data, split, info.device)
        # the stage before anything goes into the folder: a model that cannot train on this split (fixmatch with
        # every image clean, nr without noisy labels or a teacher) leaves the folder as it found it
        stage = make_stage(cfg, data, split, info.device, weights, gen_weights, info.rank, info.world)
        if not (out / "split.npz").exists():
            split.save(out, data.train.targets.numpy())
        atomic_write_text(out / "config.yaml", to_yaml(cfg))
        atomic_write_text(out / "classes.json", json.dumps(data.class_names) + "\n")
    distributed.barrier()
    if not info.main:  # cache hits now
        split, weights = Split.load(out), backbone_weights_for(cfg, data, info.device)
        gen_weights = generator_weights_for(cfg, data, split, info.device)
        stage = make_stage(cfg, data, split, info.device, weights, gen_weights, info.rank, info.world)
    stage.train_model = distributed.wrap(stage.model, info)
    if cfg.compile:
        stage.train_model = torch.compile(stage.train_model)
    identity = {"model": cfg.model, "dataset": cfg.dataset, "clean_fraction": cfg.clean_fraction,
                "noise": cfg.noise, "seed": cfg.seed, "n_train": split.n_train, "world": info.world}
    run_cfg = stage.cfg   # a stage may adapt settings (WSGAN: its own batch size, no EMA)
    schedule = run_cfg.schedule(split.n_train)
    if info.main and run_cfg.steps(split.n_train) > run_cfg.epoch_steps(split.n_train):
        print(f"weakgan: {cfg.model}: {schedule}", file=sys.stderr)   # a small dataset: say why it trains longer
    summary = fit(stage, run_cfg, run_cfg.steps(split.n_train), out / "checkpoints" / "last.pt", identity,
                  name=cfg.model, main=info.main)
    metrics = evaluate(stage.model, stage.score, data, split, stage.mean, stage.std, cfg, info.device, out, info)
    metrics.update({"model": cfg.model, "clean_fraction": split.clean_fraction, "noise": cfg.noise,
                    "seed": cfg.seed, "steps": summary["steps"], "schedule": schedule,
                    "train_seconds": summary["train_seconds"],
                    "wall_seconds": time.perf_counter() - t0,   # this call: data, pretraining, training, evaluation
                    "device": describe(info.device) + (f"x{info.world}" if info.world > 1 else ""),
                    "threads": threads, "world_size": info.world, "precision": summary["precision"],
                    "precision_reason": summary["precision_reason"], "compile": cfg.compile,
                    **provenance(), "normalization": [stage.mean, stage.std],
                    "input_shape": list(data.train.shape), "split": split.summary(data.train.targets.numpy())})
    if info.main:
        save_weights(out / "model.safetensors", stage.model.state_dict())
        if recipe(cfg.model).generator:   # its generator, for nr-wsgan and `weakgan generate`, and the paper's Fig. 3
            from weakgan.gan_metrics import class_grid
            from weakgan.stages.gan import save_generator
            save_generator(out, stage.model.generator)
            class_grid(stage.model.generator, data.class_names, out / "generated.png")
        atomic_write_text(out / "train_log.json", json.dumps(summary["history"]) + "\n")
        atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    distributed.barrier()
    return metrics


def check_run_folder(cfg: Config, out: Path) -> None:
    """The folder must be writable and hold nothing but (a resumable part of) this same run."""
    prepare_out_dir(out)
    if (out / "config.yaml").exists():
        saved = read_config(out / "config.yaml")
        if (saved.model, saved.stem, saved.dataset) != (cfg.model, cfg.stem, cfg.dataset):
            raise WeakganError(f"{out}/config.yaml: this folder holds a run of model '{saved.model}' "
                               f"({saved.dataset}); use a new --out folder")


def check_same_settings(cfg: Config, out: Path, override: bool) -> None:
    """A folder holds one run: a run started with other settings (all but the runtime-only ones) is refused,
    naming them, unless override asks to continue it with the new ones; that change goes into history.json."""
    if not (out / "config.yaml").exists():
        return
    changed = differences(read_config(out / "config.yaml"), cfg)
    if not changed:
        return
    if not override:
        raise WeakganError(f"{out}: this folder holds a run started with other settings ({'; '.join(changed[:4])}"
                           f"{'; ...' if len(changed) > 4 else ''}); re-run with its settings to resume it, use a new "
                           "--out folder, or add --override to continue it with the new settings")
    history = read_json(out / "history.json") if (out / "history.json").exists() else []
    history.append({"date": provenance()["date"], "override": changed})
    atomic_write_text(out / "history.json", json.dumps(history, indent=1) + "\n")


def evaluate_run(run_dir: str | Path) -> dict:
    """Re-evaluate a finished run from its folder (config.yaml + model.safetensors)."""
    run_dir = Path(run_dir)
    cfg = read_run_config(run_dir)
    check_writable(run_dir / "metrics.json")   # before the work, not after it
    check_writable(run_dir / "predictions.png")
    set_threads(cfg.threads)
    device = pick_device(cfg.device)
    data = load_dataset(cfg.dataset, cfg.data_dir, False, cfg=cfg)
    split = Split.load(run_dir)
    stage = make_stage(cfg, data, split, device)
    stage.model.load_state_dict(load_weights(run_dir / "model.safetensors"))
    metrics = evaluate(stage.model, stage.score, data, split, stage.mean, stage.std, cfg, device, run_dir)
    old = read_json(run_dir / "metrics.json") if (run_dir / "metrics.json").exists() else {}
    old.update(metrics)
    atomic_write_text(run_dir / "metrics.json", json.dumps(old, indent=2) + "\n")
    return old
