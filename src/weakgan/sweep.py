"""A grid of runs (models x clean fractions x seeds) into one folder, resumable: finished runs are skipped."""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from weakgan.checkpoint import atomic_write_text
from weakgan.config import Config
from weakgan.report import results_table, row_from_metrics, write_results_csv
from weakgan.run import prepare_out_dir, train_run

PAPER_TABLE1 = {0.05: 83.73, 0.10: 86.12, 0.20: 87.14, 0.50: 88.84, 0.70: 88.99}
PAPER_TABLE2 = {0.05: 77.80, 0.10: 81.07, 0.20: 82.93, 0.50: 89.86, 0.70: 90.68}


def run_dir_for(out: Path, model: str, fraction: float, noise: str, seed: int) -> Path:
    return out / "runs" / f"{model}_p{fraction:g}_{noise.replace(':', '')}_s{seed}"


def sweep(base: Config, models: list[str], fractions: list[float], seeds: list[int], out: str | Path,
          log=print) -> list[dict]:
    out = prepare_out_dir(out)
    rows, t0 = [], time.perf_counter()
    grid = [(m, f, s) for s in seeds for f in fractions for m in models]
    for i, (model, fraction, seed) in enumerate(grid, 1):
        cfg = dataclasses.replace(base, model=model, clean_fraction=fraction, seed=seed)
        run_dir = run_dir_for(out, model, fraction, base.noise, seed)
        if (run_dir / "metrics.json").exists():
            metrics = json.loads((run_dir / "metrics.json").read_text())
            log(f"[{i}/{len(grid)}] {run_dir.name}: done before, top1 {metrics['top1']:.4f}")
        else:
            metrics = train_run(cfg, run_dir)
            log(f"[{i}/{len(grid)}] {run_dir.name}: top1 {metrics['top1']:.4f} in {metrics['train_seconds']:.0f}s")
        rows.append(row_from_metrics(metrics))
        write_summary(rows, out)
    log(f"sweep wall time {time.perf_counter() - t0:.0f}s -> {out / 'results.csv'}")
    return rows


def write_summary(rows: list[dict], out: Path) -> None:
    write_results_csv(rows, out / "results.csv")
    md = "# Results\n\nFashionMNIST test top-1 (%), mean ± std over seeds.\n\n"
    md += results_table(rows, "top1", {"paper NR (Table 1)": PAPER_TABLE1, "paper NR+WSGAN (Table 2)": PAPER_TABLE2})
    md += "\nTop-3 (%):\n\n" + results_table(rows, "top3")
    md += "\nMacro average precision (%):\n\n" + results_table(rows, "macro_ap")
    atomic_write_text(out / "results.md", md)
