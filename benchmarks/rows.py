"""Appending result rows to a benchmark's CSV: the header is written with the first row only."""
from __future__ import annotations

import csv
from pathlib import Path


def append_rows(path: Path, columns: list[str], rows: list[dict]) -> None:
    new = not path.exists()
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, columns)
        if new:
            writer.writeheader()
        writer.writerows(rows)
