"""Checkpoints and resume: atomic writes, exact resume after SIGKILL, refusal of foreign or malicious files."""
import os
import pickle
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import TINY, run_cli
from safetensors.torch import load_file

from weakgan import WeakganError
from weakgan.checkpoint import atomic_write, load_checkpoint, load_weights, save_checkpoint


def _train_args(data, out, *extra):
    return ["train", "--model", "nr", "--data-dir", str(data), "--clean-fraction", "0.2", "--seed", "3",
            *TINY, "--epochs", "6", "--checkpoint-every", "4", *extra, "--out", str(out)]


def test_kill_and_resume_equals_unbroken_run(tiny_fashion, tmp_path):
    run_cli(*_train_args(tiny_fashion, tmp_path / "whole"))
    broken = tmp_path / "broken"
    proc = subprocess.Popen([sys.executable, "-m", "weakgan.cli", *_train_args(tiny_fashion, broken)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = broken / "checkpoints" / "last.pt"
    deadline = time.time() + 120
    while time.time() < deadline and not ckpt.exists():
        time.sleep(0.05)
    assert ckpt.exists(), "no checkpoint was written"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step = load_checkpoint(ckpt)["step"]
    assert step < 60, "the run finished before it could be killed"
    assert not (broken / "metrics.json").exists()
    run_cli(*_train_args(tiny_fashion, broken))   # the same command resumes
    a, b = load_file(tmp_path / "whole" / "model.safetensors"), load_file(broken / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_sigterm_saves_checkpoint_and_exits(tiny_fashion, tmp_path):
    out = tmp_path / "term"
    args = _train_args(tiny_fashion, out, "--epochs", "50", "--checkpoint-every", "1000")
    proc = subprocess.Popen([sys.executable, "-m", "weakgan.cli", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "split.npz").exists():
        time.sleep(0.05)
    time.sleep(3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "stopped by signal" in err
    assert load_checkpoint(out / "checkpoints" / "last.pt")["step"] > 0


def test_mismatched_checkpoint_is_an_error(tiny_fashion, tmp_path):
    out = tmp_path / "run"
    run_cli(*_train_args(tiny_fashion, out, "--epochs", "1"))
    os.remove(out / "metrics.json")
    p = run_cli(*_train_args(tiny_fashion, out, "--epochs", "1", "--head-hidden", "48"), check=False)
    assert p.returncode == 2 and "belongs to another model/config" in p.stderr


class Boom:
    def __reduce__(self):
        return (os.system, ("touch pwned_marker",))


def test_malicious_pickle_is_not_executed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as f:
        pickle.dump({"model": Boom()}, f)
    torch.save({"x": Boom()}, tmp_path / "evil2.pt")
    for path in (evil, tmp_path / "evil2.pt"):
        with pytest.raises(WeakganError, match="refused to load"):
            load_checkpoint(path)
        with pytest.raises(WeakganError):
            load_weights(path)
    assert not (tmp_path / "pwned_marker").exists()


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"step": 1})

    def failing(tmp):
        with open(tmp, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")
    with pytest.raises(OSError):
        atomic_write(path, failing)
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]   # no temporary left behind


def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    p = run_cli("train", "--out", str(blocker / "sub"), check=False)
    assert p.returncode == 2 and "not writable" in p.stderr
