"""Noisy labels that carry information (issue 17): at one clean fraction, per seed, a clean-only teacher on the
split's clean images, then for each noise `naive` and `nr` with and without the teacher's posterior given the
noisy label (teacher.label_posterior), `nr-match`, and second to fourth rounds of `nr` (with the posterior) whose
teacher is the previous round's student (the fourth also as `nr-match`), all on the same splits. Nothing is downloaded; FashionMNIST comes from
the Debian package (scripts/setup.sh).

    python3 benchmarks/informative_noise.py --seeds 0,1,2 --out runs/informative       # then --summary

Rows (results contract + `variant`) go to benchmarks/results/informative_noise.csv; --summary prints the table
of means over seeds with the validation pick per noise (the best mean validation top-1; test only reported).
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
from pathlib import Path

from weakgan.report import COLUMNS, chosen_models

from rows import rows_not_made   # benchmarks/rows.py (scripts run from benchmarks/ as their first path)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "informative_noise.csv"
# the teacher's run is shared by every noise: clean-only never reads a noisy label, and the clean split of a
# seed does not depend on the noise (noise.py draws the clean subset first)
# variant -> (flags, the run that is its teacher and that it starts as: clean-only or another variant; None: none)
VARIANTS = {"naive": (["--model", "naive"], None),
            "nr": (["--model", "nr", "--no-teacher-posterior"], "clean-only"),
            "nr+posterior": (["--model", "nr", "--teacher-posterior"], "clean-only"),
            "nr-match": (["--model", "nr-match", "--teacher-posterior"], "clean-only"),
            # a second round: the first round's student, which learnt from the noisy labels, is the teacher
            # (its predictions and the posterior given the label, again), and the student starts as it
            "nr+posterior-round2": (["--model", "nr", "--teacher-posterior"], "nr+posterior"),
            "nr+posterior-round3": (["--model", "nr", "--teacher-posterior"], "nr+posterior-round2"),
            "nr+posterior-round4": (["--model", "nr", "--teacher-posterior"], "nr+posterior-round3"),
            # a last round with FixMatch-style consistency on strongly augmented views (nr-match) instead of
            # plain nr: where the posterior targets have stopped improving from round to round, the strong views
            # are a regularizer that the earlier rounds lacked
            "nr-match+posterior-round4": (["--model", "nr-match", "--teacher-posterior"], "nr+posterior-round3")}


def train(args: list[str], out: Path) -> dict:
    if not (out / "metrics.json").exists():
        cmd = [sys.executable, "-m", "weakgan", "train", *args, "--out", str(out)]
        print(" ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
    return json.loads((out / "metrics.json").read_text())


def row(m: dict, noise: str, variant: str) -> dict:
    return {**{c: m.get(c) for c in COLUMNS}, "noise": noise, "variant": variant}


def row_key(r: dict) -> tuple[str, str, str]:
    return str(r["seed"]), r["noise"], r["variant"]


def run(a) -> None:
    base = ["--clean-fraction", str(a.fraction), "--backbone", "smallcnn", "--backbone-width", str(a.width),
            "--epochs", str(a.epochs), "--no-progress", "--threads", str(a.threads), *a.flags.split()]
    for variant in a.variants.split(","):
        if variant not in VARIANTS:
            raise SystemExit(f"variant '{variant}': expected one of {', '.join(VARIANTS)}")
    rows = []
    for seed in [int(s) for s in a.seeds.split(",")]:
        out = Path(a.out) / f"s{seed}"
        teacher = out / "clean-only"
        m = train(["--model", "clean-only", "--noise", "permutation", "--seed", str(seed), *base], teacher)
        for noise in a.noises.split(","):
            rows.append(row(m, noise, "clean-only"))
            for variant in a.variants.split(","):
                flags, teacher_of = VARIANTS[variant]
                args = [*flags, "--noise", noise, "--seed", str(seed), *base]
                if teacher_of:
                    run_dir = teacher if teacher_of == "clean-only" else out / f"{teacher_of}_{noise.replace(':', '')}"
                    args += ["--teacher-run", str(run_dir), "--pretrain", "teacher"]
                m2 = train(args, out / f"{variant}_{noise.replace(':', '')}")
                rows.append(row(m2, noise, variant))
    # the CSV keeps the rows of earlier invocations that this one did not make (other seeds, noises, variants)
    results = Path(a.results)
    kept = rows_not_made(results, row_key, rows)
    with open(results, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[*COLUMNS, "variant"], lineterminator="\n")
        w.writeheader()
        w.writerows(kept + rows)
    print(f"-> {results}")


def summary(results: Path) -> None:
    rows = list(csv.DictReader(open(results)))
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["noise"], r["variant"]), []).append(r)
    print("| noise | model | seeds | validation top-1 (%) | test top-1 (%), mean ± std | per seed |")
    print("|---|---|---|---|---|---|")
    for noise in dict.fromkeys(r["noise"] for r in rows):
        cands = {v: g for (n, v), g in groups.items() if n == noise}
        val = {v: 100 * statistics.mean(float(r["val_top1"]) for r in g) for v, g in cands.items()}
        # the package's own pick among the variants (ties: the one listed first); the rows are of one clean fraction
        (pick,) = chosen_models([{**r, "model": v} for v, g in cands.items() for r in g]).values()
        for v, g in cands.items():
            t = [100 * float(r["top1"]) for r in g]
            sd = statistics.stdev(t) if len(t) > 1 else 0.0
            name = f"**{v}** (the pick)" if v == pick else v
            print(f"| {noise} | {name} | {len(g)} | {val[v]:.2f} | {statistics.mean(t):.2f} ± {sd:.2f} | "
                  + " / ".join(f"{x:.2f}" for x in t) + " |")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0")
    p.add_argument("--fraction", type=float, default=0.1)
    p.add_argument("--noises", default="symmetric:0.4,pairflip:0.3")
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--epochs", type=float, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--variants", default=",".join(VARIANTS), help="in order (a round 2 after its first round)")
    p.add_argument("--flags", default="", help="more `weakgan train` flags for every run")
    p.add_argument("--out", default="runs/informative")
    p.add_argument("--results", default=str(RESULTS), help="the CSV its rows go to (a run on another machine: "
                   "its own file, so that one table never mixes two machines' arithmetic)")
    p.add_argument("--summary", action="store_true")
    a = p.parse_args()
    summary(Path(a.results)) if a.summary else run(a)
