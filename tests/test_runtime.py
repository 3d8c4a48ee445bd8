"""Checkpoints and resume: atomic writes, exact resume after SIGKILL, refusal of foreign or malicious files,
and the guards (NaN loss, disk space, device choice)."""
import json
import os
import pickle
import random
import re
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import TINY, kill_at_first_checkpoint, run_cli
from safetensors.torch import load_file

from weakgan import WeakganError
from weakgan.checkpoint import atomic_write, load_checkpoint, load_weights, save_checkpoint
from weakgan.cli import main
from weakgan.runtime import pick_device
from weakgan.train import rng_states, set_rng_states


def _train_args(data, out, *extra):
    # teacher off: the runtime is the same for every stage, and a teacher run would double each test's time
    return ["train", "--model", "nr", "--teacher-weight", "0", "--data-dir", str(data), "--clean-fraction", "0.2",
            "--seed", "3", *TINY, "--epochs", "6", "--checkpoint-every", "4", *extra, "--out", str(out)]


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("weakgan: error: "), stderr
    return lines[0]


def test_kill_and_resume_equals_unbroken_run(tiny_fashion, tmp_path):
    run_cli(*_train_args(tiny_fashion, tmp_path / "whole"))
    broken = tmp_path / "broken"
    kill_at_first_checkpoint(_train_args(tiny_fashion, broken), broken)
    assert load_checkpoint(broken / "checkpoints" / "last.pt")["step"] < 60
    run_cli(*_train_args(tiny_fashion, broken))   # the same command resumes
    a, b = load_file(tmp_path / "whole" / "model.safetensors"), load_file(broken / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (tmp_path / "whole", broken))
    assert ma["top1"] == mb["top1"] and ma["confusion"] == mb["confusion"]


def test_checkpoint_rng_states_round_trip(tmp_path):
    """torch, numpy, python (and CUDA where present) generators resume where they were, via weights_only."""
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    np.random.normal()   # leaves a cached Gaussian in numpy's state
    save_checkpoint(tmp_path / "ck.pt", {"rng": rng_states()})
    expected = torch.rand(3), np.random.rand(3), np.random.normal(), random.random()
    torch.manual_seed(2), np.random.seed(2), random.seed(2)
    set_rng_states(load_checkpoint(tmp_path / "ck.pt")["rng"])
    again = torch.rand(3), np.random.rand(3), np.random.normal(), random.random()
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1])
    assert expected[2:] == again[2:]


def _stopped_at_the_saved_step(returncode: int, err: str, out, sig: int) -> None:
    """The run stopped on `sig` (exit 2) and its checkpoint holds the step it says it stopped after."""
    stopped = re.search(r"nr: stopped by signal (\d+) after step (\d+)", err)
    assert returncode == 2 and stopped and int(stopped[1]) == int(sig), err
    assert load_checkpoint(out / "checkpoints" / "last.pt")["step"] == int(stopped[2]) > 10


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_saves_checkpoint_and_exits(tiny_fashion, tmp_path, sig):
    out = tmp_path / "term"
    args = _train_args(tiny_fashion, out, "--epochs", "50", "--checkpoint-every", "10")
    # the first periodic checkpoint says the training loop (and its handler) is running; a fixed sleep raced
    # with a loaded machine, where the signal could arrive before the loop had started. The checkpoint must be
    # the signal's step, not the last periodic one.
    _stopped_at_the_saved_step(*kill_at_first_checkpoint(args, out, sig=sig), out, sig)


SIGNAL_DURING_SAVE = """
import os, signal, sys
from weakgan import train
from weakgan.cli import main
real_save = train.save_checkpoint

def save_then_signal(path, state):   # the signal lands while a checkpoint is written, late in a step
    real_save(path, state)
    if state["step"] == 10:
        os.kill(os.getpid(), signal.SIGTERM)

train.save_checkpoint = save_then_signal
sys.exit(main(sys.argv[1:]))
"""


def test_signal_during_a_checkpoint_write_stops_at_the_step_it_saves(tiny_fashion, tmp_path):
    """The step-10 checkpoint is written during step 11 (after step 11 shows step 10's state was finite); a
    signal arriving then must not stop the run at step 11 with the checkpoint left at step 10."""
    out = tmp_path / "run"
    args = _train_args(tiny_fashion, out, "--epochs", "50", "--checkpoint-every", "10")
    p = subprocess.run([sys.executable, "-c", SIGNAL_DURING_SAVE, *args], capture_output=True, text=True, timeout=300)
    _stopped_at_the_saved_step(p.returncode, p.stderr, out, signal.SIGTERM)


def test_resume_flag_needs_a_checkpoint(tiny_fashion, tmp_path):
    out = tmp_path / "run"
    p = run_cli(*_train_args(tiny_fashion, out, "--epochs", "1", "--resume"), check=False)
    assert p.returncode == 2 and f"{out / 'checkpoints' / 'last.pt'}: no checkpoint" in _one_line(p.stderr)
    assert not (out / "checkpoints").exists()   # no fresh start behind the user's back
    run_cli(*_train_args(tiny_fashion, out, "--epochs", "1"))
    first = load_file(out / "model.safetensors")
    os.remove(out / "metrics.json")
    run_cli(*_train_args(tiny_fashion, out, "--epochs", "1", "--resume"))   # a finished checkpoint: no training
    again = load_file(out / "model.safetensors")
    assert all(torch.equal(first[k], again[k]) for k in first) and (out / "metrics.json").exists()


def test_mismatched_checkpoint_is_an_error(tiny_fashion, tmp_path):
    out = tmp_path / "run"
    run_cli(*_train_args(tiny_fashion, out, "--epochs", "1"))
    os.remove(out / "metrics.json")
    p = run_cli(*_train_args(tiny_fashion, out, "--epochs", "1", "--head-hidden", "48"), check=False)
    assert p.returncode == 2 and "other settings (head_hidden: 32 -> 48)" in _one_line(p.stderr)
    # continued with --override, the checkpoint still cannot hold weights of another shape: refused too
    p = run_cli(*_train_args(tiny_fashion, out, "--epochs", "1", "--head-hidden", "48", "--override"), check=False)
    assert p.returncode == 2 and "belongs to another model/config" in _one_line(p.stderr)


def test_run_folder_of_another_model_is_an_error(tiny_fashion, tmp_path):
    out = tmp_path / "run"
    run_cli(*_train_args(tiny_fashion, out, "--model", "clean-only", "--epochs", "1"))
    ckpt = out / "checkpoints" / "last.pt"
    before = ckpt.read_bytes()
    p = run_cli(*_train_args(tiny_fashion, out, "--epochs", "1"), check=False)
    assert p.returncode == 2
    assert f"{out}/config.yaml: this folder holds a run of model 'clean-only'" in _one_line(p.stderr)
    assert ckpt.read_bytes() == before
    # without config.yaml the checkpoint itself still refuses to be resumed by another model
    os.remove(out / "config.yaml")
    os.remove(out / "metrics.json")
    p = run_cli(*_train_args(tiny_fashion, out, "--epochs", "1"), check=False)
    assert p.returncode == 2 and "belongs to another model/config" in _one_line(p.stderr)
    assert ckpt.read_bytes() == before


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


SLOW_SAVE = """
import sys, time, torch
from weakgan.checkpoint import save_checkpoint
save_checkpoint(sys.argv[1], {"step": 1, "w": torch.arange(5.0)})
real_save = torch.save

class SlowFile:   # every write lands on disk, then the writer hangs: the test kills it mid-save
    def __init__(self, f):
        self.f = f
    def write(self, data):
        n = self.f.write(data)
        self.f.flush()
        print("wrote", flush=True)
        time.sleep(30)
        return n
    def flush(self):
        self.f.flush()

def slow_save(obj, path):
    with open(path, "wb") as f:
        real_save(obj, SlowFile(f))

torch.save = slow_save
save_checkpoint(sys.argv[1], {"step": 2, "w": torch.zeros(5)})
"""


def test_kill_during_save_keeps_previous_checkpoint(tmp_path):
    path = tmp_path / "ck.pt"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_SAVE, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "wrote\n"   # the second save has started writing its file
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    partial = [p for p in tmp_path.iterdir() if p.name != "ck.pt"]
    assert len(partial) == 1 and partial[0].stat().st_size > 0   # the torn temporary the kill left
    state = load_checkpoint(path)
    assert state["step"] == 1 and torch.equal(state["w"], torch.arange(5.0))


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


def test_disk_space_guard(tmp_path, monkeypatch, capsys):
    from weakgan import run
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(run.shutil, "disk_usage", lambda path: SimpleNamespace(total=2**30, used=2**30 - 2**20,
                                                                                free=2**20))
    out = tmp_path / "run"
    assert main(["train", "--data-dir", str(tmp_path / "no-data"), "--out", str(out)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert f"{out}: only 1 MB free" in line and f"{run.MIN_FREE_BYTES // 2**20} MB" in line
    assert list(out.iterdir()) == []   # stopped before any data, split or checkpoint


def test_nan_loss_in_classifier_stops_and_keeps_checkpoint(tiny_fashion, tmp_path):
    out = tmp_path / "nan"
    p = run_cli(*_train_args(tiny_fashion, out, "--model", "clean-only", "--lr", "1e30", "--checkpoint-every", "1"),
                check=False)
    line = _one_line(p.stderr)
    assert p.returncode == 2 and "clean-only: loss is nan at step " in line
    failed_at = int(line.split("at step ")[1].split(";")[0])
    # a state is kept only once the step after it was finite: the state that led into the NaN (weights
    # blown up by lr 1e30) is not kept, since resuming from it would fail again
    ckpt = out / "checkpoints" / "last.pt"
    assert ("last good checkpoint kept" in line) == ckpt.exists()
    if ckpt.exists():
        state = load_checkpoint(ckpt)
        assert state["step"] < failed_at
        assert all(torch.isfinite(v).all() for v in state["model"].values() if v.dtype.is_floating_point)
    assert not (out / "metrics.json").exists()


@pytest.mark.skipif(torch.cuda.is_available() or torch.backends.mps.is_available(), reason="has a GPU")
def test_auto_device_is_cpu_and_threads_are_reported(tiny_fashion, tmp_path):
    assert pick_device("auto") == torch.device("cpu")
    out = tmp_path / "run"
    run_cli(*_train_args(tiny_fashion, out, "--model", "clean-only", "--epochs", "1", "--device", "auto"))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["threads"] == 1 and metrics["device"] == "cpu:1threads"   # TINY sets --threads 1


def test_two_workers_share_one_contrastive_pretraining(tiny_fashion, tmp_path):
    """Shards starting together: one trains the shared backbone, the other waits for it and reuses it."""
    args = [sys.executable, "-m", "weakgan.cli", "pretrain-contrastive", "--data-dir", str(tiny_fashion),
            "--cache-dir", str(tmp_path / "cache"), "--contrastive-epochs", "1", "--contrastive-batch-size", "50",
            "--backbone-width", "16", "--min-steps", "60", "--threads", "1", "--no-progress"]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    assert sum("contrastive pretraining ->" in out for out, _ in outs) == 1
    paths = {out.strip().splitlines()[-1] for out, _ in outs}
    assert len(paths) == 1 and paths.pop().endswith("backbone.safetensors")
    [summary] = [json.loads(p.read_text()) for p in (tmp_path / "cache").glob("contrastive-*/summary.json")]
    assert summary["precision"] in ("none", "bf16") and summary["precision_reason"]   # the speed choice is on record


def test_logs_read_in_batches_as_on_an_accelerator_give_the_same_run(tiny_fashion, tmp_path, monkeypatch, capsys):
    """On an accelerator fit() leaves the step losses on the device and reads them every few steps, with no
    check before each update (train.read_every, stop_if_not_finite). Forced here on the CPU, a run must log
    the same history and score the same, and a diverging run must stop at the same step, with the same
    message and checkpoint, as the per-step path does."""
    from weakgan import train

    def run(name, batched, *extra):
        monkeypatch.undo()
        if batched:
            monkeypatch.setattr(train, "read_every", lambda device: 3)
            monkeypatch.setattr(train, "stop_if_not_finite", lambda **losses: None)
        out = tmp_path / name
        rc = main(_train_args(tiny_fashion, out, *extra))
        return rc, capsys.readouterr().err.replace(str(out), "OUT"), out

    for batched in (False, True):
        rc, _, out = run(f"ok{int(batched)}", batched)
        assert rc == 0
    logs = [json.loads((tmp_path / f"ok{i}" / "train_log.json").read_text()) for i in (0, 1)]
    assert len(logs[0]) > 1 and logs[0] == logs[1]
    scores = [json.loads((tmp_path / f"ok{i}" / "metrics.json").read_text())["top1"] for i in (0, 1)]
    assert scores[0] == scores[1]

    stops = [run(f"nan{int(batched)}", batched, "--lr", "1e30", "--checkpoint-every", "5") for batched in (False, True)]
    lines = [_one_line(err) for _, err, _ in stops]
    assert [rc for rc, _, _ in stops] == [2, 2] and "loss is nan at step " in lines[0] and lines[0] == lines[1]
    kept = [out / "checkpoints" / "last.pt" for _, _, out in stops]
    assert kept[0].exists() == kept[1].exists()
    if kept[0].exists():
        assert load_checkpoint(kept[0])["step"] == load_checkpoint(kept[1])["step"]
