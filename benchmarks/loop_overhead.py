"""Overhead of weakgan's training loop: time per step of train.fit() on a real stage, divided by the time of
the bare forward + backward + optimizer step of the same network on the same batch size, with the batches
made beforehand (no index sampling, no augmentation, no EMA, no logging, no checkpoint).

  python3 benchmarks/loop_overhead.py [--model clean-only|nr] [--stem imagenet|cifar] [--steps 100] [--repeats 2]
                                      [--amp bf16]

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
from weakgan.run import load_or_make_split, train_run
from weakgan.runtime import autocast, choose_precision, machine, set_threads
from weakgan.stages.classifier import ClassifierStage, bce_onehot
from weakgan.train import fit, make_optimizer


def time_loop(cfg: Config, data, split, steps: int, tmp: Path, i: int) -> float:
    stage = ClassifierStage(cfg, data, split, torch.device("cpu"))
    t0 = time.perf_counter()
    fit(stage, cfg, steps, tmp / f"loop{i}.pt", {"bench": i}, name="loop")
    return (time.perf_counter() - t0) / steps


def time_bare(cfg: Config, data, split, steps: int) -> float:
    stage = ClassifierStage(cfg, data, split, torch.device("cpu"))   # same network, fresh weights
    model = stage.model.train()
    opt = make_optimizer(cfg, model.parameters())
    batches = []
    for _ in range(min(steps, 20)):   # made beforehand; reused cyclically
        idx = torch.cat(list(next(stage.batches).values()))
        batches.append((stage.batcher(idx), stage.labels[idx]))
    t0 = time.perf_counter()
    for s in range(steps):
        x, y = batches[s % len(batches)]
        with autocast(torch.device("cpu"), choose_precision(cfg.amp, torch.device("cpu"))[0]):
            if cfg.model == "nr":
                c, r = model(x, with_residual=True)
                loss = bce_onehot(c, y) + bce_onehot(c + r, y)
            else:
                loss = bce_onehot(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - t0) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="clean-only", choices=["clean-only", "nr"])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--amp", default="bf16")
    ap.add_argument("--clean-fraction", type=float, default=0.05)
    ap.add_argument("--stem", default="imagenet", choices=["imagenet", "cifar"])
    args = ap.parse_args()
    set_threads(0)
    cfg = Config(model=args.model, amp=args.amp, stem=args.stem, clean_fraction=args.clean_fraction, progress=False,
                 checkpoint_every=args.steps, noise="permutation")
    data = load_dataset(cfg.dataset, cfg.data_dir)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.model == "nr":   # a quickly trained teacher: its targets cost the same whatever its accuracy
            train_run(dataclasses.replace(cfg, model="clean-only", epochs=0.05), tmp / "teacher")
            cfg = dataclasses.replace(cfg, teacher_run=str(tmp / "teacher"))
        split = load_or_make_split(cfg, data, tmp)
        loop, bare = [], []
        for i in range(args.repeats):
            bare.append(time_bare(cfg, data, split, args.steps))
            loop.append(time_loop(cfg, data, split, args.steps, tmp, i))
    lm, bm = statistics.median(loop), statistics.median(bare)
    print(f"{machine()}; model {args.model}, stem {cfg.stem}, batch {cfg.batch_size}, amp {cfg.amp}, "
          f"{args.steps} steps x {args.repeats}")
    print(f"loop s/step: {', '.join(f'{v:.4f}' for v in loop)}; bare s/step: {', '.join(f'{v:.4f}' for v in bare)}")
    print(f"overhead ratio (loop / bare, medians): {lm / bm:.3f}")


if __name__ == "__main__":
    main()
