"""The full preset's settings that were set by cost, not chosen: one change at a time against the preset's own
runs, per clean fraction, judged on validation (the split's held-out clean images, never trained on); test top-1
is read once per finished run and only reported.

  python3 benchmarks/full_recipe.py --baseline reports/full --fractions 0.5,0.7 --seeds 0      # runs, appends rows
  python3 benchmarks/full_recipe.py --summary                                                 # the table

--baseline is a `weakgan reproduce --preset full` folder: its clean-only, nr and nr-match runs are the baseline
rows and the clean-only run of each split is the teacher of every nr / nr-match variant (as in the preset), so a
variant differs from its baseline in its own setting only.

Variants (model/change; everything else as in src/weakgan/presets/full.yaml):
  clean-only/epochs-6         6 epochs: the full preset's `epochs` until 2026-12-06
  clean-only/epochs-12        12 epochs instead of 6 (chosen on validation by full_recipe.md's rule: the preset's since 2026-12-06)
  clean-only/no-translate     no random translation (crop_pad 0): it cost validation accuracy fully supervised
                              at 3 epochs (smallcnn_choices.md)
  nr/warm-lr-5e-4             the warm-started phase at peak lr 5e-4 instead of lr (2e-3): the quick preset's
                              choice on validation (quick.md); a high one may undo what the teacher learnt
  nr-match/warm-lr-5e-4       the same for nr-match
  nr-match/warm-4             4 warm-started epochs instead of 2
  nr-match/warm-6             6 warm-started epochs instead of 2 (how nr-match's accuracy grows with its budget)
  nr-match/warm-12            12 warm-started epochs instead of 2: FixMatch-style consistency is known to keep
                              gaining over far longer schedules than supervised training
  nr-match/no-teacher-6       6 epochs without the teacher's soft targets (teacher_weight 0): at weight 3 against
                              the consistency loss's 1 they hold the student near its clean-only teacher, which
                              may be what stops a longer budget from paying. pretrain 'teacher' needs those
                              targets, so the backbone starts from the teacher's weights file instead
                              (backbone_weights; its clean net starts afresh) and runs `epochs` at the peak lr
  nr-match/no-teacher-12      the same with 12 epochs
  nr/share-auto               clean_share 0 (auto): batches drawn in proportion to the data where the clean set
                              is more than a tenth of it (0.47 / 0.68 clean at 50 / 70%) instead of 1:9, which
                              shows each clean label an eighth / a nineteenth as often as each noisy image
  nr-match/share-auto         the same for nr-match
  nr-fixmatch/share-auto      the same for nr-fixmatch, whose clean labels are its only labels under permutation
                              noise: at 1:9 a 6-epoch run shows each clean image 3 times at 20% clean, where its
                              clean-only teacher saw it 30 times
  fixmatch/share-auto         fixmatch (nr-fixmatch without NR: the non-clean images' labels are never read) with
                              batches in proportion to the data: under permutation noise NR's loss on those labels
                              stays at chance and reaches the backbone at weight 1 against the clean labels' alpha
                              (fixmatch's own batches since 2026-12-07: the variant is fixmatch as it now is)
  nr-fixmatch/epochs-6        6 epochs of nr-fixmatch: the full preset's consistency_epochs until 2026-12-06
  nr-fixmatch/epochs-12       12 epochs of nr-fixmatch instead of 6: consistency training is known to keep
                              gaining long after supervised training stops (at 5% clean, seed 0, the same
                              change as nr-match/no-teacher-12 was no better on validation); chosen on
                              validation by full_recipe.md's rule, the full preset's value since 2026-12-06
  nr-fixmatch/epochs-18       the same with 18 epochs
  clean-only/all-true-labels  not a recipe: clean-only on every training image with its true label (clean fraction
                              1.0, noise none; 54,000 images, 6,000 held out), the preset's epochs (6 until
                              2026-12-06, 12 since; a 6-epoch run is refused, not read back): what the same budget gives
                              when no label is missing or wrong, the ceiling for anything that learns from the
                              noisy images at that budget. One run, the same in every column.

Runs go to runs/full_recipe/<model>-<change>_p<fraction>_s<seed> (a finished run is read back, not retrained);
rows to benchmarks/results/full_recipe.csv.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import statistics
from pathlib import Path

import yaml

from weakgan import WeakganError
from weakgan.config import Config
from weakgan.recipes import with_run_schedule
from weakgan.reproduce import preset_config
from weakgan.run import train_run
from weakgan.sweep import check_finished_run

from rows import append_rows   # benchmarks/rows.py (scripts run from benchmarks/ as their first path)

COLUMNS = ["variant", "model", "clean_fraction", "seed", "epochs", "lr", "crop_pad",
           "precision", "train_seconds", "val_top1", "top1", "n_val", "commit", "date", "machine"]

TEACHER_WEIGHTS = "<the split's clean-only run>"   # backbone_weights: that run's model.safetensors
# variant -> (model, Config overrides)
VARIANTS = {
    "clean-only/epochs-6": ("clean-only", {"epochs": 6.0}),   # the full preset's value until 2026-12-06
    "clean-only/epochs-12": ("clean-only", {"epochs": 12.0}),
    "clean-only/no-translate": ("clean-only", {"crop_pad": 0}),
    "nr/warm-lr-5e-4": ("nr", {"warm_lr": 5e-4}),
    "nr-match/warm-lr-5e-4": ("nr-match", {"warm_lr": 5e-4}),
    "nr-match/warm-4": ("nr-match", {"warm_epochs": 4.0}),
    "nr-match/warm-6": ("nr-match", {"warm_epochs": 6.0}),
    "nr-match/warm-12": ("nr-match", {"warm_epochs": 12.0}),
    "nr-match/no-teacher-6": ("nr-match", {"epochs": 6.0, "teacher_weight": 0.0, "pretrain": "none",
                                           "backbone_weights": TEACHER_WEIGHTS}),
    "nr-match/no-teacher-12": ("nr-match", {"epochs": 12.0, "teacher_weight": 0.0, "pretrain": "none",
                                            "backbone_weights": TEACHER_WEIGHTS}),
    "nr/share-auto": ("nr", {"clean_share": 0.0}),
    "nr-match/share-auto": ("nr-match", {"clean_share": 0.0}),
    "nr-fixmatch/share-auto": ("nr-fixmatch", {"clean_share": 0.0}),
    "fixmatch/share-auto": ("fixmatch", {"clean_share": 0.0}),
    "nr-fixmatch/epochs-6": ("nr-fixmatch", {"consistency_epochs": 6.0}),   # the full preset's value until 2026-12-06
    "nr-fixmatch/epochs-12": ("nr-fixmatch", {"consistency_epochs": 12.0}),
    "nr-fixmatch/epochs-18": ("nr-fixmatch", {"consistency_epochs": 18.0}),
    "clean-only/all-true-labels": ("clean-only", {"clean_fraction": 1.0, "noise": "none"}),
}
BASELINES = ("clean-only", "nr", "nr-match", "nr-fixmatch")   # clean-only is required (every variant's teacher)


def baseline_run(baseline: Path, model: str, fraction: float, seed: int, required: bool = True) -> Path | None:
    run = baseline / "runs" / f"{model}_p{fraction:g}_auto_s{seed}"
    if not (run / "metrics.json").exists():
        if required:
            raise SystemExit(f"{run}: expected a finished run of the full preset (metrics.json)")
        return None
    return run


def variant_run(name: str, fraction: float, seed: int, baseline: Path, runs: Path, threads: int) -> tuple[Config, Path]:
    """A variant's settings on a split, and the folder of its run."""
    model, overrides = VARIANTS[name]
    cfg = dataclasses.replace(preset_config("full"), model=model, clean_fraction=fraction, noise="permutation",
                              seed=seed, threads=threads, progress=False)
    cfg = dataclasses.replace(cfg, **overrides)
    if model != "clean-only":
        cfg = dataclasses.replace(cfg, teacher_run=str(baseline_run(baseline, "clean-only", fraction, seed)))
    if cfg.backbone_weights == TEACHER_WEIGHTS:
        cfg = dataclasses.replace(cfg, backbone_weights=str(Path(cfg.teacher_run) / "model.safetensors"))
    # a variant that sets its own clean fraction is one run whatever the column
    return cfg, runs / f"{name.replace('/', '-')}_p{cfg.clean_fraction:g}_s{seed}"


def check_variant_run(cfg: Config, run: Path) -> None:
    """A finished run made under an older preset (e.g. before its epochs changed) is another experiment: it is
    refused, not read back."""
    if (run / "metrics.json").exists():
        check_finished_run(run, with_run_schedule(cfg), folder_flag="--runs")


def run_variant(cfg: Config, run: Path) -> tuple[dict, dict]:
    """The variant's metrics and saved settings: trained now, or read back from its finished run."""
    if not (run / "metrics.json").exists():
        return train_run(cfg, run), run_config(run)
    check_variant_run(cfg, run)
    return json.loads((run / "metrics.json").read_text()), run_config(run)


def run_config(run: Path) -> dict:
    """The settings a run saved: a warm-started run's epochs and lr are those of its own schedule (the CSV's
    epochs and lr columns)."""
    return yaml.safe_load((run / "config.yaml").read_text())


def row(name: str, model: str, m: dict, cfg: dict, fraction: float | None = None) -> dict:
    """fraction: the column the row belongs to, where it is not the run's own clean fraction."""
    return {"variant": name, "model": model, "clean_fraction": fraction or m["clean_fraction"], "seed": m["seed"],
            "epochs": cfg["epochs"], "lr": cfg["lr"], "crop_pad": cfg["crop_pad"], "precision": m["precision"],
            "train_seconds": round(m["train_seconds"], 1), "val_top1": m["val_top1"], "top1": m["top1"],
            "n_val": m["n_val"], "commit": m["commit"], "date": m["date"], "machine": m["machine"]}


def baseline_rows(baseline: Path, fraction: float, seed: int) -> list[dict]:
    out = []
    for model in BASELINES:
        run = baseline_run(baseline, model, fraction, seed, required=model == "clean-only")
        if run is None:   # a folder that ran part of the preset's models
            continue
        out.append(row(model, model, json.loads((run / "metrics.json").read_text()), run_config(run)))
    return out


def summary(csv_path: Path) -> str:
    rows = list(csv.DictReader(csv_path.open()))
    fractions = sorted({float(r["clean_fraction"]) for r in rows})
    lines = ["| variant | " + " | ".join(f"{f:g} clean: val / test (Δval vs baseline)" for f in fractions) + " |",
             "|---|" + "---|" * len(fractions)]
    names = list(dict.fromkeys(r["variant"] for r in rows))
    names = [n for n in BASELINES if n in names] + [n for n in names if n not in BASELINES]
    for name in names:
        cells = []
        for f in fractions:
            mine = [r for r in rows if r["variant"] == name and float(r["clean_fraction"]) == f]
            if not mine:
                cells.append("")
                continue
            base = [r for r in rows if r["variant"] == mine[0]["model"] and float(r["clean_fraction"]) == f]
            val = statistics.mean(100 * float(r["val_top1"]) for r in mine)
            test = statistics.mean(100 * float(r["top1"]) for r in mine)
            if name in BASELINES or not base:
                delta = ""
            elif mine[0]["n_val"] != base[0]["n_val"]:   # a run on its own split: another validation set
                delta = " (own split)"
            else:
                delta = f" ({val - statistics.mean(100 * float(r['val_top1']) for r in base):+.2f})"
            cells.append(f"{val:.2f} / {test:.2f}{delta}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", default="reports/full", help="a `reproduce --preset full` folder")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--fractions", default="0.5,0.7")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", default="runs/full_recipe")
    ap.add_argument("--csv", default="benchmarks/results/full_recipe.csv")
    ap.add_argument("--summary", action="store_true", help="print the table of the rows in --csv and stop")
    args = ap.parse_args()
    out_csv = Path(args.csv)
    if args.summary:
        print(summary(out_csv))
        return
    names = args.variants.split(",")
    for name in names:
        if name not in VARIANTS:
            raise SystemExit(f"variant '{name}': expected one of {', '.join(VARIANTS)}")
    fractions = [float(f) for f in args.fractions.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    baseline = Path(args.baseline)
    done = ({(r["variant"], float(r["clean_fraction"]), int(r["seed"])) for r in csv.DictReader(out_csv.open())}
            if out_csv.exists() else set())   # rows already in the CSV are not added again
    jobs = [(name, seed, f, *variant_run(name, f, seed, baseline, Path(args.runs), args.threads))
            for name in names for seed in seeds for f in fractions]
    try:   # every finished run is checked before the CSV gains a row: a refusal leaves it as it was
        for *_, cfg, run in jobs:
            check_variant_run(cfg, run)
    except WeakganError as e:
        raise SystemExit(f"full_recipe.py: {e}") from None
    for seed in seeds:
        for f in fractions:
            append_rows(out_csv, COLUMNS, [r for r in baseline_rows(baseline, f, seed)
                                           if (r["variant"], f, seed) not in done])
    # outer loop over variants: each change is seen at every fraction before the next starts
    for name, seed, f, cfg, run in jobs:
        try:
            m, saved = run_variant(cfg, run)
        except WeakganError as e:   # e.g. bad data: one line, not a traceback
            raise SystemExit(f"full_recipe.py: {e}") from None
        r = row(name, VARIANTS[name][0], m, saved, f)
        if (name, f, seed) not in done:
            append_rows(out_csv, COLUMNS, [r])
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
