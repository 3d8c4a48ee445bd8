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


def finished_run(runs: Path, name: str, cfg) -> Path:
    run = runs / f"{name.replace('/', '-')}_p{cfg.clean_fraction:g}_s{cfg.seed}"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(to_yaml(with_run_schedule(cfg)))
    (run / "metrics.json").write_text(json.dumps({"top1": 0.5}))
    return run


def variant_config(name: str, **changes):
    model, overrides = full_recipe.VARIANTS[name]
    cfg = dataclasses.replace(preset_config("full"), model=model, clean_fraction=0.2, noise="permutation", seed=1,
                              threads=1, progress=False, **overrides)
    return dataclasses.replace(cfg, **changes)


def test_a_run_with_the_settings_asked_for_is_read_back(tmp_path):
    finished_run(tmp_path, "clean-only/no-translate", variant_config("clean-only/no-translate"))
    m, _ = full_recipe.run_variant("clean-only/no-translate", 0.2, 1, tmp_path / "baseline", tmp_path, 1)
    assert m == {"top1": 0.5}


def test_a_run_made_with_other_epochs_is_refused(tmp_path):
    epochs = preset_config("full").epochs
    finished_run(tmp_path, "clean-only/no-translate", variant_config("clean-only/no-translate", epochs=epochs / 2))
    with pytest.raises(WeakganError, match="epochs"):
        full_recipe.run_variant("clean-only/no-translate", 0.2, 1, tmp_path / "baseline", tmp_path, 1)
