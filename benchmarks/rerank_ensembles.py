"""Rebuild the ensembles of a finished report folder under the package's current ranking rule, then its report.

  python3 benchmarks/rerank_ensembles.py reports/full_xeon

Why: an ensemble folder records the rule that ranked it (ensemble.json's "ranking"; before 2026-12-06 there was
none, and its validation figure was the one its members were chosen on). `reproduce` rebuilds a stale ensemble
only for the grid it is given, with the preset's current config; a report folder made with an older preset (other
epochs) would be trained again. This rebuilds each runs/ensemble_* folder from the candidates its ensemble.json
names, with their own saved config, and nothing trains: members are chosen on validation as before, the
validation figure that ranks the ensemble is the cross-fitted one (weakgan/ensemble.py), the test set is read once
per ensemble after the choice. Then `weakgan report` rewrites the folder's results.csv and report.md.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from weakgan import WeakganError
from weakgan.data import load_dataset
from weakgan.ensemble import ENSEMBLE, build_ensemble, ensemble_runs
from weakgan.reproduce import report_folder
from weakgan.run_folder import read_run_config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", help="a `weakgan reproduce` folder (its runs/ensemble_* folders are rebuilt)")
    folder = Path(ap.parse_args().folder)
    if not (folder / "runs").is_dir():
        raise SystemExit(f"rerank_ensembles.py: {folder}: expected a `weakgan reproduce` folder (with runs/)")
    try:
        rerank(folder)
    except WeakganError as e:   # a damaged run or ensemble folder: one line naming it
        raise SystemExit(f"rerank_ensembles.py: {e}") from None


def rerank(folder: Path) -> None:
    data = None
    for out in sorted((folder / "runs").glob(f"{ENSEMBLE}_*")):
        runs = {m: run.resolve() for m, run in ensemble_runs(out, "candidates").items()}
        cfg = read_run_config(next(iter(runs.values())))
        if data is None:   # one dataset per report folder: every run of it reads the same files
            data = load_dataset(cfg.dataset, cfg.data_dir, False, cfg=cfg)
        if build_ensemble(out, runs, data, cfg) is None:
            print(f"{out.name}: already ranked by the current rule")
    print(report_folder(folder))


if __name__ == "__main__":
    main()
