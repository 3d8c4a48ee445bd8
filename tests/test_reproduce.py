"""`weakgan reproduce` end to end on a tiny synthetic dataset, including resume after an interruption."""
import csv
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import TINY, run_cli
from weakgan.sweep import PAPER_TABLE1


def _preset(tmp_path):
    p = tmp_path / "tiny.yaml"
    p.write_text("models: [clean-only, nr]\nfractions: [0.2, 0.5]\nseeds: [0]\n"
                 "config:\n  pretrain: contrastive\n  contrastive_epochs: 0.5\n  contrastive_batch_size: 50\n"
                 "  backbone_lr_scale: 0.3\n")
    return p


def test_reproduce_tiny_end_to_end_and_resume(tiny_fashion, tmp_path):
    out, cache = tmp_path / "report", tmp_path / "cache"
    args = ["reproduce", "--preset", str(_preset(tmp_path)), "--data-dir", str(tiny_fashion),
            "--cache-dir", str(cache), *TINY, "--epochs", "2", "--out", str(out)]
    # interrupt the first attempt once the first run has finished
    proc = subprocess.Popen([sys.executable, "-m", "weakgan.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    deadline = time.time() + 180
    while time.time() < deadline and not list(out.glob("runs/*/metrics.json")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(list(cache.glob("contrastive-*/backbone.safetensors"))) == 1
    finished = len(list(out.glob("runs/*/metrics.json")))
    assert 1 <= finished < 4
    # the interrupted folder already reports, and says which runs of the grid are missing
    run_cli("report", str(out))
    partial = (out / "report.md").read_text()
    assert f"Incomplete: {finished} of 4 runs" in partial
    assert "Missing: nr: seed 0 (every fraction)" in partial or "Missing: nr: seed 0 at 0.5" in partial

    second = run_cli(*args)
    assert second.stdout.count("done before") == finished
    assert "contrastive pretraining ->" not in second.stdout   # the cached backbone is reused
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted((r["model"], r["clean_fraction"]) for r in rows) == [
        ("clean-only", "0.2"), ("clean-only", "0.5"), ("nr", "0.2"), ("nr", "0.5")]
    report = (out / "report.md").read_text()
    assert "Table 1" in report and "87.14" in report and "± " in report   # the paper at 0.2
    assert (out / "accuracy_vs_clean_fraction.png").stat().st_size > 1000
    assert (out / "fig5_top3_predictions.png").exists()
    assert "Complete: all 4 runs of the preset's grid are finished." in report
    # the report's figures are the results' own: Table 1's nr cells, and the pick made on validation
    for f in ("0.2", "0.5"):
        at = {r["model"]: r for r in rows if r["clean_fraction"] == f}
        assert f"| {float(f):.2f} | {PAPER_TABLE1[float(f)]:.2f} | {100 * float(at['nr']['top1']):.2f} ± 0.00 | 1 |" \
            in report
        best = max(float(r["val_top1"]) for r in at.values())
        picks = [f"| {float(f):.2f} | {m} | {100 * best:.2f} | {100 * float(r['top1']):.2f} | 1 |"
                 for m, r in at.items() if float(r["val_top1"]) == best]
        assert any(p in report for p in picks), picks

    # a part of the grid: one model at one fraction, with the teacher it reads; both are finished here
    part = run_cli(*args, "--models", "nr", "--fractions", "0.2")
    assert part.stdout.count("done before") == 2 and "clean-only_p0.2" in part.stdout
    bad = run_cli(*args, "--models", "naive", check=False)
    assert bad.returncode != 0 and "model naive not in the preset" in bad.stderr.strip().splitlines()[-1]


def test_every_named_preset_loads_with_valid_models_and_settings():
    # full and ablation are two different recipes: full is smallcnn without the GAN models, ablation keeps them
    from weakgan.recipes import recipe
    from weakgan.reproduce import PRESETS, load_preset, preset_config
    # the benchmark presets (files, run by their path) must name models and settings of today's package too
    files = sorted((Path(__file__).resolve().parents[1] / "benchmarks" / "presets").glob("*.yaml"))
    assert files
    for name in [*PRESETS, *map(str, files)]:
        preset_config(name)   # refuses an unknown model or an out-of-range setting
        assert load_preset(name)["fractions"], name
    assert preset_config("full").backbone == "smallcnn"
    assert not any(recipe(m).generator or recipe(m).reads_wsgan for m in load_preset("full")["models"])
    assert preset_config("ablation").backbone == "resnet18" and "wsgan" in load_preset("ablation")["models"], "ablation"
