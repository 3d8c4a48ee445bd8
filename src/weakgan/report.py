"""results.csv (the results contract) and the mean ± std markdown table."""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from pathlib import Path

import numpy as np

from weakgan.checkpoint import atomic_write_text

COLUMNS = ["model", "clean_fraction", "noise", "seed", "top1", "top3", "macro_ap", "train_seconds", "device"]


def row_from_metrics(m: dict) -> dict:
    return {c: m[c] for c in COLUMNS}


def write_results_csv(rows: list[dict], path: str | Path) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in sorted(rows, key=lambda r: (r["model"], float(r["clean_fraction"]), r["noise"], int(r["seed"]))):
        w.writerow({c: (f"{r[c]:.4f}" if c in ("top1", "top3", "macro_ap") else
                        f"{r[c]:.1f}" if c == "train_seconds" else r[c]) for c in COLUMNS})
    atomic_write_text(path, buf.getvalue())


def read_results_csv(path: str | Path) -> list[dict]:
    with open(path, newline="") as f:
        return [dict(r) for r in csv.DictReader(f)]


def mean_std(values: list[float]) -> str:
    v = np.asarray(values, dtype=float) * 100
    return f"{v.mean():.2f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.2f}"


def results_table(rows: list[dict], metric: str = "top1", reference: dict[str, dict[float, float]] | None = None) -> str:
    """Markdown: one row per clean fraction, one column per model (mean ± std over seeds, in %).

    reference: extra columns {name: {fraction: accuracy in %}} such as the paper's tables.
    """
    cells: dict[tuple[float, str], list[float]] = defaultdict(list)
    models, fractions = [], set()
    for r in rows:
        f = float(r["clean_fraction"])
        cells[(f, r["model"])].append(float(r[metric]))
        fractions.add(f)
        if r["model"] not in models:
            models.append(r["model"])
    reference = reference or {}
    head = ["clean fraction"] + list(reference) + [f"{m} ({metric}, %)" for m in models] + ["seeds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for f in sorted(fractions):
        ref = [f"{reference[name][f]:.2f}" if f in reference[name] else "" for name in reference]
        vals = [mean_std(cells[(f, m)]) if cells[(f, m)] else "" for m in models]
        n = max(len(cells[(f, m)]) for m in models)
        lines.append("| " + " | ".join([f"{f:.2f}"] + ref + vals + [str(n)]) + " |")
    return "\n".join(lines) + "\n"
