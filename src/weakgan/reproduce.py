"""`weakgan reproduce`: the paper's whole experiment on FashionMNIST as one resumable command.

Shared label-free pretraining runs once (cached), then every model of the preset at every clean fraction
and seed (finished runs are skipped), then the report folder: results.csv, report.md, accuracy plot and
the paper's figures.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections import Counter
from importlib import resources
from pathlib import Path


from weakgan import WeakganError
from weakgan.checkpoint import atomic_write_text
from weakgan.config import Config, check_models, from_dict, load_yaml, to_yaml
from weakgan.report import accuracy_plot, chosen_model_table, comparison, results_table
from weakgan.recipes import uses_contrastive
from weakgan.run import prepare_out_dir
from weakgan.runtime import git_commit, machine
from weakgan.sweep import (PAPER_TABLE1, PAPER_TABLE2, build_ensembles, finished_rows, run_dir_for, sweep,
                           with_dependencies, write_summary)

PRESETS = ("quick", "full", "ablation", "paper")


def load_preset(name: str) -> dict:
    """A preset: models, fractions, seeds and config overrides. A name or a path to such a YAML file."""
    if name in PRESETS:
        text = resources.files("weakgan").joinpath(f"presets/{name}.yaml").read_text()
        import yaml
        preset = yaml.safe_load(text)
    else:
        if not Path(name).is_file():
            raise WeakganError(f"preset '{name}': expected {', '.join(PRESETS)} or a YAML file")
        preset = load_yaml(name)
    for key in ("models", "fractions", "seeds"):
        if not isinstance(preset.get(key), list) or not preset[key]:
            raise WeakganError(f"preset '{name}': '{key}' must be a non-empty list")
    check_models(preset["models"], f"preset '{name}'")
    if not isinstance(preset.get("ensemble", False), bool):
        raise WeakganError(f"preset '{name}': 'ensemble' must be true or false")
    return preset


def pretrain_shared(cfg: Config, models: list[str], log=print) -> None:
    """Label-free pretraining shared by all runs; cached, so later runs only load it."""
    if cfg.backbone_weights or not any(uses_contrastive(dataclasses.replace(cfg, model=m)) for m in models):
        return
    from weakgan.data import load_dataset
    from weakgan.runtime import pick_device
    from weakgan.stages.contrastive import pretrain_contrastive
    data = load_dataset(cfg.dataset, cfg.data_dir, cfg.download, cfg=cfg)
    log(f"shared contrastive backbone: {pretrain_contrastive(cfg, data, pick_device(cfg.device), cfg.cache_dir, log)}")


def part_of(chosen: list | None, whole: list, what: str, preset_name: str) -> list:
    """The chosen part of a preset's models or fractions (all of them when none is chosen)."""
    if chosen is None:
        return whole
    outside = [x for x in chosen if x not in whole]
    if outside:
        raise WeakganError(f"preset '{preset_name}': {what} {', '.join(map(str, outside))} not in the preset "
                           f"(expected some of {', '.join(map(str, whole))})")
    return list(chosen)


def expected_runs(preset: dict, cfg: Config, seeds: list[int]) -> list[tuple[str, float, int]]:
    """Every run of the preset's grid for these seeds, the sibling runs its models read included."""
    models = with_dependencies(list(preset["models"]), cfg)
    return [(m, float(f), s) for s in seeds for f in preset["fractions"] for m in models]


def reproduce(preset_name: str, cfg: Config, out: str | Path, seeds: list[int] | None = None,
              log=print, shard: tuple[int, int] = (0, 1), models: list[str] | None = None,
              fractions: list[float] | None = None) -> Path:
    """The preset's grid, or the part of it given by models/fractions (e.g. one table, or one worker's
    fractions); the report counts the runs of the whole grid that are still missing."""
    preset = load_preset(preset_name)
    models = part_of(models, list(preset["models"]), "model", preset_name)
    fractions = part_of(fractions, [float(f) for f in preset["fractions"]], "clean fraction", preset_name)
    out = prepare_out_dir(out)
    seeds = seeds if seeds is not None else [int(s) for s in preset["seeds"]]
    # written first, so an interrupted folder still says what it is for; workers with other seeds add theirs
    meta = out / "reproduce.json"
    before = json.loads(meta.read_text()).get("seeds", []) if meta.exists() else []
    seeds_in_folder = sorted(set(before) | set(seeds))
    atomic_write_text(out / "config.yaml", to_yaml(cfg))
    atomic_write_text(meta, json.dumps({"preset": preset_name, "seeds": seeds_in_folder}) + "\n")
    t0 = time.perf_counter()
    pretrain_shared(cfg, models, log)
    t_pre = time.perf_counter() - t0
    rows = sweep(cfg, models, fractions, seeds, out, log, shard)
    if preset.get("ensemble"):   # the preset's models of each split, averaged (ensemble.py); no training
        build_ensembles(cfg, out, list(preset["models"]), fractions, seeds, log)
        rows = finished_rows(out)
        write_summary(rows, out)
    wall = time.perf_counter() - t0
    write_report(rows, out, preset_name, cfg, seeds_in_folder, wall, t_pre,
                 expected_runs(preset, cfg, seeds_in_folder))
    log(f"report: {out / 'report.md'} ({wall:.0f}s)")
    return out


def missing_runs(rows: list[dict], expected: list[tuple[str, float, int]]) -> str:
    """A line saying whether the folder holds every run of its preset's grid, and which are missing."""
    have = {(r["model"], float(r["clean_fraction"]), int(r["seed"])) for r in rows}
    missing = [e for e in expected if e not in have]
    if not missing:
        return f"Complete: all {len(expected)} runs of the preset's grid are finished.\n"
    all_fractions = sorted({f for _, f, _ in expected})
    gaps: dict[str, dict[int, list[float]]] = {}
    for m, f, s in missing:
        gaps.setdefault(m, {}).setdefault(s, []).append(f)
    parts = []
    for m, by_seed in gaps.items():
        whole = [s for s, fs in by_seed.items() if sorted(fs) == all_fractions]
        some = [f"seed {s} at {', '.join(f'{f:g}' for f in fs)}" for s, fs in by_seed.items() if s not in whole]
        parts.append(f"{m}: " + "; ".join(([f"seed{'s' if len(whole) > 1 else ''} {', '.join(map(str, whole))} "
                                             "(every fraction)"] if whole else []) + some))
    return (f"**Incomplete: {len(expected) - len(missing)} of {len(expected)} runs of the preset's grid are "
            f"finished.** Missing: " + "; ".join(parts) + ".\n")


def write_report(rows: list[dict], out: Path, preset: str, cfg: Config, seeds: list[int], wall: float | None,
                 pretrain_seconds: float, expected: list[tuple[str, float, int]] | None = None) -> None:
    write_summary(rows, out)
    accuracy_plot(rows, out / "accuracy_vs_clean_fraction.png",
                  {"paper NR (Table 1)": PAPER_TABLE1, "paper NR+WSGAN (Table 2)": PAPER_TABLE2})
    models = sorted({r["model"] for r in rows})
    # the paper's figures, from the runs at the smallest clean fraction: Fig. 5 (top-3 predictions of nr),
    # Fig. 3 (generated images of the wsgan run, one row per class), Fig. 6 (top-3 predictions of nr-wsgan)
    figures = {}
    for name, model, file in (("fig5_top3_predictions.png", "nr", "predictions.png"),
                              ("fig3_generated.png", "wsgan", "generated.png"),
                              ("fig6_top3_predictions_nr_wsgan.png", "nr-wsgan", "predictions.png")):
        for r in sorted(rows, key=lambda r: (float(r["clean_fraction"]), int(r["seed"]))):
            src = run_dir_for(out, model, float(r["clean_fraction"]), cfg.noise, int(r["seed"])) / file
            if r["model"] == model and src.exists():
                shutil.copyfile(src, out / name)
                figures[name] = f"{model}, clean fraction {float(r['clean_fraction']):g}, seed {r['seed']}"
                break
    devices = ", ".join(f"{d} ({n} runs)" for d, n in sorted(Counter(r["device"] for r in rows).items()))
    nr_rows = [r for r in rows if r["model"] == "nr"]
    t2_rows = [r for r in rows if r["model"] == "nr-wsgan"]
    md = ["# weakgan reproduction of Axelrod, Kashi, Pandey: Weakly Supervised Image Classification using GANs\n",
          f"Preset `{preset}`, noise `{cfg.noise}`, seeds {seeds}, models {', '.join(models)}.",
          f"Report written on: {machine()}; device setting `{cfg.device}`. Commit {git_commit()}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
          (f"Wall time of this command {wall / 60:.1f} min (shared pretraining {pretrain_seconds / 60:.1f} min "
           "of it, 0 if cached)." if wall is not None else "Rebuilt by `weakgan report` from the finished runs."),
          f"Runs' training time summed: {sum(float(r['train_seconds']) for r in rows) / 60:.1f} min; devices of the "
          f"runs: {devices}.\n",
          missing_runs(rows, expected) if expected is not None else "",
          "All figures: FashionMNIST test top-1 in %, full 10,000-image test set, mean ± std over seeds.\n",
          (f"`nr` and `nr-wsgan*` also learn the soft predictions of their split's `clean-only` run "
           f"(`nr-wsgan-round2`: of its `nr-wsgan` run, and it trains on images with random erasing, "
           f"p {cfg.round2_erase:g}) on the noisy images (teacher_weight "
           f"{cfg.teacher_weight:g}); " if cfg.teacher_weight > 0 else
           "No teacher (teacher_weight 0): `nr` and `nr-wsgan*` are the models as published; ") +
          f"epochs {cfg.epochs:g}" + (f" (the wsgan D: {cfg.gan_d_epochs:g})" if cfg.gan_d_epochs else "") +
          f", batch {cfg.batch_size}, lr {cfg.lr:g}, alpha {cfg.alpha:g}" +
          (f"; runs that start as their teacher (its backbone and clean net): epochs {cfg.warm_epochs or cfg.epochs:g}, "
           f"lr {cfg.warm_lr or cfg.lr:g}" if cfg.pretrain == "teacher" else "") + ".\n",
          "## Table 1: noise-regularization model\n",
          results_table(nr_rows, "top1", {"paper NR (Table 1)": PAPER_TABLE1}) if nr_rows else "(no nr runs)\n",
          "## Table 2: NR + WSGAN\n",
          results_table(t2_rows, "top1", {"paper NR+WSGAN (Table 2)": PAPER_TABLE2}) if t2_rows
          else "(no nr-wsgan runs in this preset)\n",
          comparison(rows, "nr-wsgan", "the paper's NR+WSGAN (Table 2)", PAPER_TABLE2) if t2_rows else "",
          comparison(rows, "nr-wsgan", "clean-only") if t2_rows else "",
          "## weakgan's pick per clean fraction\n",
          "The model with the best mean accuracy on the split's validation images (held out from the clean "
          "labels, never trained on); its test accuracy is read only to report it.\n",
          chosen_model_table(rows, {"NR": PAPER_TABLE1, "NR+WSGAN": PAPER_TABLE2}),
          "## All models (ablation)\n",
          results_table(rows, "top1", {"paper NR": PAPER_TABLE1, "paper NR+WSGAN": PAPER_TABLE2}),
          "\nValidation top-1 (%, what the choices are made on):\n", results_table(rows, "val_top1"),
          "\nTop-3 accuracy (%):\n", results_table(rows, "top3"),
          "\nMacro average precision (%, one-vs-rest):\n", results_table(rows, "macro_ap"),
          "\n![accuracy vs clean fraction](accuracy_vs_clean_fraction.png)\n"]
    for name, what in figures.items():
        md.append(f"\n{name.split('_')[0].replace('fig', 'Fig. ')} ({what}):\n\n![{what}]({name})\n")
    md.append("\nResolved configuration: `config.yaml`; per-run folders under `runs/`; raw rows in `results.csv`.\n")
    atomic_write_text(out / "report.md", "\n".join(md))


def report_folder(out: str | Path) -> Path:
    """`weakgan report DIR`: rebuild results.csv and report.md from every finished run in DIR."""
    out = Path(out)
    if not (out / "runs").is_dir():
        raise WeakganError(f"{out}: no runs/ folder to report on")
    cfg = from_dict(load_yaml(out / "config.yaml")) if (out / "config.yaml").exists() else Config()
    meta = json.loads((out / "reproduce.json").read_text()) if (out / "reproduce.json").exists() else {}
    rows = finished_rows(out)
    if not rows:
        raise WeakganError(f"{out}: no finished runs (runs/*/metrics.json)")
    seeds = sorted(set(meta.get("seeds", [])) | {int(r["seed"]) for r in rows})
    preset = meta.get("preset", "custom")
    try:
        expected = expected_runs(load_preset(preset), cfg, seeds) if "preset" in meta else None
    except WeakganError:   # a preset file that is gone: report what is there
        expected = None
    write_report(rows, out, preset, cfg, seeds, None, 0.0, expected)
    return out / "report.md"


def preset_config(preset_name: str, base: Config | None = None) -> Config:
    return from_dict(load_preset(preset_name).get("config") or {}, base or Config(), source=f"preset {preset_name}")


def with_overrides(cfg: Config, **kw) -> Config:
    return dataclasses.replace(cfg, **kw)
