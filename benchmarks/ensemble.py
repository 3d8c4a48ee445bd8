"""Averaging the class probabilities of a split's finished runs: does a combination beat the split's best model on
validation? A measurement on finished runs (nothing trains), of every fixed combination; the package's own
ensemble (weakgan/ensemble.py, `reproduce` with a preset's `ensemble: true`) chooses its members per split on
validation, and only its rows compete in validated.md's picks.

  python3 benchmarks/ensemble.py --runs reports/full_epyc --fractions 0.05,0.1,0.2 --seeds 0,1,2 \
      --models clean-only,nr,nr-fixmatch

For every split (clean fraction, seed) and every combination of the named models, each run's probabilities on
the split's validation images and on the test set (as the run evaluates: with its mirror images where it was
trained with flips) are averaged with equal weights; the rows (validation and test top-1 of each combination)
go to benchmarks/results/ensemble.csv and the means over seeds are printed as a table. All combinations are
listed, so a pick among them is a pick among 7 candidates on the same validation images: the one decided before
looking, the average of all the split's models, is marked.
"""
from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path
from statistics import mean

import torch

from weakgan.data import load_dataset
from weakgan.ensemble import member_probabilities
from weakgan.runtime import git_commit, machine
from weakgan.sweep import run_dir_for

from rows import append_rows, rows_not_made   # benchmarks/rows.py (scripts run from benchmarks/ as their first path)

COLUMNS = ["members", "clean_fraction", "seed", "val_top1", "top1", "n_val", "commit", "date", "machine"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default="reports/full_epyc", help="a `weakgan reproduce` folder")
    ap.add_argument("--fractions", default="0.05,0.1,0.2")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--models", default="clean-only,nr,nr-fixmatch")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--csv", default="benchmarks/results/ensemble.csv")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    models = args.models.split(",")
    data = load_dataset("fashion-mnist", "", False)
    commit, where, date = git_commit(), machine(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows, y_test = [], data.test.targets.numpy()
    for fraction in [float(f) for f in args.fractions.split(",")]:
        for seed in [int(s) for s in args.seeds.split(",")]:
            runs = {m: run_dir_for(Path(args.runs), m, fraction, "auto", seed) for m in models}
            y_val, val_probs, test_probs = member_probabilities(runs, data, "cpu")
            for k in range(1, len(models) + 1):
                for combo in itertools.combinations(models, k):
                    p_val = sum(val_probs[m] for m in combo) / k
                    p_test = sum(test_probs[m] for m in combo) / k
                    rows.append({"members": "+".join(combo), "clean_fraction": fraction, "seed": seed,
                                 "val_top1": round(float((p_val.argmax(1) == y_val).mean()), 4),
                                 "top1": round(float((p_test.argmax(1) == y_test).mean()), 4),
                                 "n_val": len(y_val), "commit": commit, "date": date, "machine": where})
    out = Path(args.csv)
    key = lambda r: (r["members"], float(r["clean_fraction"]), int(r["seed"]))  # noqa: E731
    kept = rows_not_made(out, key, rows)
    out.unlink(missing_ok=True)
    append_rows(out, COLUMNS, kept + rows)
    print(table(rows, "+".join(models)))


def table(rows: list[dict], everything: str) -> str:
    lines = ["| clean | members | seeds | validation top-1 (%) | test top-1 (%) |", "|---|---|---|---|---|"]
    for fraction in sorted({r["clean_fraction"] for r in rows}):
        mine = [r for r in rows if r["clean_fraction"] == fraction]
        names = list(dict.fromkeys(r["members"] for r in mine))
        val = {n: mean(100 * r["val_top1"] for r in mine if r["members"] == n) for n in names}
        best = max(names, key=lambda n: val[n])
        for n in names:
            g = [r for r in mine if r["members"] == n]
            mark = " (best on validation)" if n == best else ""
            mark += " (all, decided before)" if n == everything else ""
            lines.append(f"| {fraction:g} | {n}{mark} | {len(g)} | {val[n]:.2f} | "
                         f"{mean(100 * r['top1'] for r in g):.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
