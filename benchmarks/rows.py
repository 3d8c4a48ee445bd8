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
