"""Appending result rows to a benchmark's CSV (the header is written with the first row only), and keeping an
earlier invocation's rows when a CSV is written anew."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Callable


def append_rows(path: Path, columns: list[str], rows: list[dict]) -> None:
    new = not path.exists()
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, columns)
        if new:
            writer.writeheader()
        writer.writerows(rows)


def rows_not_made(path: Path, key: Callable[[dict], tuple], made: list[dict]) -> list[dict]:
    """The rows of the CSV at `path` (none if it does not exist) whose key no row of `made` has: what a benchmark
    that rewrites its CSV keeps of earlier invocations (other seeds, variants, sessions)."""
    if not path.exists():
        return []
    new = {key(r) for r in made}
    with path.open(newline="") as f:
        return [r for r in csv.DictReader(f) if key(r) not in new]


def merge_results(into: Path, new: Path) -> int:
    """Writes `into` anew with `new`'s rows (a `weakgan report` results.csv) in place of any row of the same
    model, clean fraction, noise and seed, keeping the rest: what a result file gathers over sessions whose run
    folders are gone. Rows are sorted by model, clean fraction, noise and seed; returns the number of rows."""
    key = lambda r: (r["model"], float(r["clean_fraction"]), r["noise"], int(r["seed"]))
    with new.open(newline="") as f:
        reader = csv.DictReader(f)
        columns, made = list(reader.fieldnames or []), list(reader)
    kept = rows_not_made(into, key, made)
    columns += [c for r in kept for c in r if c not in columns]   # an earlier row's extra column stays
    rows = sorted(kept + made, key=key)
    tmp = into.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(into)
    return len(rows)


if __name__ == "__main__":
    import sys
    if len(sys.argv) != 3:
        sys.exit("usage: python3 benchmarks/rows.py RESULT.csv NEW_results.csv   (NEW's rows replace RESULT's of the same key)")
    print(f"{sys.argv[1]}: {merge_results(Path(sys.argv[1]), Path(sys.argv[2]))} rows")
