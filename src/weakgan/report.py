"""results.csv (the results contract) and the mean ± std markdown table."""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from pathlib import Path

import numpy as np

from weakgan.checkpoint import atomic_write_text
from weakgan.ensemble import ENSEMBLE

# the results contract, then the accuracy on the split's validation images (empty for runs without any)
COLUMNS = ["model", "clean_fraction", "noise", "seed", "top1", "top3", "macro_ap", "train_seconds", "device",
           "val_top1"]


def row_from_metrics(m: dict) -> dict:
    return {c: m.get(c) if c == "val_top1" else m[c] for c in COLUMNS}


def _cell(column: str, value) -> str:
    if value is None or value == "":
        return ""
    if column in ("top3", "macro_ap") or column.endswith("top1"):
        return f"{float(value):.4f}"
    return f"{float(value):.1f}" if column == "train_seconds" else str(value)


def write_results_csv(rows: list[dict], path: str | Path, extra: tuple[str, ...] = ()) -> None:
    """The results contract (COLUMNS), then any `extra` columns a benchmark adds (empty where a row has none)."""
    columns = [*COLUMNS, *extra]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    for r in sorted(rows, key=lambda r: (r["model"], float(r["clean_fraction"]), r["noise"], int(r["seed"]))):
        w.writerow({c: _cell(c, r.get(c)) for c in columns})
    atomic_write_text(path, buf.getvalue())


def read_results_csv(path: str | Path) -> list[dict]:
    with open(path, newline="") as f:
        return [dict(r) for r in csv.DictReader(f)]


def by_model_and_fraction(rows: list[dict], metric: str = "top1") -> dict[tuple[str, float], list[float]]:
    """{(model, clean fraction): the metric of each seed, in %}, models in their order of first appearance;
    runs without the metric (val_top1 of a run without validation images) are left out."""
    cells: dict[tuple[str, float], list[float]] = defaultdict(list)
    for r in rows:
        if r.get(metric) not in (None, ""):
            cells[(r["model"], float(r["clean_fraction"]))].append(100 * float(r[metric]))
    return cells


def mean_std(values_pct: list[float]) -> str:
    v = np.asarray(values_pct, dtype=float)
    return f"{v.mean():.2f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.2f}"


def results_table(rows: list[dict], metric: str = "top1", reference: dict[str, dict[float, float]] | None = None) -> str:
    """Markdown: one row per clean fraction, one column per model (mean ± std over seeds, in %).

    reference: extra columns {name: {fraction: accuracy in %}} such as the paper's tables.
    """
    cells = by_model_and_fraction(rows, metric)
    models = list(dict.fromkeys(m for m, _ in cells))
    fractions = {f for _, f in cells}
    reference = reference or {}
    head = ["clean fraction"] + list(reference) + [f"{m} ({metric}, %)" for m in models] + ["seeds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for f in sorted(fractions):
        ref = [f"{reference[name][f]:.2f}" if f in reference[name] else "" for name in reference]
        vals = [mean_std(cells[(m, f)]) if (m, f) in cells else "" for m in models]
        counts = {m: len(cells.get((m, f), [])) for m in models}
        n = max(counts.values())
        fewer = [f"{m}: {c}" for m, c in counts.items() if 0 < c < n]   # say which cells rest on fewer seeds
        lines.append("| " + " | ".join([f"{f:.2f}"] + ref + vals + [str(n) + (f" ({', '.join(fewer)})" if fewer else "")]) + " |")
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
    cells = by_model_and_fraction(rows, metric)
    for model in sorted({m for m, _ in cells}):
        xs = sorted(f for m, f in cells if m == model)
        ax.errorbar(xs, [np.mean(cells[(model, x)]) for x in xs], yerr=[np.std(cells[(model, x)]) for x in xs],
                    marker="o", capsize=3, label=model)
    ax.set_xscale("log")
    ax.minorticks_off()   # the log axis would otherwise label 3e-1, 4e-1, ... between the fractions
    ax.set_xticks([0.05, 0.1, 0.2, 0.5, 0.7], ["0.05", "0.1", "0.2", "0.5", "0.7"])
    ax.set_xlabel("clean fraction")
    ax.set_ylabel(f"test {metric} (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)


def _means(rows: list[dict], metric: str = "top1") -> dict[tuple[str, float], float]:
    """{(model, clean fraction): mean of metric over seeds, in %}."""
    return {k: float(np.mean(v)) for k, v in by_model_and_fraction(rows, metric).items()}


def candidate_models(rows: list[dict]) -> dict[float, list[str]]:
    """{clean fraction: the models that may be chosen there}: those whose every run at that fraction has a
    validation figure and that ran on every seed run there (a split's seed moves all its models alike, so a mean
    over fewer seeds is not comparable; if no model has them all, every model with validation figures competes).
    Models keep the order of their first row."""
    test_counts = by_model_and_fraction(rows, "top1")
    val = by_model_and_fraction(rows, "val_top1")
    seeds: dict[tuple[str, float], set] = defaultdict(set)
    for r in rows:
        seeds[(r["model"], float(r["clean_fraction"]))].add(str(r.get("seed")))
    out = {}
    for f in sorted({f for _, f in val}):
        full = [m for (m, g), v in val.items() if g == f and len(v) == len(test_counts[(m, g)])]
        every = set().union(*(seeds[(m, f)] for m in full)) if full else set()
        out[f] = [m for m in full if seeds[(m, f)] == every] or full
    return out


def chosen_models(rows: list[dict]) -> dict[float, str]:
    """{clean fraction: the model with the best mean validation top-1 there}, among candidate_models. The test set
    plays no part in the choice. Means are compared to the 0.01 point that tables show: results.csv keeps four
    digits of each val_top1, so a finer difference is rounding, not images; ties go to a single model over an
    average of models (ranked on validation images its members were not chosen on: ensemble.py), then to the model
    listed first."""
    val = by_model_and_fraction(rows, "val_top1")
    return {f: max(models, key=lambda m: (round(float(np.mean(val[(m, f)])), 2), m != ENSEMBLE))
            for f, models in candidate_models(rows).items() if models}


def chosen_model_table(rows: list[dict], paper: dict[str, dict[float, float]]) -> str:
    """Markdown: per clean fraction, the model chosen on validation (chosen_models), its validation and test
    top-1, over how many seeds, and its margin over the paper's best."""
    test, val = by_model_and_fraction(rows, "top1"), by_model_and_fraction(rows, "val_top1")
    lines = ["| clean fraction | model chosen on validation | validation top-1 (%) | test top-1 (%) | seeds | "
             "paper's best (%) | margin |", "|---|---|---|---|---|---|---|"]
    chosen = chosen_models(rows)
    for f, model in chosen.items():
        acc = float(np.mean(test[(model, f)]))
        ref = max((t[f] for t in paper.values() if f in t), default=None)
        lines.append(f"| {f:.2f} | {model} | {np.mean(val[(model, f)]):.2f} | {acc:.2f} | {len(test[(model, f)])} | "
                     + (f"{ref:.2f} | {acc - ref:+.2f} |" if ref is not None else " | |"))
    if not chosen:
        lines.append("| (no runs with a validation set: nothing can be chosen without reading the test set) |"
                     " | | | | | |")
    return "\n".join(lines) + "\n"


def comparison(rows: list[dict], model: str, other: str, other_by_fraction: dict[float, float] | None = None) -> str:
    """One plain sentence: at which clean fractions `model` beats `other` (a model of rows, or given numbers),
    and at which it does not, with the measured means."""
    means = _means(rows)
    theirs = other_by_fraction or {f: a for (m, f), a in means.items() if m == other}
    wins, losses = [], []
    for (m, f), a in sorted(means.items(), key=lambda t: t[0][1]):
        if m == model and f in theirs:
            (wins if a > theirs[f] else losses).append(f"{f:g} ({a:.2f} vs {theirs[f]:.2f})")
    if not wins and not losses:
        return f"{model} vs {other}: no clean fraction has both.\n"
    return (f"{model} vs {other}: " + (f"beats it at {', '.join(wins)}" if wins else "beats it nowhere") +
            ("; does NOT at " + ", ".join(losses) if losses else "; everywhere measured") + ".\n")
