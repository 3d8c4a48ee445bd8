"""Commands for using a finished run: predict, label-issues and export (added to the CLI by cli.py)."""
from __future__ import annotations

import argparse


def cmd_predict(args) -> None:
    from weakgan.predict import predict
    predict(args.run_dir, args.images, args.top_k, args.out or None, args.figure, args.device)


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def cmd_label_issues(args) -> None:
    from weakgan.label_issues import find_label_issues
    s = find_label_issues(args.run_dir, args.top, args.device)
    print(f"{s['n_noisy_labelled']} noisy labels ranked ({s['n_flagged']} where the clean net prefers another "
          f"class), {s['n_unlabelled']} unlabelled -> {args.run_dir}/label_issues.csv, pred_probs.npy")
    if "n_true_flips" in s:
        at = s["at_n_true_flips"]
        print(f"true flips {s['n_true_flips']}: precision {_share(at['precision'])} recall {_share(at['recall'])} at "
              f"N={at['n']} -> {args.run_dir}/label_issues.json")


def cmd_export(args) -> None:
    from weakgan.export import export_run
    print(f"{args.format} -> {export_run(args.run_dir, args.format, args.out)}")


def add_user_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="class probabilities for new images with a finished run's classifier")
    p.add_argument("run_dir")
    p.add_argument("images", metavar="IMAGE_OR_DIR", help="a PNG/JPEG file, or a folder searched recursively")
    p.add_argument("--top-k", type=int, default=3, help="classes shown per image")
    p.add_argument("--out", default="predictions.csv", help="CSV of all probabilities ('' = none)")
    p.add_argument("--figure", help="PNG with the first 32 images and their top-k classes")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_predict)

    li = sub.add_parser("label-issues", help="rank the noisy/unlabelled training images by how likely their "
                                             "label is wrong (writes label_issues.csv, pred_probs.npy)")
    li.add_argument("run_dir")
    li.add_argument("--top", type=int, default=0, help="rows written to label_issues.csv (0 = all)")
    li.add_argument("--device", default="auto")
    li.set_defaults(func=cmd_label_issues)

    e = sub.add_parser("export", help="the clean classifier as TorchScript or ONNX ([0,1] images in, logits out)")
    e.add_argument("run_dir")
    e.add_argument("--format", required=True, choices=("torchscript", "onnx"))
    e.add_argument("--out", help="file to write (default RUN_DIR/model.torchscript.pt or RUN_DIR/model.onnx)")
    e.set_defaults(func=cmd_export)
