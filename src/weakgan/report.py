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


def accuracy_plot(rows: list[dict], path: str | Path, reference: dict[str, dict[float, float]] | None = None,
                  metric: str = "top1") -> None:
    """Accuracy vs clean fraction: one line per model (mean, with std error bars) and the paper's curves."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from weakgan.checkpoint import atomic_write

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, ref in (reference or {}).items():
        xs = sorted(ref)
        ax.plot(xs, [ref[x] for x in xs], "k--" if "Table 1" in name else "k:", marker="x", label=name)
    by_model: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        by_model[r["model"]][float(r["clean_fraction"])].append(100 * float(r[metric]))
    for model, points in sorted(by_model.items()):
        xs = sorted(points)
        ax.errorbar(xs, [np.mean(points[x]) for x in xs], yerr=[np.std(points[x]) for x in xs], marker="o",
                    capsize=3, label=model)
    ax.set_xscale("log")
    ax.set_xticks([0.05, 0.1, 0.2, 0.5, 0.7], ["0.05", "0.1", "0.2", "0.5", "0.7"])
    ax.set_xlabel("clean fraction")
    ax.set_ylabel(f"test {metric} (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)
