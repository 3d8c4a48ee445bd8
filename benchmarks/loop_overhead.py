"""Overhead of weakgan's training loop: time per step of train.fit() on a real stage, divided by the time of
the bare forward + backward + optimizer step of the same network on the same batch size, with the batches
made beforehand (no index sampling, no augmentation, no EMA, no logging, no checkpoint).

  python3 benchmarks/loop_overhead.py [--model clean-only|nr] [--backbone resnet18|smallcnn] [--stem imagenet|cifar]
                                      [--steps 100] [--repeats 2] [--amp bf16] [--device auto] [--batch-size 256]

On a GPU (`--device cuda`) both timings end with a device synchronisation, so the ratio says how much of the
GPU's time the loop's own host work (index sampling, augmentation, EMA, log reads) leaves it idle.

The two are timed alternately, `--repeats` times each, in one process; the ratio of the medians is
printed with the machine. The loop's run includes everything a real run does per step (sampling,
augmentation, EMA, progress bookkeeping, one checkpoint at the end); with --model nr also the teacher's
soft targets (a clean-only teacher trained for a few steps first, not timed).
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

import torch

from weakgan.config import Config
from weakgan.data import load_dataset
from weakgan.run import split_for, train_run
from weakgan.runtime import autocast, choose_precision, describe, machine, pick_device, set_threads
from weakgan.stages.classifier import ClassifierStage, bce_onehot
from weakgan.train import fit, make_optimizer


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_loop(cfg: Config, data, split, steps: int, tmp: Path, i: int, device: torch.device) -> float:
    stage = ClassifierStage(cfg, data, split, device)
    synchronize(device)
    t0 = time.perf_counter()
    fit(stage, cfg, steps, tmp / f"loop{i}.pt", {"bench": i}, name="loop")
    synchronize(device)
    return (time.perf_counter() - t0) / steps


def time_bare(cfg: Config, data, split, steps: int, device: torch.device) -> float:
    stage = ClassifierStage(cfg, data, split, device)   # same network, fresh weights
    model = stage.model.train()
    opt = make_optimizer(cfg, model.parameters())
    batches = []
    for _ in range(min(steps, 20)):   # made beforehand; reused cyclically
        idx = torch.cat(list(next(stage.batches).values()))
        batches.append((stage.batcher(idx), stage.labels[idx].to(device)))
    synchronize(device)
    t0 = time.perf_counter()
    for s in range(steps):
        x, y = batches[s % len(batches)]
        with autocast(device, cfg.amp):
            if cfg.model == "nr":
                c, r = model(x, with_residual=True)
                loss = bce_onehot(c, y) + bce_onehot(c + r, y)
            else:
                loss = bce_onehot(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    synchronize(device)
    return (time.perf_counter() - t0) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="clean-only", choices=["clean-only", "nr"])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--amp", default="bf16")
    ap.add_argument("--clean-fraction", type=float, default=0.05)
    ap.add_argument("--stem", default="imagenet", choices=["imagenet", "cifar"])
    ap.add_argument("--backbone", default="resnet18", choices=["resnet18", "smallcnn"])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=256)
    args = ap.parse_args()
    set_threads(0)
    device = pick_device(args.device)
    # one precision for both timings (auto without a probe: bf16 on CUDA, fp32 on a CPU)
    precision = choose_precision(args.amp, device)[0]
    cfg = Config(model=args.model, amp=precision, stem=args.stem, backbone=args.backbone, device=args.device,
                 batch_size=args.batch_size, clean_fraction=args.clean_fraction, progress=False,
                 checkpoint_every=args.steps, noise="permutation")
    data = load_dataset(cfg.dataset, cfg.data_dir)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.model == "nr":   # a quickly trained teacher: its targets cost the same whatever its accuracy
            train_run(dataclasses.replace(cfg, model="clean-only", epochs=0.05), tmp / "teacher")
            cfg = dataclasses.replace(cfg, teacher_run=str(tmp / "teacher"))
        split = split_for(cfg, data)
        loop, bare = [], []
        for i in range(args.repeats):
            bare.append(time_bare(cfg, data, split, args.steps, device))
            loop.append(time_loop(cfg, data, split, args.steps, tmp, i, device))
    lm, bm = statistics.median(loop), statistics.median(bare)
    print(f"{machine() if device.type == 'cpu' else describe(device)}; model {args.model}, backbone {cfg.backbone}, "
          f"stem {cfg.stem}, batch {cfg.batch_size}, amp {cfg.amp}, {args.steps} steps x {args.repeats}")
    print(f"images/s: loop {cfg.batch_size / lm:.0f}, bare {cfg.batch_size / bm:.0f}")
    print(f"loop s/step: {', '.join(f'{v:.4f}' for v in loop)}; bare s/step: {', '.join(f'{v:.4f}' for v in bare)}")
    print(f"overhead ratio (loop / bare, medians): {lm / bm:.3f}")


if __name__ == "__main__":
    main()
