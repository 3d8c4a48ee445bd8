"""Two presets' results.csv side by side: per model and clean fraction, the mean test top-1 (%) over the seeds
each has, the seeds' spread, the mean validation top-1 where recorded, and the summed training time per seed.

    python3 benchmarks/compare_presets.py benchmarks/results/full_preset.csv benchmarks/results/reproduce.csv

Prints a markdown table (first file's models first) and, per file, the validation pick at each fraction.
"""
import argparse
import csv
from collections import defaultdict
from statistics import mean, stdev


def read(path):
    cells = defaultdict(list)
    for r in csv.DictReader(open(path)):
        cells[r["model"], float(r["clean_fraction"])].append(r)
    return cells


def cell(rows):
    if not rows:
        return "-"
    top1 = [100 * float(r["top1"]) for r in rows]
    spread = f" ± {stdev(top1):.2f}" if len(top1) > 1 else ""
    val = [float(r["val_top1"]) for r in rows if r.get("val_top1")]
    val_text = f" (val {100 * mean(val):.2f})" if val else ""
    return f"{mean(top1):.2f}{spread} [{len(top1)}]{val_text}"


def pick(cells, fraction):
    """The model with the best mean validation top-1 at a fraction (None where no run recorded one)."""
    scored = {m: mean(float(r["val_top1"]) for r in rows) for (m, f), rows in cells.items()
              if f == fraction and all(r.get("val_top1") for r in rows)}
    return max(scored, key=scored.get) if scored else None


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs=2)
    a = p.parse_args()
    tables = [read(f) for f in a.files]
    fractions = sorted({f for t in tables for _, f in t})
    print("| file | model | " + " | ".join(f"{f:g}" for f in fractions) + " |")
    print("|---|---|" + "---|" * len(fractions))
    for path, t in zip(a.files, tables):
        for model in dict.fromkeys(m for m, _ in t):
            print(f"| {path.rsplit('/', 1)[-1]} | {model} | " +
                  " | ".join(cell(t.get((model, f), [])) for f in fractions) + " |")
    for path, t in zip(a.files, tables):
        picks = {f: pick(t, f) for f in fractions}
        print(f"\n{path}: validation pick per fraction: " +
              ", ".join(f"{f:g} {m} {mean(100 * float(r['top1']) for r in t[m, f]):.2f}" if m else f"{f:g} none"
                        for f, m in picks.items()))
        seeds = {r["seed"] for rows in t.values() for r in rows}
        per_seed = sum(float(r["train_seconds"]) for rows in t.values() for r in rows) / len(seeds)
        print(f"{path}: training time summed over its runs, per seed: {per_seed / 3600:.2f} h "
              f"(seeds {', '.join(sorted(seeds))}; a seed with fewer runs counts what it has)")


if __name__ == "__main__":
    main()
