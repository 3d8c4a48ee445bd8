"""The paper preset's rows (results/paper_preset.csv) beside the paper's Tables 1 and 2: one row per clean fraction,
per model its test top-1 % (validation top-1 %), means over the seeds run, and the differences the preset exists to
show. Run folders do not outlive a session, so the CSV (gathered with `python3 benchmarks/rows.py`) is the source.

    python3 benchmarks/paper_table.py [benchmarks/results/paper_preset.csv]     # prints the markdown table
"""
import sys
from pathlib import Path
from statistics import mean

from compare_presets import read   # benchmarks/compare_presets.py (scripts run from benchmarks/ as their first path)
from weakgan.reproduce import load_preset
from weakgan.sweep import PAPER_TABLE1, PAPER_TABLE2

MODELS = load_preset("paper")["models"]   # in the preset's own order
# (label, minuend, subtrahend): a model name or "T1"/"T2" for the paper's tables
DIFFERENCES = [("`nr` minus Table 1", "nr", "T1"), ("`nr-wsgan` minus Table 2", "nr-wsgan", "T2"),
               ("`nr` minus `clean-only`", "nr", "clean-only"), ("`nr-wsgan` minus `clean-only`", "nr-wsgan", "clean-only")]


def table(path: Path) -> str:
    cells = read(path)
    fractions = sorted(PAPER_TABLE1)
    models = [m for m in MODELS if any((m, f) in cells for f in fractions)]

    def test(key, f):
        if key == "T1":
            return PAPER_TABLE1[f]
        if key == "T2":
            return PAPER_TABLE2[f]
        rows = cells.get((key, f))
        return mean(100 * float(r["top1"]) for r in rows) if rows else None

    def shown(m, f):
        rows = cells.get((m, f))
        if not rows:
            return "not run"
        val = [100 * float(r["val_top1"]) for r in rows if r.get("val_top1")]
        seeds = f" [{len(rows)} seeds]" if len(rows) > 1 else ""
        return f"{test(m, f):.2f}" + (f" ({mean(val):.2f})" if val else "") + seeds

    diffs = [d for d in DIFFERENCES if d[1] in models and (d[2] in ("T1", "T2") or d[2] in models)]
    head = ["clean", "paper NR (Table 1)", "paper NR+WSGAN (Table 2)"] + [f"`{m}`" for m in models] + [d[0] for d in diffs]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for f in fractions:
        cols = [f"{f:g}", f"{PAPER_TABLE1[f]:.2f}", f"{PAPER_TABLE2[f]:.2f}"] + [shown(m, f) for m in models]
        for _, a, b in diffs:
            x, y = test(a, f), test(b, f)
            cols.append(f"{x - y:+.2f}" if x is not None and y is not None else "-")
        lines.append("| " + " | ".join(cols) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "results" / "paper_preset.csv")))
