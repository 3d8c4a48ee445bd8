"""Bad input, as a careless user types it: each case must end with one `weakgan: error:` line naming the value,
exit status 2, and no run folder made. A new case is one line in CASES."""
import pytest
from conftest import run_cli

CASES = [  # (arguments after `weakgan`, text the error line must hold)
    (["train", "--batch-size", "0"], "batch_size 0 is out of range"),
    (["train", "--batch-size", "-5"], "batch_size -5 is out of range"),
    (["train", "--checkpoint-every", "0"], "checkpoint_every 0 is out of range"),
    (["train", "--epochs", "0"], "epochs 0.0 is out of range"),
    (["train", "--epochs", "-1"], "epochs -1.0 is out of range"),
    (["train", "--epochs", "nan"], "epochs nan is out of range"),
    (["train", "--head-hidden", "0"], "head_hidden 0 is out of range"),
    (["train", "--ema", "1.5"], "ema 1.5 is out of range"),
    (["train", "--threads", "-1"], "threads -1 is out of range"),
    (["train", "--clean-fraction", "1.5"], "clean_fraction 1.5 is out of range"),
    (["train", "--lr", "-1"], "lr -1.0 is out of range"),
    (["train", "--amp", "fast"], "amp 'fast': expected one of auto, none, bf16, fp16"),
    (["train", "--backbone", "vgg"], "backbone 'vgg': expected one of auto, smallcnn, resnet18"),
    (["train", "--model", "unknown"], "model 'unknown': expected one of clean-only, naive, nr, nr-match, nr-fixmatch, fixmatch, wsgan,"),
    (["sweep", "--models", "clean-only,bogus"], "model 'bogus': expected one of"),
    (["reproduce", "--preset", "quick", "--epochs", "-2"], "epochs -2.0 is out of range"),
]


@pytest.mark.parametrize("args,message", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_value_is_refused_before_any_work(tmp_path, args, message):
    out = tmp_path / "out"
    # no data anywhere: should a check go missing, the command fails fast on the data, not after training
    p = run_cli(*args, "--data-dir", str(tmp_path / "no-data"), "--out", str(out), check=False)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1 and lines[0].startswith("weakgan: error: "), p.stderr
    assert message in lines[0]
    assert not out.exists()   # refused before any folder was made (or any data read: there is none here)


@pytest.mark.parametrize("command", ["train", "sweep"])
def test_empty_out_is_refused(tmp_path, command):
    p = run_cli(command, "--out", "", check=False)
    assert p.returncode == 2 and "--out '': expected a folder name" in p.stderr


@pytest.mark.parametrize("args,message", [
    (["--model", "fixmatch", "--clean-fraction", "1.0", "--noise", "none"], "needs images without a clean label"),
    (["--model", "nr", "--teacher-weight", "0", "--noise", "none"], "needs noisy labels or a teacher"),
], ids=["fixmatch-all-clean", "nr-nothing-noisy"])
def test_a_model_the_split_cannot_train_leaves_no_folder(tiny_fashion, tmp_path, args, message):
    """Found only once the data and the split are known: still one error line, and no split or config left in a
    folder that did not exist before; a folder that did exist keeps what it held."""
    out = tmp_path / "out"
    p = run_cli("train", *args, "--data-dir", str(tiny_fashion), "--threads", "1", "--no-progress", "--out",
                str(out), check=False)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1 and message in lines[0], p.stderr
    assert not out.exists()
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    p = run_cli("train", *args, "--data-dir", str(tiny_fashion), "--threads", "1", "--no-progress", "--out",
                str(out), check=False)
    assert p.returncode == 2 and sorted(f.name for f in out.iterdir()) == [".lock", "notes.txt"]
