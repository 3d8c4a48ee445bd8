"""What each of smallcnn's airbench-style choices earns: one change at a time against the default network and
training path, fully supervised on FashionMNIST (`clean-only` at clean fraction 1.0, noise none), judged on the
validation images (10% of each class of the training set, held out, never trained on); test top-1 is read once
per finished run and only reported.

  python3 benchmarks/smallcnn_choices.py --seeds 0,1 --epochs 3 --threads 2      # runs, appends rows
  python3 benchmarks/smallcnn_choices.py --summary                              # the table (markdown)
  python3 benchmarks/smallcnn_choices.py --timing                               # forward+backward images/s

The runs' own images/s follow the shared machine's speed over the hour they take; --timing compares the
networks in one process instead: forward + backward of each (as `--amp auto`'s probe times it), alternating
3 times, medians, at batch 256 (EMA, translation and flips are loop costs it does not include).

Variants (each differs from `default` in one thing):
  default        smallcnn width 64 as weakgan trains it (pool after each group's first conv, GELU, global
                 max-pooling, translate +-2 px + horizontal flips, EMA 0.999, flip TTA, channels_last)
  relu           ReLU instead of GELU
  avgpool        global average-pooling instead of global max-pooling
  pool-late      each group pools after its second conv (VGG's order) instead of after its first (airbench's)
  no-ema         evaluation with the trained weights instead of their moving average
  no-translate   no random translation
  no-flip        no horizontal flips, in training and at test time (no flip TTA)
  no-channels-last  NCHW memory layout

The architecture variants subclass `SmallCNN` here and replace it in `weakgan.models.backbone` for the run, so
they train through weakgan's own loop; nothing in the package changes. Runs go to runs/smallcnn_choices/
<variant>-s<seed>-<epochs>ep (a finished run is read back, not retrained); rows go to
benchmarks/results/smallcnn_choices.csv.
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
from pathlib import Path

import torch
import torch.nn as nn

import weakgan.models.backbone as backbone_module
from weakgan.config import Config
from weakgan.run import train_run
from weakgan.runtime import alternating_samples, choose_precision, machine, set_threads, training_speed

from rows import append_rows   # benchmarks/rows.py (scripts run from benchmarks/ as their first path)

COLUMNS = ["variant", "seed", "epochs", "precision", "train_seconds", "train_img_per_s", "val_top1", "top1",
           "params", "commit", "date", "machine"]
DefaultCNN = backbone_module.SmallCNN


def smallcnn_variant(act: str = "gelu", pool: str = "early", global_pool: str = "max") -> type[nn.Module]:
    """SmallCNN with one architectural choice changed (same parameters, same names of the first conv)."""

    class Variant(DefaultCNN):
        def __init__(self, in_channels: int = 1, width: int = 64):
            super().__init__(in_channels, width)
            if act == "relu":
                swap_gelu_for_relu(self)
            if pool == "late":   # conv, pool, BN, act, conv, BN, act -> conv, BN, act, conv, BN, act, pool
                for i, group in enumerate(self.stages):
                    self.stages[i] = nn.Sequential(*(group[j] for j in (0, 2, 3, 4, 5, 6, 1)))

        def forward(self, x):
            maps = self.stages(self.stem(self.conv1(x)))
            return maps.amax((2, 3)) if global_pool == "max" else maps.mean((2, 3))

    return Variant


def swap_gelu_for_relu(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.GELU):
            setattr(module, name, nn.ReLU())
        else:
            swap_gelu_for_relu(child)


# variant -> (the network class, Config overrides)
VARIANTS = {
    "default": (DefaultCNN, {}),
    "relu": (smallcnn_variant(act="relu"), {}),
    "avgpool": (smallcnn_variant(global_pool="avg"), {}),
    "pool-late": (smallcnn_variant(pool="late"), {}),
    "no-ema": (DefaultCNN, {"ema": 0.0}),
    "no-translate": (DefaultCNN, {"crop_pad": 0}),
    "no-flip": (DefaultCNN, {"hflip": "off"}),
    "no-channels-last": (DefaultCNN, {"channels_last": False}),
}


def run_variant(name: str, seed: int, epochs: float, threads: int, amp: str, runs: Path) -> dict:
    network, overrides = VARIANTS[name]
    cfg = Config(model="clean-only", clean_fraction=1.0, noise="none", backbone="smallcnn", epochs=epochs,
                 threads=threads, amp=amp, seed=seed, progress=False, checkpoint_every=500, **overrides)
    run = runs / f"{name}-s{seed}-{epochs:g}ep"
    if (run / "metrics.json").exists():
        return json.loads((run / "metrics.json").read_text())
    backbone_module.SmallCNN = network
    try:
        return train_run(cfg, run)
    finally:
        backbone_module.SmallCNN = DefaultCNN


def params_of(name: str) -> int:
    return sum(p.numel() for p in VARIANTS[name][0](1, 64).parameters())


def timing_precision(amp: str, threads: int) -> str:
    """The precision a run of the default network would train in with this --amp (auto: the runs' own probe)."""
    set_threads(threads)
    net = VARIANTS["default"][0](1, 64).to(memory_format=torch.channels_last)
    cpu = torch.device("cpu")
    return choose_precision(amp, cpu, probe=lambda p: training_speed(net, (1, 28, 28), 256, cpu, p, True))[0]


def timing(amp: str, threads: int, repeats: int = 3) -> str:
    set_threads(threads)
    # the variants that change the network's forward + backward (the others change the loop around it)
    nets = {name: (VARIANTS[name][0], VARIANTS[name][1].get("channels_last", True))
            for name in ("default", "relu", "avgpool", "pool-late", "no-channels-last")}

    def timer(network, channels_last):
        torch.manual_seed(0)
        net = network(1, 64).to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        return lambda: training_speed(net, (1, 28, 28), 256, torch.device("cpu"), amp, channels_last)

    speeds = alternating_samples({name: timer(*spec) for name, spec in nets.items()}, repeats)
    base = statistics.median(speeds["default"])
    lines = [f"{machine()}; precision {amp}; batch 256; {repeats} alternating repeats, medians", "",
             "| variant | images/s (forward + backward) | vs default |", "|---|---|---|"]
    for name, values in speeds.items():
        lines.append(f"| {name} | {statistics.median(values):.0f} | {statistics.median(values) / base:.2f}x |")
    return "\n".join(lines)


def summary(csv_path: Path) -> str:
    rows = list(csv.DictReader(csv_path.open()))
    by = {}
    for r in rows:
        by.setdefault(r["variant"], []).append(r)
    base_ips = statistics.mean(float(r["train_img_per_s"]) for r in by["default"])
    lines = ["| variant | seeds | val top-1 (mean ± sd) | test top-1 (mean) | images/s | speed vs default |",
             "|---|---|---|---|---|---|"]
    for name in VARIANTS:
        if name not in by:
            continue
        val = [100 * float(r["val_top1"]) for r in by[name]]
        test = [100 * float(r["top1"]) for r in by[name]]
        ips = statistics.mean(float(r["train_img_per_s"]) for r in by[name])
        sd = statistics.stdev(val) if len(val) > 1 else 0.0
        lines.append(f"| {name} | {','.join(r['seed'] for r in by[name])} | {statistics.mean(val):.2f} ± {sd:.2f} "
                     f"| {statistics.mean(test):.2f} | {ips:.0f} | {ips / base_ips:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--epochs", type=float, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--amp", default="auto")
    ap.add_argument("--runs", default="runs/smallcnn_choices")
    ap.add_argument("--csv", default="benchmarks/results/smallcnn_choices.csv")
    ap.add_argument("--summary", action="store_true", help="print the table of the rows in --csv and stop")
    ap.add_argument("--timing", action="store_true", help="time the networks' forward + backward and stop")
    args = ap.parse_args()
    out_csv = Path(args.csv)
    if args.summary:
        print(summary(out_csv))
        return
    if args.timing:
        print(timing(timing_precision(args.amp, args.threads), args.threads))
        return
    names = args.variants.split(",")
    for name in names:
        if name not in VARIANTS:
            raise SystemExit(f"variant '{name}': expected one of {', '.join(VARIANTS)}")
    for seed in (int(s) for s in args.seeds.split(",")):
        for name in names:
            m = run_variant(name, seed, args.epochs, args.threads, args.amp, Path(args.runs))
            row = {"variant": name, "seed": seed, "epochs": args.epochs, "precision": m["precision"],
                   "train_seconds": round(m["train_seconds"], 1),
                   "train_img_per_s": round(m["steps"] * Config().batch_size / m["train_seconds"], 1),
                   "val_top1": m["val_top1"], "top1": m["top1"], "params": params_of(name),
                   "commit": m["commit"], "date": m["date"], "machine": m["machine"]}
            append_rows(out_csv, COLUMNS, [row])
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
