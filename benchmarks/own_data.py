"""A user's own images: scikit-learn's handwritten digits as an image folder with 10% trusted labels and
noisy labels on the rest; weakgan with its DEFAULT flags against the peer recipe (cleanlab).

  pip install -e ".[bench]"      # scikit-learn + cleanlab (not weakgan dependencies)
  python3 benchmarks/own_data.py --seeds 0,1,2 --threads 2

The data (per seed): the 1,797 8x8 digits of sklearn.datasets.load_digits, scaled to 0-255 and resized to
16x16 (bicubic) PNGs; a stratified quarter is the test folder (test/<class>/, true labels); of the rest,
10% per class are listed in clean.csv, and every other image keeps its true label with probability 0.6, else
gets one of the 9 other classes at random (symmetric noise 0.4). Each training image sits in the folder of its
given label, as a user's data would; the true labels of the noisy images are kept outside the folder, for
scoring only.

weakgan (each a `weakgan` command with default flags but --dataset, --model, --out and --threads):
  clean-only, naive, nr (the default model; it trains its own clean-only teacher first, counted in its time),
  then `weakgan label-issues` on the nr run: its `flagged` rows are its label issues.
The peer recipe (cleanlab 2.x, as its docs give it), on all training images with their given labels:
  - LogisticRegression on the pixels: 5-fold cross-validated probabilities -> cleanlab.filter.find_label_issues;
    cleanlab.classification.CleanLearning(LogisticRegression) for test accuracy;
  - a small CNN (weakgan's smallcnn backbone at its default width + a linear head, softmax cross-entropy, AdamW,
    cosine, random 2-px translations, fixed budget of CNN_EPOCHS epochs, chosen before any test figure was read):
    5-fold cross-validated probabilities -> find_label_issues; then the CNN retrained on the images not
    flagged (prune and retrain, what CleanLearning does) for test accuracy. Also the CNN on all given labels
    and LogisticRegression on the clean rows alone, as plain baselines.
Label issues are scored against the true flips among the training images (precision, recall); for weakgan's
ranking also the precision at the recall cleanlab's CNN reached. Wall times are of the whole method (weakgan:
the command's elapsed time; peer: cross-validation + retraining).

Writes benchmarks/results/own_data.csv (one row per method and seed) and prints a table;
`python3 benchmarks/own_data.py --summary` prints the mean over seeds of every method in that file as the
markdown table of own_data.md.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from rows import append_rows   # benchmarks/rows.py (scripts run from benchmarks/ as their first path)

CNN_EPOCHS = 40
NOISE_RATE = 0.4
CLEAN_SHARE = 0.1
COLUMNS = ["method", "seed", "test_top1", "issues_precision", "issues_recall", "n_flagged", "precision_at_peer_recall",
           "wall_seconds", "val_top1", "commit", "date", "machine"]


def make_folder(root: Path, seed: int) -> dict:
    """Write the image folder (unless it is there: it is the same for a seed); return the truth the benchmark
    scores with (path -> (true label, given label))."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    digits = load_digits()
    images = (digits.images * (255 / 16)).round().astype(np.uint8)
    labels = digits.target
    idx_train, idx_test = train_test_split(np.arange(len(labels)), test_size=0.25, stratify=labels, random_state=seed)
    rng = np.random.default_rng(seed)
    clean = set()
    for k in range(10):
        members = idx_train[labels[idx_train] == k]
        clean.update(rng.choice(members, size=int(round(CLEAN_SHARE * len(members))), replace=False).tolist())
    truth, clean_paths = {}, []
    for part, indices in (("train", idx_train), ("test", idx_test)):
        for i in indices:
            given = int(labels[i])
            if part == "train" and i not in clean and rng.random() < NOISE_RATE:
                given = int((labels[i] + rng.integers(1, 10)) % 10)
            path = f"{part}/{given}/{i:04d}.png"
            if not (root / path).exists():
                (root / part / str(given)).mkdir(parents=True, exist_ok=True)
                Image.fromarray(images[i]).resize((16, 16), Image.BICUBIC).save(root / path)
            if part == "train":
                truth[path] = (int(labels[i]), given)
                if i in clean:
                    clean_paths.append(path)
    (root / "clean.csv").write_text("path\n" + "\n".join(sorted(clean_paths)) + "\n")
    return truth


def read_folder(root: Path, part: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(paths, images as (N, 16, 16) floats in [0, 1], folder labels) of train/ or test/."""
    paths = sorted(str(p.relative_to(root)) for p in (root / part).rglob("*.png"))
    x = np.stack([np.asarray(Image.open(root / p), dtype=np.float32) / 255 for p in paths])
    y = np.array([int(Path(p).parent.name) for p in paths])
    return paths, x, y


def scores(flagged: np.ndarray, is_issue: np.ndarray) -> dict:
    hits = int((flagged & is_issue).sum())
    return {"issues_precision": hits / max(1, int(flagged.sum())), "issues_recall": hits / max(1, int(is_issue.sum())),
            "n_flagged": int(flagged.sum())}


def precision_at_recall(ranking: np.ndarray, is_issue: np.ndarray, recall: float) -> float:
    """Precision of the shortest top of `ranking` (indices, most suspect first) that reaches `recall`."""
    found = np.cumsum(is_issue[ranking])
    need = int(np.ceil(recall * is_issue.sum()))
    n = int(np.searchsorted(found, need) + 1)
    return float(found[n - 1] / n)


def weakgan(root: Path, runs: Path, model: str, threads: int) -> tuple[dict, float]:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "weakgan.cli", "train", "--dataset", f"folder:{root}", "--model", model,
                    "--threads", str(threads), "--no-progress", "--out", str(runs / model)], check=True)
    return json.loads((runs / model / "metrics.json").read_text()), time.perf_counter() - t0


def small_cnn(width: int = 64) -> torch.nn.Module:
    from weakgan.models.backbone import SmallCNN
    net = SmallCNN(1, width)
    return torch.nn.Sequential(net, torch.nn.Linear(net.out_dim, 10))


def train_cnn(x: np.ndarray, y: np.ndarray, seed: int, epochs: int = CNN_EPOCHS, batch: int = 64) -> torch.nn.Module:
    from weakgan.augment import random_crop
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = small_cnn()
    xt, yt = torch.from_numpy(x)[:, None], torch.from_numpy(y)
    steps = epochs * max(1, len(x) // batch)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps, pct_start=0.1)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(x), (batch,), generator=gen)
        loss = F.cross_entropy(model(random_crop((xt[idx] - 0.5) / 0.5, 2, gen)), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return model.eval()


@torch.no_grad()
def cnn_probs(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    return torch.softmax(model((torch.from_numpy(x)[:, None] - 0.5) / 0.5), 1).numpy()


def cross_val_probs(fit_predict, x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.model_selection import StratifiedKFold
    probs = np.zeros((len(y), 10), dtype=np.float64)
    for train, held in StratifiedKFold(5, shuffle=True, random_state=seed).split(x, y):
        probs[held] = fit_predict(x[train], y[train], x[held])
    return probs


def peer(root: Path, truth: dict, seed: int) -> list[dict]:
    from cleanlab.classification import CleanLearning
    from cleanlab.filter import find_label_issues
    from sklearn.linear_model import LogisticRegression
    paths, x, y = read_folder(root, "train")
    _, x_test, y_test = read_folder(root, "test")
    is_issue = np.array([truth[p][0] != truth[p][1] for p in paths])
    clean = set((root / "clean.csv").read_text().split()[1:])
    flat, flat_test = x.reshape(len(x), -1), x_test.reshape(len(x_test), -1)
    rows = []

    def lr():
        return LogisticRegression(max_iter=3000)

    t0 = time.perf_counter()
    probs = cross_val_probs(lambda a, b, c: lr().fit(a, b).predict_proba(c), flat, y, seed)
    flagged = find_label_issues(y, probs)
    cl = CleanLearning(lr(), seed=seed).fit(flat, y)
    rows.append({"method": "cleanlab + LogisticRegression (CleanLearning)", "wall_seconds": time.perf_counter() - t0,
                 "test_top1": float((cl.predict(flat_test) == y_test).mean()), **scores(flagged, is_issue)})

    t0 = time.perf_counter()
    keep = np.array([p in clean for p in paths])
    only = lr().fit(flat[keep], y[keep])
    rows.append({"method": "LogisticRegression on the clean rows only", "wall_seconds": time.perf_counter() - t0,
                 "test_top1": float((only.predict(flat_test) == y_test).mean())})

    t0 = time.perf_counter()
    probs = cross_val_probs(lambda a, b, c: cnn_probs(train_cnn(a, b, seed), c), x, y, seed)
    flagged = find_label_issues(y, probs)
    t_cv = time.perf_counter() - t0
    pruned = train_cnn(x[~flagged], y[~flagged], seed)
    rows.append({"method": "cleanlab + small CNN (prune and retrain)", "wall_seconds": time.perf_counter() - t0,
                 "test_top1": float((cnn_probs(pruned, x_test).argmax(1) == y_test).mean()), **scores(flagged, is_issue)})

    t0 = time.perf_counter()
    plain = train_cnn(x, y, seed)
    rows.append({"method": "small CNN on all given labels", "wall_seconds": time.perf_counter() - t0,
                 "test_top1": float((cnn_probs(plain, x_test).argmax(1) == y_test).mean())})
    print(f"cnn cross-validation {t_cv:.0f}s", flush=True)
    return rows


def ours(root: Path, runs: Path, truth: dict, threads: int, peer_recall: float, models: list[str]) -> list[dict]:
    rows = []
    for model in models:
        metrics, wall = weakgan(root, runs, model, threads)
        rows.append({"method": f"weakgan {model} (default flags)", "wall_seconds": wall, "test_top1": metrics["top1"],
                     "val_top1": metrics["val_top1"]})
        if model.startswith("nr"):   # its clean net's view of the given labels
            rows[-1].update(label_issues(runs / model, truth, peer_recall, wall))
    return rows


def label_issues(run: Path, truth: dict, peer_recall: float, wall: float) -> dict:
    """`weakgan label-issues` on a run: its flagged rows scored against the true flips, its ranking's precision
    at the CNN recipe's recall; the wall time is the training's plus this command's."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "weakgan.cli", "label-issues", str(run)], check=True,
                   stdout=subprocess.DEVNULL)
    with open(run / "label_issues.csv") as f:
        ranked = [r for r in csv.DictReader(line for line in f if not line.startswith("#")) if r["flagged"] != ""]
    paths = [r["path_or_index"] for r in ranked]
    is_issue = np.array([truth[p][0] != truth[p][1] for p in paths])
    flagged = np.array([r["flagged"] == "1" for r in ranked])
    # the clean rows are trusted and never ranked; their (zero) issues count in the recall all the same
    return {**scores(flagged, is_issue), "wall_seconds": wall + time.perf_counter() - t0,
            "precision_at_peer_recall": precision_at_recall(np.arange(len(paths)), is_issue, peer_recall)}


def summary(path: Path) -> str:
    """Markdown: per method, the mean (and min-max over seeds) of every figure in the CSV."""
    with path.open() as f:
        rows = list(csv.DictReader(f))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    lines = ["| method | seeds | test top-1 (%) | label issues: precision | recall | precision at the CNN recipe's "
             "recall | wall time (s) |", "|---|---|---|---|---|---|---|"]

    def cell(values: list[str], scale: float = 1.0, digits: int = 3) -> str:
        v = [scale * float(x) for x in values if x != ""]
        if not v:
            return ""
        return f"{np.mean(v):.{digits}f}" + (f" ({min(v):.{digits}f}-{max(v):.{digits}f})" if len(v) > 1 else "")

    for m in methods:
        rs = [r for r in rows if r["method"] == m]
        lines.append(f"| {m} | {len(rs)} | {cell([r['test_top1'] for r in rs], 100, 2)} | "
                     f"{cell([r['issues_precision'] for r in rs])} | {cell([r['issues_recall'] for r in rs])} | "
                     f"{cell([r['precision_at_peer_recall'] for r in rs])} | "
                     f"{cell([r['wall_seconds'] for r in rs], 1, 0)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", default="runs/own_data", help="where the image folders and runs go")
    ap.add_argument("--csv", default="benchmarks/results/own_data.csv")
    ap.add_argument("--summary", action="store_true", help="print the table of --csv and stop")
    ap.add_argument("--models", default="clean-only,naive,nr,nr-match", help="weakgan models to run")
    ap.add_argument("--no-peer", action="store_true", help="weakgan's models only (the peer rows of these seeds are "
                    "in --csv already); needs --peer-recall")
    ap.add_argument("--peer-recall", default="", help="SEED:RECALL,...: the CNN recipe's recall per seed, for --no-peer")
    args = ap.parse_args()
    if args.summary:
        print(summary(Path(args.csv)), end="")
        return
    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    from weakgan.runtime import provenance
    for seed in (int(s) for s in args.seeds.split(",")):
        work = Path(args.work) / f"seed{seed}"
        root = work / "digits"
        truth = make_folder(root, seed)
        if args.no_peer:
            peer_rows, cnn_recall = [], dict(kv.split(":") for kv in args.peer_recall.split(","))[str(seed)]
        else:
            peer_rows = peer(root, truth, seed)
            cnn_recall = next(r for r in peer_rows if "CNN (prune" in r["method"])["issues_recall"]
        rows = ours(root, work / "runs", truth, args.threads, float(cnn_recall), args.models.split(",")) + peer_rows
        info = provenance()
        append_rows(Path(args.csv), COLUMNS, [
            {c: (f"{r[c]:.4f}" if isinstance(r.get(c), float) else r.get(c, "")) for c in COLUMNS[:-3]}
            | {"seed": seed, "commit": info["commit"], "date": info["date"], "machine": info["machine"]}
            for r in rows])
        for r in rows:
            print(f"seed {seed} | {r['method']:<48} | top1 {r['test_top1']:.4f} | "
                  f"issues P {r.get('issues_precision', float('nan')):.3f} R {r.get('issues_recall', float('nan')):.3f} | "
                  f"{r['wall_seconds']:.0f}s", flush=True)


if __name__ == "__main__":
    main()
