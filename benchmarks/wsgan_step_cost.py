"""What a wsgan D step costs on this machine, and which of its parts the time goes to: seconds per D step
(stage 2: the D batch of gan_d_batch_size real images, their views and the generated images) of the full
preset's D (smallcnn width 64 backbone branch) on FashionMNIST, with one part taken away at a time.

  python3 benchmarks/wsgan_step_cost.py [--steps 20] [--repeats 3] [--amp bf16]

The variants alternate `--repeats` times in one process (runtime.alternating_samples); the medians are printed
with the machine. The generator is an untrained one of the preset's size: its weights change no cost.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import statistics
import time

import torch

from weakgan.config import Config
from weakgan.data import load_dataset
from weakgan.run import resolve_auto, split_for
from weakgan.runtime import alternating_samples, autocast, machine, set_threads
from weakgan.stages.gan import WSGANClassifierStage

VARIANTS = {
    "the full preset's D (attention branches + smallcnn branch, 1 view, fakes 0.5)": {},
    "no attention branches": {"gan_d_attention": False},
    "no generated images": {"gan_fake_ratio": 0.0},
    "no augmented views": {"gan_views": 0},
    "smallcnn branch alone, no fakes, no views": {"gan_d_attention": False, "gan_fake_ratio": 0.0, "gan_views": 0},
}


def seconds_per_step(stage: WSGANClassifierStage, steps: int, precision: str) -> float:
    with autocast(torch.device("cpu"), precision):
        stage.train_step(0)   # warm-up
        t = time.perf_counter()
        for i in range(steps):
            stage.train_step(i + 1)
    return (time.perf_counter() - t) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--amp", default="bf16", help="none | bf16")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    set_threads(args.threads)
    base = Config(model="wsgan", backbone="smallcnn", backbone_width=64, clean_fraction=0.05, pretrain="none")
    data = load_dataset(base.dataset, base.data_dir, False, cfg=base)
    base = resolve_auto(base, data)
    split = split_for(base, data)
    stages = {}
    for name, change in VARIANTS.items():
        torch.manual_seed(0)
        stages[name] = WSGANClassifierStage(dataclasses.replace(base, **change), data, split, torch.device("cpu"),
                                            total_steps=10_000)
    times = alternating_samples({name: functools.partial(seconds_per_step, stage, args.steps, args.amp)
                                 for name, stage in stages.items()}, args.repeats)
    print(f"{machine()}; torch {torch.__version__}; precision {args.amp}; {args.threads} threads; "
          f"{args.steps} steps x {args.repeats}")
    print("| D step | s / step | relative |")
    print("|---|---|---|")
    first = statistics.median(next(iter(times.values())))
    for name, samples in times.items():
        s = statistics.median(samples)
        print(f"| {name} | {s:.3f} | {s / first:.2f} |", flush=True)


if __name__ == "__main__":
    main()
