"""User datasets (folder:ROOT, manifest:CSV), predict and export, on tiny PNG datasets written with Pillow.

The end-to-end tests run the real CLI in subprocesses with one thread (two threads on a shared 2-core
machine are many times slower than one for these tiny batches).
"""
import csv
import dataclasses
import json

import numpy as np
import pytest
import torch
from conftest import TINY, run_cli
from PIL import Image

from weakgan import WeakganError
from weakgan.cli import main
from weakgan.config import Config
from weakgan.data import load_dataset
from weakgan.data.manifest import UserDataOptions, load_manifest
from weakgan.noise import make_split

CLASSES = ["circle", "square", "stripe"]
FAST = [*TINY, "--threads", "1", "--checkpoint-every", "1000"]
# A generator (and WSGAN discriminator) small enough to train in seconds; not meant to make good images.
GAN_FLAGS = ["--gan-steps", "3", "--gan-batch-size", "16", "--gan-n-critic", "2", "--gan-g-width", "8",
             "--gan-critic-width", "8", "--gan-z-dim", "16", "--gan-d-width", "8", "--no-gan-d-backbone",
             "--gan-d-batch-size", "16"]
# Settings the main developer adds to Config for user datasets; tests that pass them on the command
# line wait for them.
USER_FIELDS = ("channels", "image_size", "test_fraction", "test_manifest")
HAS_USER_FIELDS = all(f in {x.name for x in dataclasses.fields(Config)} for f in USER_FIELDS)
needs_user_fields = pytest.mark.skipif(not HAS_USER_FIELDS, reason="Config lacks " + ", ".join(USER_FIELDS))


def picture(k: int, size: int, rgb: bool, rng: np.random.Generator) -> Image.Image:
    """Class 0 = centre block, 1 = top bar, 2 = right bar, on dark noise: learnable in a few steps."""
    a = rng.integers(0, 50, (size, size)).astype(np.uint8)
    s = size // 4
    if k == 0:
        a[s:3 * s, s:3 * s] = 220
    elif k == 1:
        a[:s, :] = 220
    else:
        a[:, -s:] = 220
    img = Image.fromarray(a)
    return img.convert("RGB") if rgb else img


def make_folder_dataset(root, n_train=10, n_test=3, n_clean=3, sizes=(16,), rgb=True, seed=0):
    """ROOT/train/<class>/, ROOT/test/<class>/, ROOT/clean.csv; every 2nd image RGB when rgb; images 0, 1
    of the first size, 2, 3 of the second, ...; the last training image of each class shows the next
    class (a wrong folder label)."""
    rng = np.random.default_rng(seed)
    clean = []
    for split, n in (("train", n_train), ("test", n_test)):
        for k, name in enumerate(CLASSES):
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                shown = (k + 1) % 3 if split == "train" and i == n - 1 else k
                size = sizes[i // 2 % len(sizes)]
                picture(shown, size, rgb and i % 2 == 0, rng).save(root / split / name / f"{i:02d}.png")
                if split == "train" and i < n_clean:
                    clean.append(f"train/{name}/{i:02d}.png")
    (root / "clean.csv").write_text("path\n" + "\n".join(clean) + "\n")
    return root


def make_manifest_dataset(root, n_per_class=10, seed=0):
    """images/ of two sizes (12 and 20 px), grey and RGB, JPEG and PNG; train.csv with clean, noisy and
    unlabelled rows (labels 'circle', 'square', 'stripe')."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    lines = ["path,label,clean"]
    for k, name in enumerate(CLASSES):
        for i in range(n_per_class):
            file = f"images/{name}_{i:02d}." + ("jpg" if i == 5 else "png")
            picture(k, 12 if i % 2 else 20, i % 3 == 0, rng).save(root / file)
            label, clean = (name, 1) if i < 4 else ("", 0) if i >= 8 else (name, 0)
            lines.append(f"{file},{label},{clean}")
    (root / "train.csv").write_text("\n".join(lines) + "\n")
    return root / "train.csv"


def train_main(dataset: str, tmp_path, *extra: str) -> int:
    """The CLI's main() in-process (bad inputs fail while loading, before any training)."""
    return main(["train", "--dataset", dataset, "--threads", "1", *extra, "--out", str(tmp_path / "out")])


# ---- loading ---------------------------------------------------------------------------------------

def test_folder_dataset_loads(tmp_path):
    root = make_folder_dataset(tmp_path / "shapes")
    d = load_dataset(f"folder:{root}")
    assert d.class_names == CLASSES
    assert d.train.images.shape == (30, 3, 16, 16) and d.train.images.dtype == torch.uint8  # grey+RGB -> 3
    assert d.test.images.shape == (9, 3, 16, 16) and d.test.targets.tolist() == [0] * 3 + [1] * 3 + [2] * 3
    assert d.train.ids[0] == "train/circle/00.png" and d.test.ids[0] == "test/circle/00.png"
    assert d.given_labels.tolist() == [0] * 10 + [1] * 10 + [2] * 10   # folder = given label
    assert d.given_clean.tolist() == [0, 1, 2, 10, 11, 12, 20, 21, 22]
    assert d.train.targets[:4].tolist() == [0, 0, 0, -1]               # true class known only if clean
    grey = load_dataset(f"folder:{make_folder_dataset(tmp_path / 'grey', rgb=False)}")
    assert grey.train.images.shape[1] == 1


def test_manifest_sizes_channels_and_holdout(tmp_path):
    csv_path = make_manifest_dataset(tmp_path / "m")
    with pytest.raises(WeakganError, match="differ in size.*--image-size"):
        load_manifest(str(csv_path), UserDataOptions(test_fraction=0.25))
    opts = UserDataOptions(channels=1, image_size=16, test_fraction=0.25)
    d = load_manifest(str(csv_path), opts)
    assert d.train.images.shape[1:] == (1, 16, 16) and d.test.images.shape[1:] == (1, 16, 16)
    # 4 clean rows per class, round(0.25 * 4) = 1 held out per class; only clean rows become test images
    assert len(d.test) == 3 and d.test.targets.tolist() == [0, 1, 2]
    assert all(i.split("_")[1][:2] in ("00", "01", "02", "03") for i in d.test.ids)
    assert len(d.train) == 27 and (d.given_labels == -1).sum() == 6
    assert set(d.train.ids).isdisjoint(d.test.ids)
    assert load_manifest(str(csv_path), opts).test.ids == d.test.ids   # the same held-out images every time
    assert d.train.images.float().std() > 10                             # real pixels, not zeros


def test_test_manifest_and_numeric_class_order(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(12):
        picture(i % 3, 8, False, rng).save(tmp_path / f"{i}.png")
    (tmp_path / "train.csv").write_text("path,label,clean\n" + "".join(f"{i}.png,{[2, 10, 9][i % 3]},1\n"
                                                                        for i in range(9)))
    (tmp_path / "test.csv").write_text("path,label\n9.png,2\n10.png,10\n11.png,9\n")
    d = load_manifest(str(tmp_path / "train.csv"), UserDataOptions(test_manifest=str(tmp_path / "test.csv")))
    assert d.class_names == ["2", "9", "10"] and d.test.targets.tolist() == [0, 2, 1]
    # every training label trusted: the run's clean fraction and noise model decide the split
    assert d.given_clean is None and (d.train.targets >= 0).all()
    split = make_split(d.train.targets.numpy(), 3, 0.34, "symmetric:0.5", 0, d.given_labels.numpy(), None)
    assert len(split.clean_idx) == 3 and len(split.noisy_idx) == 6


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path):
    Image.fromarray(np.full((8, 8), 40000, dtype=np.uint16)).save(tmp_path / "a.png")
    Image.fromarray(np.full((8, 8), 100, dtype=np.uint8)).save(tmp_path / "b.png")
    (tmp_path / "train.csv").write_text("path,label,clean\na.png,x,1\nb.png,y,1\n")
    (tmp_path / "test.csv").write_text("path,label\nb.png,y\n")
    with pytest.raises(WeakganError, match="duplicate path 'b.png'"):   # train and test share a file
        load_manifest(str(tmp_path / "train.csv"), UserDataOptions(test_manifest=str(tmp_path / "test.csv")))
    Image.fromarray(np.full((8, 8), 100, dtype=np.uint8)).save(tmp_path / "c.png")
    (tmp_path / "test.csv").write_text("path,label\nc.png,y\n")
    d = load_manifest(str(tmp_path / "train.csv"), UserDataOptions(test_manifest=str(tmp_path / "test.csv")))
    assert d.train.images[0].unique().tolist() == [40000 // 257]


# ---- bad input: one line, naming the row or file, exit status 2 ------------------------------------

def assert_one_line_error(code, capsys, *fragments):
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and err.startswith("weakgan: error:"), err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def test_unknown_test_class(tmp_path, capsys):
    root = make_folder_dataset(tmp_path / "d", n_train=4, n_test=1, n_clean=1)
    (root / "test" / "dog").mkdir()
    picture(0, 16, False, np.random.default_rng(0)).save(root / "test" / "dog" / "a.png")
    assert_one_line_error(train_main(f"folder:{root}", tmp_path), capsys, "test/dog/a.png", "unknown class 'dog'")


@needs_user_fields
def test_unknown_test_class_in_manifest(tmp_path, capsys):
    # the classes are the labels of the training manifest; a test label never seen in training is unknown
    csv_path = make_manifest_dataset(tmp_path / "m", n_per_class=4)
    picture(0, 12, False, np.random.default_rng(0)).save(tmp_path / "m" / "dog.png")
    test_csv = tmp_path / "m" / "test.csv"
    test_csv.write_text("path,label\nimages/circle_00.png,circle\ndog.png,dog\n")
    csv_path.write_text(csv_path.read_text().replace("images/circle_00.png,circle,1\n", ""))
    assert_one_line_error(train_main(f"manifest:{csv_path}", tmp_path, "--test-manifest", str(test_csv)), capsys,
                          "test.csv:3", "unknown class 'dog' (training classes: circle, square, stripe)")


def test_missing_file(tmp_path, capsys):
    root = make_folder_dataset(tmp_path / "d", n_train=4, n_test=1, n_clean=1)
    (root / "clean.csv").write_text("path\ntrain/circle/00.png\ntrain/circle/99.png\n")
    assert_one_line_error(train_main(f"folder:{root}", tmp_path), capsys, "clean.csv:3", "missing file")
    csv_path = make_manifest_dataset(tmp_path / "m", n_per_class=4)
    csv_path.write_text(csv_path.read_text() + "images/nope.png,circle,1\n")
    assert_one_line_error(train_main(f"manifest:{csv_path}", tmp_path), capsys, "train.csv:14", "missing file")


def test_unreadable_image(tmp_path, capsys):
    root = make_folder_dataset(tmp_path / "d", n_train=4, n_test=1, n_clean=1)
    (root / "train" / "square" / "03.png").write_bytes(b"not a png at all")
    assert_one_line_error(train_main(f"folder:{root}", tmp_path), capsys, "train/square/03.png", "unreadable image")


def test_duplicate_path(tmp_path, capsys):
    csv_path = make_manifest_dataset(tmp_path / "m", n_per_class=4)
    csv_path.write_text(csv_path.read_text() + "./images/circle_00.png,square,0\n")
    assert_one_line_error(train_main(f"manifest:{csv_path}", tmp_path), capsys,
                          "train.csv:14", "duplicate path 'images/circle_00.png'", "train.csv:2")


@pytest.mark.parametrize("escape", ["../outside.png", "/etc/hostname"])
def test_path_outside_dataset_root(tmp_path, capsys, escape):
    csv_path = make_manifest_dataset(tmp_path / "m", n_per_class=4)
    csv_path.write_text(csv_path.read_text() + f"{escape},circle,1\n")
    assert_one_line_error(train_main(f"manifest:{csv_path}", tmp_path), capsys,
                          "train.csv:14", f"path '{escape}' is outside the dataset folder")


def test_class_without_clean_example(tmp_path, capsys):
    root = make_folder_dataset(tmp_path / "d", n_train=4, n_test=1, n_clean=1)
    (root / "clean.csv").write_text("path\ntrain/circle/00.png\ntrain/square/00.png\n")
    assert_one_line_error(train_main(f"folder:{root}", tmp_path), capsys,
                          "train/stripe/00.png", "class 'stripe' has no clean example")


def test_no_clean_rows(tmp_path, capsys):
    csv_path = make_manifest_dataset(tmp_path / "m", n_per_class=4)
    csv_path.write_text(csv_path.read_text().replace(",1\n", ",0\n"))
    assert_one_line_error(train_main(f"manifest:{csv_path}", tmp_path), capsys, "no clean rows")


def test_other_bad_manifests(tmp_path, capsys):
    csv_path = make_manifest_dataset(tmp_path / "m", n_per_class=4)
    assert_one_line_error(train_main(f"manifest:{csv_path}", tmp_path), capsys, "no test set", "--test-fraction")
    text = csv_path.read_text()
    csv_path.write_text(text.replace("path,label,clean", "path,label"))
    assert_one_line_error(train_main(f"manifest:{csv_path}", tmp_path), capsys, "missing column(s) clean")
    csv_path.write_text(text.replace("images/circle_00.png,circle,1", "images/circle_00.png,circle,maybe"))
    assert_one_line_error(train_main(f"manifest:{csv_path}", tmp_path), capsys, "train.csv:2", "clean 'maybe'")
    assert_one_line_error(train_main(f"folder:{tmp_path / 'nothing'}", tmp_path), capsys, "no train/ folder")
    assert_one_line_error(train_main("imagenet", tmp_path), capsys, "folder:PATH or manifest:PATH")


# ---- end to end through the real CLI ---------------------------------------------------------------
# The folder chain is the module fixture plus the test_folder_* tests below (train -> evaluate -> predict ->
# label-issues -> generate -> export); the manifest chain is test_manifest_dataset_end_to_end.

@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    """One NR run on the folder dataset (16 and 20 px, grey and RGB -> 3x16x16), trained through the CLI,
    shared by the tests below. The dataset is in the run folder's sibling `shapes`."""
    tmp = tmp_path_factory.mktemp("folder_run")
    root = make_folder_dataset(tmp / "shapes", sizes=(16, 20))
    run = tmp / "run"
    # flips asked for: the export tests then cover predict's mirror averaging
    run_cli("train", "--dataset", f"folder:{root}", "--image-size", "16", "--model", "nr", "--noise", "given",
            "--hflip", "on", *FAST, "--out", str(run))
    return run


def assert_generated(folder, per_class: int, channels: int, size: int) -> None:
    """`weakgan generate --per-class` wrote FOLDER/<class>/*.png, per_class images of every class of the
    data, at the run's channel count and size, and FOLDER/manifest.csv (path,label) listing them."""
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == CLASSES
    with open(folder / "manifest.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["label"] for r in rows] == [c for c in CLASSES for _ in range(per_class)]
    assert sorted(r["path"] for r in rows) == sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))
    for r in rows:
        assert r["path"].startswith(r["label"] + "/")
        with Image.open(folder / r["path"]) as img:
            assert img.size == (size, size) and img.mode == ("L" if channels == 1 else "RGB"), r


def test_folder_train_and_evaluate(folder_run):
    assert json.loads((folder_run / "classes.json").read_text()) == CLASSES
    split = json.loads((folder_run / "split.json").read_text())
    assert (split["noise"], split["n_clean"], split["n_noisy_labelled"]) == ("given", 9, 21)
    metrics = json.loads((folder_run / "metrics.json").read_text())
    assert metrics["n_test"] == 9
    assert abs(json.loads(run_cli("evaluate", str(folder_run)).stdout)["top1"] - metrics["top1"]) < 1e-9


def test_folder_predict(folder_run, tmp_path):
    # new images of another size and channel count are converted to what the run saw
    new = tmp_path / "new"
    new.mkdir()
    rng = np.random.default_rng(5)
    for k in range(3):
        picture(k, 24, False, rng).save(new / f"{CLASSES[k]}.png")
    p = run_cli("predict", str(folder_run), str(new), "--top-k", "2", "--out", str(tmp_path / "p.csv"),
                "--figure", str(tmp_path / "p.png"))
    assert p.stdout.count("circle.png: ") == 1 and (tmp_path / "p.png").stat().st_size > 1000
    with open(tmp_path / "p.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and list(rows[0])[:5] == ["path", "top1", "top1_prob", "top2", "top2_prob"]
    assert all(abs(sum(float(r[f"prob:{c}"]) for c in CLASSES) - 1) < 1e-4 for r in rows)


def test_folder_label_issues(folder_run):
    run_cli("label-issues", str(folder_run), "--top", "5")
    lines = (folder_run / "label_issues.csv").read_text().splitlines()
    assert lines[0].startswith("# probabilities from the clean net") and "out of sample" in lines[0]
    header = lines[1].split(",")
    assert header[:6] == ["rank", "path_or_index", "given_label", "suggested_label", "confidence", "label_quality"]
    assert len(lines) == 2 + 5 and lines[2].split(",")[1].startswith("train/")
    probs = np.load(folder_run / "pred_probs.npy")
    assert probs.dtype == np.float32 and probs.shape == (30, 3) and np.allclose(probs.sum(1), 1, atol=1e-6)
    assert np.load(folder_run / "given_labels.npy").tolist() == [0] * 10 + [1] * 10 + [2] * 10
    summary = json.loads((folder_run / "label_issues.json").read_text())
    assert summary["n_noisy_labelled"] == 21 and "n_true_flips" not in summary   # user data: truth unknown


def test_folder_generate(folder_run, tmp_path, capsys):
    # a tiny WSGAN run on the same data: its folder holds the generator that `generate` samples
    gan_run = tmp_path / "wsgan"
    run_cli("train", "--dataset", f"folder:{folder_run.parent / 'shapes'}", "--image-size", "16", "--model", "wsgan",
            *FAST, "--epochs", "1", *GAN_FLAGS, "--cache-dir", str(tmp_path / "cache"), "--out", str(gan_run))
    assert json.loads((gan_run / "classes.json").read_text()) == CLASSES
    run_cli("generate", str(gan_run), "--per-class", "3", "--out", str(tmp_path / "gen"), "--device", "cpu")
    assert_generated(tmp_path / "gen", 3, channels=3, size=16)
    # its classifier is the WSGAN discriminator, which predict/label-issues/export do not read: say so
    assert_one_line_error(main(["predict", str(gan_run), str(tmp_path / "gen"), "--device", "cpu"]), capsys,
                          "a 'wsgan' run has no clean classifier")


def images_and_expected_probs(run, tmp_path):
    """Five new PNG images (uint8, as predict reads them) and the probabilities `weakgan predict` prints for
    them into its CSV: what an exported model must give for the same images."""
    from weakgan.imageio import read_images
    from weakgan.run_folder import load_trained_classifier
    shape = load_trained_classifier(run, "cpu").input_shape
    rng = np.random.default_rng(0)
    folder = tmp_path / "new"
    folder.mkdir()
    paths = []
    for i in range(5):
        pixels = rng.integers(0, 256, (shape[1], shape[2], shape[0]), dtype=np.uint8)
        paths.append(folder / f"{i}.png")
        Image.fromarray(pixels.squeeze(-1) if shape[0] == 1 else pixels).save(paths[-1])
    run_cli("predict", str(run), str(folder), "--out", str(tmp_path / "p.csv"), "--device", "cpu")
    with open(tmp_path / "p.csv") as f:
        rows = list(csv.DictReader(f))
    probs = np.array([[float(r[k]) for k in r if k.startswith("prob:")] for r in rows])
    return read_images(paths, [str(p) for p in paths], *shape), probs


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_folder_export_torchscript(folder_run, tmp_path):
    run_cli("export", str(folder_run), "--format", "torchscript")
    images, expected = images_and_expected_probs(folder_run, tmp_path)
    extra = {"weakgan.json": ""}
    scripted = torch.jit.load(str(folder_run / "model.torchscript.pt"), _extra_files=extra)
    with torch.no_grad():
        assert np.allclose(scripted(images.float() / 255).numpy(), expected, atol=2e-6)   # = predict's CSV
    assert json.loads(extra["weakgan.json"])["class_names"] == CLASSES


def test_folder_export_onnx(folder_run, tmp_path):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    path = tmp_path / "m.onnx"
    run_cli("export", str(folder_run), "--format", "onnx", "--out", str(path))
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    images, expected = images_and_expected_probs(folder_run, tmp_path)
    assert json.loads({p.key: p.value for p in model.metadata_props}["weakgan"])["input_shape"] == \
        list(images.shape[1:])
    # numeric equality needs onnxruntime (the `test` extra); without it the checker above is the test
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert np.allclose(session.run(None, {"images": (images.float() / 255).numpy()})[0], expected, atol=1e-5)


@needs_user_fields
@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_manifest_dataset_end_to_end(tmp_path):
    """train -> evaluate -> predict -> label-issues -> generate -> export on the manifest dataset (12 and 20 px,
    grey and RGB, PNG and JPEG), converted to grey 18x18 (not a multiple of 4: the generator crops)."""
    csv_path = make_manifest_dataset(tmp_path / "m")
    data_flags = ["--dataset", f"manifest:{csv_path}", "--image-size", "18", "--channels", "1",
                  "--test-fraction", "0.25"]
    run = tmp_path / "run"
    # no --noise: a dataset that supplies labels trains on them as given
    run_cli("train", *data_flags, "--model", "nr", *FAST, "--out", str(run))
    split = json.loads((run / "split.json").read_text())
    assert (split["noise"], split["n_train"], split["n_clean"]) == ("given", 27, 9)
    assert "hflip: 'off'" in (run / "config.yaml").read_text()   # a user's images are not flipped by default
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n_test"] == 3 and metrics["input_shape"] == [1, 18, 18]
    assert abs(json.loads(run_cli("evaluate", str(run)).stdout)["top1"] - metrics["top1"]) < 1e-9

    p = run_cli("predict", str(run), str(tmp_path / "m" / "images" / "square_05.jpg"), "--out", "")
    assert p.stdout.startswith(str(tmp_path / "m" / "images" / "square_05.jpg") + ": ")

    run_cli("label-issues", str(run))
    with open(run / "label_issues.csv") as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    assert len(rows) == 18 and [r["given_label"] == "" for r in rows] == [False] * 12 + [True] * 6

    # stage-1 generator alone (pretrain-gan), on the same data and clean rows; its cache folder is what
    # `generate` reads
    run_cli("pretrain-gan", *data_flags, *GAN_FLAGS, "--threads", "1", "--no-progress",
            "--cache-dir", str(tmp_path / "cache"))
    generator, = (tmp_path / "cache").glob("generator-*")
    run_cli("generate", str(generator), "--per-class", "2", "--out", str(tmp_path / "gen"), "--device", "cpu")
    assert_generated(tmp_path / "gen", 2, channels=1, size=18)

    run_cli("export", str(run), "--format", "torchscript")
    images, expected = images_and_expected_probs(run, tmp_path)
    extra = {"weakgan.json": ""}
    scripted = torch.jit.load(str(run / "model.torchscript.pt"), _extra_files=extra)
    assert json.loads(extra["weakgan.json"])["input_shape"] == [1, 18, 18]
    with torch.no_grad():
        assert np.allclose(scripted(images.float() / 255).numpy(), expected, atol=2e-6)   # = predict's CSV


def test_a_small_dataset_trains_the_minimum_steps_by_default(tmp_path):
    from weakgan.config import Config
    # 3 epochs at batch 256: 1,437 images give 17 steps, FashionMNIST's 60,000 give 703; the minimum lifts only the first
    assert (Config().steps(1437), Config().steps(60000), Config(min_steps=0).steps(1437)) == (500, 703, 17)
    root = make_folder_dataset(tmp_path / "d", n_train=10, n_test=2, n_clean=4)
    out = tmp_path / "run"
    # epochs, batch size and min_steps left at their defaults (a narrow network only, so it takes seconds)
    p = run_cli("train", "--dataset", f"folder:{root}", "--model", "clean-only", "--backbone-width", "8",
                "--threads", "1", "--no-progress", "--out", str(out))
    m = json.loads((out / "metrics.json").read_text())
    assert m["steps"] == 500 and "training the minimum of 500 instead (--min-steps)" in m["schedule"]
    assert "= 0 steps; training the minimum of 500" in p.stderr   # 3 epochs of 30 images at batch 256
