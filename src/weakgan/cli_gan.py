"""GAN commands (added to the CLI by cli.py): pretrain-gan, generate and gan-eval.

  weakgan pretrain-gan [settings]                  stage-1 generator (cached); prints its folder
  weakgan generate DIR --class NAME --n 64 --out grid.png
  weakgan generate DIR --per-class N --out FOLDER  FOLDER/<class>/*.png + FOLDER/manifest.csv (path,label)
  weakgan gan-eval DIR --classifier RUN_DIR        GAN-test accuracy and domain FID vs the real-data floor

DIR is any folder holding generator.safetensors + generator.json (save_generator) and classes.json: a
pretrain-gan cache folder or a run folder.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import re
from pathlib import Path

from weakgan import WeakganError


def cmd_pretrain_gan(args) -> None:
    from weakgan.config import resolve
    from weakgan.data import load_dataset
    from weakgan.run import split_for
    from weakgan.runtime import pick_device, set_threads
    from weakgan.stages.gan import pretrain_generator
    cfg = resolve(args)
    set_threads(cfg.threads)
    data = load_dataset(cfg.dataset, cfg.data_dir, cfg.download, cfg=cfg)
    path = pretrain_generator(cfg, data, split_for(cfg, data), pick_device(cfg.device), cfg.cache_dir)
    summary = json.loads((path.parent / "summary.json").read_text()) if (path.parent / "summary.json").exists() else {}
    extra = f" ({summary['train_seconds']:.0f}s)" if "train_seconds" in summary else ""
    print(f"generator: {path.parent}{extra}; class grid: {path.parent / 'grid.png'}")


def _class_names(folder: Path) -> list[str]:
    try:
        return json.loads((folder / "classes.json").read_text())
    except FileNotFoundError:
        raise WeakganError(f"{folder}: no classes.json (not a generator or run folder)") from None


def _class_index(name: str, class_names: list[str]) -> int:
    if name in class_names:
        return class_names.index(name)
    if name.isdigit() and int(name) < len(class_names):
        return int(name)
    raise WeakganError(f"class '{name}': expected one of {', '.join(class_names)} (or its index)")


def safe_folder_name(name: str) -> str:
    """A class name as a folder name: characters other than letters, digits, '.', '_' and '-' become '_'."""
    out = re.sub(r"[^\w.\-]", "_", name).strip(".")
    return out or "class"


def cmd_generate(args) -> None:
    import torch
    from weakgan.gan_metrics import image_grid, sample_images, write_png
    from weakgan.runtime import pick_device
    from weakgan.stages.gan import load_generator
    folder = Path(args.run_dir)
    class_names = _class_names(folder)
    g = load_generator(folder, pick_device(args.device))
    if len(class_names) != g.num_classes:
        raise WeakganError(f"{folder}: classes.json has {len(class_names)} classes, the generator {g.num_classes}")
    if (args.class_name is None) == (args.per_class is None):
        raise WeakganError("generate: give either --class NAME (a grid) or --per-class N (an image folder)")
    if args.class_name is not None:
        if args.n < 1:
            raise WeakganError("--n must be at least 1")
        c = _class_index(args.class_name, class_names)
        images = sample_images(g, torch.full((args.n,), c, dtype=torch.long), args.seed)
        write_png(image_grid(images, cols=args.cols), args.out)
        print(f"{args.n} generated '{class_names[c]}' images -> {args.out}")
        return
    if args.per_class < 1:
        raise WeakganError("--per-class must be at least 1")
    out = Path(args.out)
    k = len(class_names)
    dirs = [safe_folder_name(n) for n in class_names]
    if len(set(dirs)) < k:
        dirs = [f"{i}_{d}" for i, d in enumerate(dirs)]
    images = sample_images(g, torch.arange(k).repeat_interleave(args.per_class), args.seed)
    rows = []
    for i, img in enumerate(images):
        c, j = divmod(i, args.per_class)
        rel = f"{dirs[c]}/{j:05d}.png"
        (out / dirs[c]).mkdir(parents=True, exist_ok=True)
        write_png(img[0].numpy() if img.shape[0] == 1 else img[:3].permute(1, 2, 0).numpy(), out / rel)
        rows.append((rel, class_names[c]))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["path", "label"])
    w.writerows(rows)
    from weakgan.checkpoint import atomic_write_text
    atomic_write_text(out / "manifest.csv", buf.getvalue())
    print(f"{len(rows)} generated images ({args.per_class} per class) -> {out}/<class>/, {out / 'manifest.csv'}")


def cmd_gan_eval(args) -> None:
    from weakgan.data import load_dataset
    from weakgan.checkpoint import atomic_write_text
    from weakgan.gan_metrics import fid_report, gan_test_accuracy
    from weakgan.run_folder import load_trained_classifier
    from weakgan.runtime import set_threads
    from weakgan.stages.gan import load_generator
    clf = load_trained_classifier(args.classifier, args.device)
    set_threads(clf.cfg.threads)
    folder = Path(args.run_dir)
    g = load_generator(folder, clf.device)
    if _class_names(folder) != clf.class_names:
        raise WeakganError(f"{args.classifier}: its classes differ from the generator's classes.json")
    data = load_dataset(clf.cfg.dataset, clf.cfg.data_dir, False, cfg=clf.cfg)
    batch = clf.cfg.eval_batch_size
    test = gan_test_accuracy(clf.model, clf.mean, clf.std, g, args.per_class, clf.device, args.seed, batch)
    fid = fid_report(clf.model, clf.mean, clf.std, g, data.train.images, data.test.images, args.n, clf.device,
                     args.seed, batch)
    result = {"generator": str(folder), "classifier": str(args.classifier), "gan_test_accuracy": test["accuracy"],
              "gan_test_per_class": dict(zip(clf.class_names, test["per_class"])), "fid": fid["fid"],
              "fid_floor": fid["floor"], "fid_n": fid["n"], "fid_n_test": fid["n_test"],
              # the reference set of the FID is the dataset's test images: these are test-set figures
              "fid_reference": "test images"}
    out = Path(args.out) if args.out else folder / "gan_metrics.json"
    atomic_write_text(out, json.dumps(result, indent=2) + "\n")
    print(f"GAN-test accuracy {test['accuracy']:.4f}; domain FID against the {fid['n_test']} test images "
          f"{fid['fid']:.3f} (real-data floor {fid['floor']:.3f}, n={fid['n']}) -> {out}")


def add_gan_commands(sub: argparse._SubParsersAction) -> None:
    from weakgan.config import add_config_flags
    p = sub.add_parser("pretrain-gan", help="stage-1 class-conditional generator (WGAN-GP) on the clean labels "
                                            "(cached); prints its folder")
    add_config_flags(p, groups=("what to train", "data", "WSGAN", "runtime"))
    p.set_defaults(func=cmd_pretrain_gan)

    g = sub.add_parser("generate", help="images from a generator: a grid of one class, or an image folder")
    g.add_argument("run_dir", metavar="RUN_DIR", help="folder with generator.safetensors, generator.json, classes.json")
    g.add_argument("--class", dest="class_name", metavar="NAME", help="class name (or index) for a grid")
    g.add_argument("--n", type=int, default=64, help="images in the grid")
    g.add_argument("--cols", type=int, default=8, help="grid columns")
    g.add_argument("--per-class", type=int, metavar="N", help="write N images per class as OUT/<class>/*.png")
    g.add_argument("--out", required=True, help="PNG file (--class) or folder (--per-class)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--device", default="auto")
    g.set_defaults(func=cmd_generate)

    e = sub.add_parser("gan-eval", help="GAN-test accuracy and domain FID of a generator, measured with a "
                                        "classifier run trained on real images")
    e.add_argument("run_dir", metavar="RUN_DIR", help="generator folder")
    e.add_argument("--classifier", required=True, metavar="RUN_DIR", help="finished classifier run folder")
    e.add_argument("--n", type=int, default=10000, help="generated (and real-train) images for the FID")
    e.add_argument("--per-class", type=int, default=1000, help="generated images per class for GAN-test")
    e.add_argument("--out", help="JSON file (default RUN_DIR/gan_metrics.json)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--device", default="auto")
    e.set_defaults(func=cmd_gan_eval)
