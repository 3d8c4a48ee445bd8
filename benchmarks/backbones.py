"""Backbones on the whole of FashionMNIST: every one of the 60,000 training labels is true (`clean-only` at
clean fraction 1.0, noise none), trained through weakgan's own path (the same loop, augmentation, heads, EMA
and flip TTA as every model), then read once on the 10,000 test images.

  python3 benchmarks/backbones.py --backbones smallcnn,resnet18 --epochs 10 --threads 2 --amp auto

Each run goes to runs/backbones/<backbone>[-<stem>]-<amp>-<epochs>ep-<threads>t (resumable: the same command
continues it) and appends one row to benchmarks/results/backbones.csv:
  backbone,device,threads,precision,epochs,train_seconds,train_img_per_s,top1,seed,stem,commit,date,machine
(top1 as a fraction; train_img_per_s = images seen in training / train_seconds, evaluation excluded).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from weakgan.config import Config
from weakgan.run import train_run

from rows import append_rows   # benchmarks/rows.py (scripts run from benchmarks/ as their first path)

COLUMNS = ["backbone", "device", "threads", "precision", "epochs", "train_seconds", "train_img_per_s", "top1",
           "seed", "stem", "commit", "date", "machine"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbones", default="smallcnn,resnet18")
    ap.add_argument("--epochs", type=float, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--amp", default="auto")
    ap.add_argument("--stem", default="imagenet", help="ResNet18's stem (imagenet | cifar)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", default="runs/backbones")
    ap.add_argument("--csv", default="benchmarks/results/backbones.csv")
    args = ap.parse_args()
    out_csv = Path(args.csv)
    for name in args.backbones.split(","):
        cfg = Config(model="clean-only", clean_fraction=1.0, noise="none", backbone=name, stem=args.stem,
                     epochs=args.epochs, threads=args.threads, amp=args.amp, device=args.device, seed=args.seed,
                     progress=False, checkpoint_every=500)
        label = name if name != "resnet18" else f"resnet18-{args.stem}"
        # the stem is in the folder name: a cifar-stem run must never resume an imagenet-stem one
        run = Path(args.runs) / f"{label}-{args.amp}-{args.epochs:g}ep-{args.threads}t"
        m = train_run(cfg, run) if not (run / "metrics.json").exists() else json.loads((run / "metrics.json").read_text())
        row = {"backbone": label, "device": m["device"],
               "threads": m["threads"], "precision": m["precision"], "epochs": args.epochs,
               "train_seconds": round(m["train_seconds"], 1),
               "train_img_per_s": round(m["steps"] * cfg.batch_size / m["train_seconds"], 1),
               "top1": m["top1"], "seed": args.seed, "stem": args.stem if name == "resnet18" else "",
               "commit": m["commit"], "date": m["date"], "machine": m["machine"]}
        append_rows(out_csv, COLUMNS, [row])
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
