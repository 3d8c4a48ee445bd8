"""A grid of runs (models x clean fractions x seeds) into one folder, resumable: finished runs are skipped."""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from weakgan import WeakganError
from weakgan.checkpoint import atomic_write_text
from weakgan.config import Config, check_models, differences, read_config
from weakgan.data import load_dataset
from weakgan.ensemble import ENSEMBLE, build_ensemble
from weakgan.report import results_table, row_from_metrics, write_results_csv
from weakgan.recipes import backbone_start, sibling_runs, unused_settings, with_run_schedule
from weakgan.run import prepare_out_dir, train_run
from weakgan.runtime import set_threads

PAPER_TABLE1 = {0.05: 83.73, 0.10: 86.12, 0.20: 87.14, 0.50: 88.84, 0.70: 88.99}
PAPER_TABLE2 = {0.05: 77.80, 0.10: 81.07, 0.20: 82.93, 0.50: 89.86, 0.70: 90.68}


def run_dir_for(out: Path, model: str, fraction: float, noise: str, seed: int) -> Path:
    return out / "runs" / f"{model}_p{fraction:g}_{noise.replace(':', '')}_s{seed}"


def parse_shard(text: str | None) -> tuple[int, int]:
    """'K/N' -> (K, N): this worker runs grid entries K, K+N, K+2N, ... (K counts from 0)."""
    if not text:
        return 0, 1
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise WeakganError(f"shard '{text}': expected K/N, e.g. 0/4") from None
    if not 0 <= k < n:
        raise WeakganError(f"shard '{text}': need 0 <= K < N")
    return k, n


def finished_rows(out: Path) -> list[dict]:
    """Rows of every finished run under out/runs (whichever worker ran it)."""
    rows = []
    for path in sorted(out.glob("runs/*/metrics.json")):
        try:
            rows.append(row_from_metrics(json.loads(path.read_text())))
        except (ValueError, KeyError) as e:
            raise WeakganError(f"{path}: not a valid metrics file ({e})") from None
    return rows


def sweep(base: Config, models: list[str], fractions: list[float], seeds: list[int], out: str | Path,
          log=print, shard: tuple[int, int] = (0, 1)) -> list[dict]:
    """Run this worker's share of the grid (skipping finished runs), then summarize all finished runs.

    Workers given different shards may share `out`: each run has its own folder and the summary files
    are rewritten atomically from the run folders, so concurrent workers never leave a torn file.
    """
    check_models(models, "sweep")   # the whole grid's names before the first run starts
    out = prepare_out_dir(out)
    t0 = time.perf_counter()
    models = with_dependencies(models, base)
    # a worker takes whole splits (fraction, seed), so the runs that feed others on a split (the
    # clean-only teacher, the wsgan classifier) finish before their users start, in the same worker
    splits = [(f, s) for s in seeds for f in fractions]
    k, n = shard
    done = 0
    for i, (fraction, seed) in enumerate(splits):
        if i % n != k:
            continue
        for model in models:
            done += 1
            cfg = run_config(base, model, fraction, seed, out)
            run_dir = run_dir_for(out, model, fraction, base.noise, seed)
            tag = f"[split {i + 1}/{len(splits)}, run {done}] {run_dir.name}"
            if (run_dir / "metrics.json").exists():
                check_finished_run(run_dir, cfg)
                metrics = json.loads((run_dir / "metrics.json").read_text())
                log(f"{tag}: done before, top1 {metrics['top1']:.4f}")
            else:
                metrics = train_run(cfg, run_dir)
                log(f"{tag}: top1 {metrics['top1']:.4f} in {metrics['train_seconds']:.0f}s")
            write_summary(finished_rows(out), out)
    rows = finished_rows(out)
    write_summary(rows, out)
    log(f"sweep wall time {time.perf_counter() - t0:.0f}s -> {out / 'results.csv'}")
    return rows


def run_config(base: Config, model: str, fraction: float, seed: int, out: Path) -> Config:
    """The settings of one grid entry: base, with the runs of its split it reads (recipes.sibling_runs) filled in."""
    cfg = dataclasses.replace(base, model=model, clean_fraction=fraction, seed=seed)
    for setting, sibling in sibling_runs(cfg):
        if not getattr(base, setting):
            cfg = dataclasses.replace(cfg, **{setting: str(run_dir_for(out, sibling, fraction, base.noise, seed))})
    return with_run_schedule(cfg)


def check_finished_run(run_dir: Path, cfg: Config, folder_flag: str = "--out") -> None:
    """A finished run is only reused when it was made with the settings asked for now (folder_flag: the option
    that names the runs' folder, for the error's advice)."""
    saved = read_config(run_dir / "config.yaml")
    # pretrain names a rule; what counts is where this run's backbone started (auto and teacher agree
    # for a clean-only run, for example)
    changed = differences(saved, cfg, ignore=unused_settings(cfg) | {"pretrain"})
    if backbone_start(saved) != backbone_start(cfg):
        changed.append(f"backbone starts from: {backbone_start(saved)!r} -> {backbone_start(cfg)!r}")
    if changed:
        raise WeakganError(f"{run_dir}: finished with other settings ({'; '.join(changed[:3])}); use another "
                           f"{folder_flag} folder or remove that run")


def with_dependencies(models: list[str], base: Config) -> list[str]:
    """The models in an order where the sibling runs a model reads (recipes.sibling_runs) come before it, each
    added if it is not asked for: e.g. nr-wsgan-round2 -> clean-only, wsgan, nr-wsgan, nr-wsgan-round2."""
    order: list[str] = []

    def add(model: str) -> None:
        if model in order:
            return
        for setting, sibling in sibling_runs(dataclasses.replace(base, model=model)):
            if not getattr(base, setting):
                add(sibling)
        order.append(model)

    for m in models:
        add(m)
    return order


def write_summary(rows: list[dict], out: Path) -> None:
    write_results_csv(rows, out / "results.csv")
    md = "# Results\n\nFashionMNIST test top-1 (%), mean ± std over seeds.\n\n"
    md += results_table(rows, "top1", {"paper NR (Table 1)": PAPER_TABLE1, "paper NR+WSGAN (Table 2)": PAPER_TABLE2})
    md += "\nTop-3 (%):\n\n" + results_table(rows, "top3")
    md += "\nMacro average precision (%):\n\n" + results_table(rows, "macro_ap")
    atomic_write_text(out / "results.md", md)


def build_ensembles(cfg: Config, out: Path, models: list[str], fractions: list[float], seeds: list[int],
                    log=print) -> None:
    """For every split (fraction, seed): the ensemble of its finished runs of `models` (where at least two:
    ensemble.py), after the grid's runs."""
    if cfg.val_fraction == 0:
        log("no validation images (val_fraction 0): no ensemble, its members would be chosen on nothing")
        return
    set_threads(cfg.threads)
    data = None
    for seed in seeds:
        for fraction in fractions:
            runs = {m: run_dir_for(out, m, fraction, cfg.noise, seed) for m in models}
            runs = {m: p for m, p in runs.items() if (p / "metrics.json").exists()}
            if len(runs) < 2:
                continue
            if data is None:
                data = load_dataset(cfg.dataset, cfg.data_dir, False, cfg=cfg)
            build_ensemble(run_dir_for(out, ENSEMBLE, fraction, cfg.noise, seed), runs, data, cfg, log)
