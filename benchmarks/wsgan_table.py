"""The wsgan D beside the classifiers on the same splits: benchmarks/results/wsgan.csv and wsgan.md's tables.

    python3 benchmarks/wsgan_table.py [--full reports/full] [--ablation reports/wsgan_ablation]

Reads the finished runs' metrics.json: clean-only, nr and nr-match of the full preset (FULL/runs) and every wsgan
run, of the full_wsgan preset (FULL/runs, named `wsgan`, with the `nr-wsgan` and `nr-wsgan-frozen` runs on its D
under their own names) and of wsgan_ablation.sh's variants (ABLATION/VARIANT, named `wsgan:VARIANT`; the `nr-wsgan`
and `nr-wsgan-frozen` runs on a variant's D as `nr-wsgan:VARIANT` and `nr-wsgan-frozen:VARIANT`), at the clean
fractions where a wsgan run exists. Prints test and validation top-1 (mean ±
std over seeds), the model that mean validation picks at each fraction (report.chosen_models), and the paired
differences of PAIRS, seed by seed, where both runs of a pair exist on two seeds or more; a run's difference from
`clean-only` is taken from the clean-only run it started from (its teacher_run, whose test and validation top-1
wsgan.csv keeps in TEACHER: a split's clean-only run may since have been re-run on another CPU kind, whose figures
differ by a few tenths; for rows made before 2026-12-04 the figures were filled in from wsgan.md's record of each
run's start). Rows already in
wsgan.csv that no finished run here replaces (same model, clean fraction and seed) are kept: a session adds its
seeds to those of earlier sessions, whose run folders it does not have. A `wsgan` row is full_wsgan.yaml's D as
the preset stood when it ran: until 6efecf4 the paper's D (attention branches, its own pseudo-labels), since then
the teacher-target D; the one run of the former (5%, seed 0) is kept in wsgan.csv as `wsgan:attention`, the
variant that re-runs that D.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from statistics import mean, stdev

import yaml

from weakgan.report import chosen_models, results_table, row_from_metrics, write_results_csv

from rows import rows_not_made   # benchmarks/rows.py (scripts run from benchmarks/ as their first path)

OUT = Path(__file__).resolve().parent / "results" / "wsgan.csv"
TEACHER = ("teacher_top1", "teacher_val_top1")   # of the run's teacher_run: the clean-only run it started from
CLASSIFIERS = ("clean-only", "nr", "nr-match")
ON_D = ("wsgan", "nr-wsgan", "nr-wsgan-frozen")   # the models of a variant's folder: its D, and nr with D as residual
# (model, baseline): what one change to the D adds, paired by seed on the same split (wsgan.md's "what each part adds")
D = "wsgan:noattn"
PAIRS = [(m, "clean-only") for m in (D, f"{D}-nofake", f"{D}-stage3", f"{D}-teacher", f"{D}-nofake-teacher")] + [
    (D, f"{D}-nofake"), (f"{D}-teacher", f"{D}-nofake-teacher"), (f"{D}-stage3", D), (f"{D}-teacher", D)] + [
    # the split's clean share in D's batches (gan_clean_share 0: the same runs as -teacher below 25% clean)
    (f"{D}-teacher-autoshare", "clean-only"), (f"{D}-teacher-autoshare", f"{D}-teacher"),
    (f"{D}-nofake-teacher-autoshare", "clean-only"), (f"{D}-teacher-autoshare", f"{D}-nofake-teacher-autoshare"),
    (f"{D}-teacher-autoshare-4ep", f"{D}-teacher-autoshare"), (f"{D}-teacher-autoshare-4ep", "clean-only"),
    # four D epochs against their control: the same steps on the clean images alone (below 50% clean, where
    # autoshare runs are not made, against the two-epoch -teacher: the same batches)
    (f"{D}-teacher-autoshare-4ep", f"{D}-teacher"), (f"{D}-teacher-autoshare-4ep", f"{D}-clean-4ep"),
    (f"{D}-clean-4ep", "clean-only")] + [
    # D as nr-wsgan's residual net, fine-tuned or frozen (the teacher-target D)
    ("nr-wsgan:noattn-teacher", "nr"), ("nr-wsgan:noattn-teacher", "clean-only"),
    ("nr-wsgan-frozen:noattn-teacher", "nr-wsgan:noattn-teacher")] + [
    # the preset's D (4 epochs), and as nr-wsgan's residual net: against the D itself, fine-tuned against frozen
    ("wsgan", "clean-only"), ("nr-wsgan", "wsgan"), ("nr-wsgan-frozen", "wsgan"), ("nr-wsgan-frozen", "nr-wsgan"),
    ("nr-wsgan", "clean-only"), ("nr-wsgan-frozen", "clean-only")]


def runs(folder: Path, models: tuple[str, ...], suffix: str = "") -> list[dict]:
    rows = []
    for metrics in sorted(folder.glob("runs/*/metrics.json")):
        m = json.loads(metrics.read_text())
        if m["model"] in models:
            rows.append({**row_from_metrics(m), **teacher_figures(metrics.parent), "model": m["model"] + suffix})
    return rows


def teacher_figures(run: Path) -> dict:
    """TEACHER's figures of the run's teacher_run (a path relative to where the run was started: the repo root)."""
    teacher = yaml.safe_load((run / "config.yaml").read_text()).get("teacher_run") or ""
    if not teacher or not (Path(teacher) / "metrics.json").exists():
        return {}
    m = json.loads((Path(teacher) / "metrics.json").read_text())
    return {"teacher_top1": m["top1"], "teacher_val_top1": m.get("val_top1")}


def paired_differences(rows: list[dict]) -> list[str]:
    """Per fraction and pair: mean ± std over seeds of model minus baseline (test, then validation), per seed."""
    score = {(r["model"], float(r["clean_fraction"]), int(r["seed"])): r for r in rows}

    def base_of(model: str, base: str, f: float, s: int, key: str) -> float:
        own = score[model, f, s].get(TEACHER[key == "val_top1"]) if base == "clean-only" else None
        return float(own) if own not in (None, "") else float(score[base, f, s][key])
    lines = []
    for f in sorted({float(r["clean_fraction"]) for r in rows}):
        for model, base in PAIRS:
            seeds = sorted(s for (m, g, s) in score if m == model and g == f and (base, f, s) in score)
            if len(seeds) < 2:
                continue
            text = []
            for key in ("top1", "val_top1"):
                d = [100 * (float(score[model, f, s][key]) - base_of(model, base, f, s, key)) for s in seeds]
                text.append(f"{mean(d):+.2f} ± {stdev(d):.2f} ({' / '.join(f'{x:+.2f}' for x in d)})")
            lines.append(f"{f:g}: {model} - {base}, seeds {seeds}: test {text[0]}, validation {text[1]}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", default="reports/full")
    ap.add_argument("--ablation", default="reports/wsgan_ablation")
    args = ap.parse_args()
    wsgan = sorted(runs(Path(args.full), ON_D), key=lambda r: ON_D.index(r["model"]))
    for variant in sorted(p for p in Path(args.ablation).glob("*") if p.is_dir()):
        found = runs(variant, ON_D, f":{variant.name}")   # in ON_D's order, as the tables' columns
        wsgan += sorted(found, key=lambda r: ON_D.index(r["model"].split(":")[0]))
    fractions = {float(r["clean_fraction"]) for r in wsgan}
    rows = [r for r in runs(Path(args.full), CLASSIFIERS) if float(r["clean_fraction"]) in fractions] + wsgan
    seeds = {(float(r["clean_fraction"]), int(r["seed"])) for r in wsgan}
    rows = [r for r in rows if (float(r["clean_fraction"]), int(r["seed"])) in seeds]   # the wsgan runs' splits
    rows += rows_not_made(OUT, lambda r: (r["model"], float(r["clean_fraction"]), int(r["seed"])), rows)
    write_results_csv(rows, OUT, extra=TEACHER)
    print(f"{OUT}: {len(rows)} runs\n\nTest top-1:\n\n{results_table(rows, 'top1')}")
    print(f"Validation top-1:\n\n{results_table(rows, 'val_top1')}")
    picks = chosen_models(rows)
    print("Picked on mean validation: " + ", ".join(f"{f:g}: {m}" for f, m in sorted(picks.items())))
    print("\nPaired by seed (model - baseline, points):\n" + "\n".join(paired_differences(rows)))


if __name__ == "__main__":
    main()
