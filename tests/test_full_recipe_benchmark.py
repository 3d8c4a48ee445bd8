"""benchmarks/full_recipe.py reads a finished variant run back only when it was made with the settings asked for
now: after the full preset's epochs changed, an old run is refused instead of being reported as the new budget's."""
from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

from weakgan import WeakganError
from weakgan.config import to_yaml
from weakgan.recipes import with_run_schedule
from weakgan.reproduce import preset_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import full_recipe  # noqa: E402


METRICS = {"top1": 0.5, "val_top1": 0.6, "n_val": 100, "clean_fraction": 0.2, "seed": 1, "precision": "fp32",
           "train_seconds": 1.0, "commit": "abc", "date": "2026-12-06", "machine": "test"}


def finished_run(run: Path, cfg) -> Path:
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(to_yaml(with_run_schedule(cfg)))
    (run / "metrics.json").write_text(json.dumps(METRICS))
    return run


def variant_run(tmp_path: Path, name: str):
    return full_recipe.variant_run(name, 0.2, 1, tmp_path / "baseline", tmp_path / "runs", 1)


def variant_config(name: str, **changes):
    model, overrides = full_recipe.VARIANTS[name]
    cfg = dataclasses.replace(preset_config("full"), model=model, clean_fraction=0.2, noise="permutation", seed=1,
                              threads=1, progress=False, **overrides)
    return dataclasses.replace(cfg, **changes)


def test_a_run_with_the_settings_asked_for_is_read_back(tmp_path):
    cfg, run = variant_run(tmp_path, "clean-only/no-translate")
    finished_run(run, variant_config("clean-only/no-translate"))
    m, _ = full_recipe.run_variant(cfg, run)
    assert m == METRICS


def test_a_run_made_with_other_epochs_is_refused(tmp_path):
    cfg, run = variant_run(tmp_path, "clean-only/no-translate")
    finished_run(run, variant_config("clean-only/no-translate", epochs=cfg.epochs / 2))
    with pytest.raises(WeakganError, match="epochs.*--runs folder"):
        full_recipe.run_variant(cfg, run)


def test_a_refused_run_leaves_the_csv_as_it_was(tmp_path, monkeypatch):
    """The refusal comes before the baseline's rows are appended: the CSV is not half-written."""
    finished_run(tmp_path / "baseline" / "runs" / "clean-only_p0.2_auto_s1", variant_config("clean-only/epochs-6"))
    cfg, run = variant_run(tmp_path, "clean-only/no-translate")
    finished_run(run, variant_config("clean-only/no-translate", epochs=cfg.epochs / 2))
    out_csv = tmp_path / "rows.csv"
    monkeypatch.setattr(sys, "argv", ["full_recipe.py", "--baseline", str(tmp_path / "baseline"), "--fractions", "0.2",
                                      "--seeds", "1", "--variants", "clean-only/no-translate", "--threads", "1",
                                      "--runs", str(tmp_path / "runs"), "--csv", str(out_csv)])
    with pytest.raises(SystemExit, match="full_recipe.py: .*epochs"):
        full_recipe.main()
    assert not out_csv.exists()
