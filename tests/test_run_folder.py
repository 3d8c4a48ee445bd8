"""What a run folder guarantees: one run per folder (other settings refused unless --override, recorded),
one process at a time (a lock), only finite checkpoints, no leftovers of interrupted writes, normal file
modes, and one-line errors for damaged or unwritable files."""
import json
import os
import subprocess

import numpy as np
import pytest
from conftest import TINY, run_cli

from weakgan.checkpoint import load_checkpoint


def _train(data, out, *extra):
    return ["train", "--model", "clean-only", "--data-dir", str(data), "--clean-fraction", "0.2", *TINY,
            *extra, "--out", str(out)]


def _error(p) -> str:
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1 and lines[0].startswith("weakgan: error: "), p.stderr
    return lines[0]


@pytest.fixture(scope="module")
def finished(tiny_fashion, tmp_path_factory):
    out = tmp_path_factory.mktemp("finished") / "run"
    run_cli(*_train(tiny_fashion, out))
    return out


def test_rerun_with_other_settings_is_refused_unless_overridden(tiny_fashion, tmp_path):
    out = tmp_path / "run"
    run_cli(*_train(tiny_fashion, out))
    before = json.loads((out / "metrics.json").read_text())
    config = (out / "config.yaml").read_text()
    p = run_cli(*_train(tiny_fashion, out, "--epochs", "7", "--lr", "0.01"), check=False)
    line = _error(p)
    assert "epochs: 5.0 -> 7.0" in line and "lr: 0.002 -> 0.01" in line and "--override" in line
    assert (out / "config.yaml").read_text() == config   # nothing rewritten
    # the same command again: the finished run is an exact no-op resume
    run_cli(*_train(tiny_fashion, out))
    assert json.loads((out / "metrics.json").read_text())["top1"] == before["top1"]
    # asked for explicitly: continued with the new settings, and the change is on record
    run_cli(*_train(tiny_fashion, out, "--epochs", "7", "--override"))
    assert "epochs: 7.0" in (out / "config.yaml").read_text()
    assert json.loads((out / "history.json").read_text())[0]["override"] == ["epochs: 5.0 -> 7.0"]
    assert json.loads((out / "metrics.json").read_text())["steps"] > before["steps"]


def test_a_folder_in_use_is_refused_and_a_dead_holder_is_taken_over(tiny_fashion, finished, tmp_path):
    from weakgan.checkpoint import folder_lock
    with folder_lock(finished):
        line = _error(run_cli(*_train(tiny_fashion, finished), check=False))
    assert f"in use by pid {os.getpid()}" in line
    # a lock file naming a holder that died (kill -9 leaves it; the kernel dropped its flock)
    (finished / ".lock").write_text("pid 999999 on elsewhere\n")
    p = run_cli(*_train(tiny_fashion, finished))
    assert "taking over the lock left by pid 999999 on elsewhere" in p.stderr
    assert (finished / ".lock").read_text() == ""   # released at the end


def test_no_checkpoint_from_a_diverged_state_and_a_sane_rerun_resumes(tiny_fashion, tmp_path):
    from weakgan.checkpoint import all_finite
    out = tmp_path / "nan"
    p = run_cli(*_train(tiny_fashion, out, "--lr", "1e6", "--checkpoint-every", "1", "--ema", "0"), check=False)
    assert "not finite" in _error(p) or "loss is" in _error(p)
    ckpt = out / "checkpoints" / "last.pt"
    if ckpt.exists():
        assert all_finite(load_checkpoint(ckpt))
    # the kept state is finite but may be far from a good one: what is promised is that it resumes and
    # finishes at a sane learning rate, the new lr being used (not the checkpoint's)
    run_cli(*_train(tiny_fashion, out, "--checkpoint-every", "1", "--ema", "0", "--override"))
    assert json.loads((out / "train_log.json").read_text())[-1]["lr"] < 1e-2
    assert np.isfinite(json.loads((out / "metrics.json").read_text())["macro_ap"])


def test_leftover_temp_files_are_removed_and_files_get_the_normal_mode(tiny_fashion, finished):
    from weakgan.checkpoint import FILE_MODE
    for name in ("checkpoints/.last.pt.k1ll3d.tmp", ".metrics.json.abc.tmp"):
        (finished / name).write_bytes(b"\0" * 100)
    run_cli(*_train(tiny_fashion, finished))
    assert not list(finished.rglob("*.tmp"))
    for name in ("config.yaml", "metrics.json", "model.safetensors", "checkpoints/last.pt", "split.json"):
        assert (finished / name).stat().st_mode & 0o777 == FILE_MODE, name


def test_empty_checkpoint_with_resume_is_one_line(tiny_fashion, tmp_path):
    out = tmp_path / "empty"
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "last.pt").write_bytes(b"")
    assert "last.pt: refused to load checkpoint" in _error(run_cli(*_train(tiny_fashion, out, "--resume"),
                                                                   check=False))


def test_damaged_or_unwritable_files_are_one_line_before_the_work(finished, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    image = tmp_path / "x.png"
    from PIL import Image
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(image)
    assert "cannot write here" in _error(run_cli("predict", str(finished), str(image), "--out",
                                                 str(blocker / "p.csv"), check=False))
    assert "cannot write here" in _error(run_cli("predict", str(finished), str(image), "--figure",
                                                 str(blocker / "f.png"), check=False))
    assert "cannot write here" in _error(run_cli("export", str(finished), "--format", "torchscript", "--out",
                                                 str(blocker / "m.pt"), check=False))
    broken = tmp_path / "broken"
    subprocess.run(["cp", "-r", str(finished), str(broken)], check=True)
    (broken / "metrics.json").write_text("{not json")
    assert "metrics.json: not valid JSON" in _error(run_cli("predict", str(broken), str(image), check=False))
    (broken / "metrics.json").unlink()
    (broken / "metrics.json").mkdir()   # a folder where evaluate must write its file
    assert "metrics.json: cannot write here" in _error(run_cli("evaluate", str(broken), check=False))
    (broken / "label_issues.csv").mkdir()
    assert "label_issues.csv: cannot write here" in _error(run_cli("label-issues", str(broken), check=False))
    (broken / "model.torchscript.pt").mkdir()   # export's default output, in the run folder
    assert "model.torchscript.pt: cannot write here" in _error(run_cli("export", str(broken), "--format",
                                                                       "torchscript", check=False))
    (broken / "classes.json").write_text('{"a": 1}')
    assert "classes.json: expected a list" in _error(run_cli("predict", str(broken), str(image), check=False))
