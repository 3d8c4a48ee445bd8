"""User datasets: rows of (image file, label, clean) -> the in-memory Dataset (data/dataset.py).

A CSV manifest (dataset `manifest:PATH`) has the header `path,label,clean`; paths are relative to the
CSV's own folder:
  label   class name; empty = unlabelled
  clean   1 = the label is trusted (the clean set D_c); 0 or empty = a given, possibly wrong label (D_n)
The test set is either a second CSV (`test_manifest`: `path,label`, every label trusted, paths relative
to that CSV) or `test_fraction` of the clean rows, held out per class with a fixed seed so that runs of
every seed are compared on the same images. Only clean rows ever become test labels.

The image-folder layout (data/folder.py) is turned into the same rows and built here too.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from weakgan import WeakganError
from weakgan.data.dataset import Dataset, ImageSet
from weakgan.imageio import decide_channels, decide_size, peek, read_images, resolve_inside

HOLDOUT_SEED = 0
TRUE_WORDS, FALSE_WORDS = {"1", "true", "yes"}, {"0", "false", "no", ""}


@dataclass
class Row:
    path: Path    # absolute path of the image file
    id: str       # path relative to the dataset folder: names the image in run outputs
    label: str    # class name; "" = unlabelled
    clean: bool   # the label is trusted
    where: str    # "file.csv:LINE" or the file's id: where error messages point


@dataclass(frozen=True)
class UserDataOptions:
    channels: int = 0           # 1 or 3; 0 = 1 if every image is stored grey, else 3
    image_size: int = 0         # resize to SxS; 0 = the images' own size (then all must share it)
    test_fraction: float = 0.0  # without a test set: share of the clean rows held out as test images
    test_manifest: str = ""     # manifest datasets: CSV of test images

    @classmethod
    def from_config(cls, cfg) -> "UserDataOptions":
        # getattr: configs written before these settings existed still load, with the defaults
        return cls(int(getattr(cfg, "channels", 0)), int(getattr(cfg, "image_size", 0)),
                   float(getattr(cfg, "test_fraction", 0.0)), str(getattr(cfg, "test_manifest", "")))


def read_csv(csv_path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) pairs of a CSV whose header must name the `required` columns."""
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = [name.strip() for name in reader.fieldnames or []]
            missing = [name for name in required if name not in header]
            if missing:
                raise WeakganError(f"{csv_path}: missing column(s) {', '.join(missing)}; "
                                   f"expected a header line {','.join(required)}")
            reader.fieldnames = header
            return [(reader.line_num, {k: (v or "").strip() for k, v in row.items() if k})
                    for row in reader if any((v or "").strip() for v in row.values() if isinstance(v, str))]
    except FileNotFoundError:
        raise WeakganError(f"{csv_path}: file not found") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise WeakganError(f"{csv_path}: not a readable CSV file ({e})") from None


def parse_clean(text: str, where: str) -> bool:
    word = text.lower()
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS
    raise WeakganError(f"{where}: clean '{text}': expected 1 or 0")


def read_manifest(csv_path: str | Path, test: bool = False) -> list[Row]:
    """Rows of a training manifest (path,label,clean) or of a test manifest (path,label; all trusted)."""
    csv_path = Path(csv_path)
    rows = []
    for line, values in read_csv(csv_path, ("path", "label") if test else ("path", "label", "clean")):
        where = f"{csv_path}:{line}"
        path, rel = resolve_inside(csv_path.parent, values["path"], where)
        label = values["label"]
        if test:
            if not label:
                raise WeakganError(f"{where}: test image without a label")
            if not parse_clean(values.get("clean", "1") or "1", where):
                raise WeakganError(f"{where}: test labels must be trusted (clean=1); drop this row")
            clean = True
        else:
            clean = parse_clean(values["clean"], where)
            if clean and not label:
                raise WeakganError(f"{where}: row marked clean has no label")
        rows.append(Row(path, rel, label, clean, where))
    return rows


def class_order(labels: set[str]) -> list[str]:
    """Sorted class names; numerically when every name is an integer (so '10' comes after '9')."""
    if labels and all(name.lstrip("-").isdigit() for name in labels):
        return sorted(labels, key=int)
    return sorted(labels)


def check_unique(rows: list[Row]) -> None:
    first_seen: dict[Path, Row] = {}
    for row in rows:
        if row.path in first_seen:
            raise WeakganError(f"{row.where}: duplicate path '{row.id}' (also at {first_seen[row.path].where})")
        first_seen[row.path] = row


def hold_out_clean(rows: list[Row], fraction: float) -> tuple[list[Row], list[Row]]:
    """(train, test): round(fraction * n_k) clean rows of every class k move to the test set, always
    leaving at least one clean row of the class for training. Seeded by HOLDOUT_SEED, not the run seed."""
    if not 0.0 < fraction < 1.0:
        raise WeakganError(f"test fraction {fraction}: expected a value in (0, 1)")
    rng = np.random.default_rng(HOLDOUT_SEED)
    held: set[int] = set()
    for name in class_order({r.label for r in rows if r.clean}):
        members = [i for i, r in enumerate(rows) if r.clean and r.label == name]
        n = min(int(round(fraction * len(members))), len(members) - 1)
        held.update(members[j] for j in rng.choice(len(members), size=n, replace=False))
    return [r for i, r in enumerate(rows) if i not in held], [r for i, r in enumerate(rows) if i in held]


def build_dataset(name: str, train_rows: list[Row], test_rows: list[Row], options: UserDataOptions) -> Dataset:
    """Validate the rows, pick the test set, and decode every image into uint8 tensors."""
    if not train_rows:
        raise WeakganError(f"{name}: no training images")
    check_unique(train_rows + test_rows)
    if not any(r.clean for r in train_rows):
        raise WeakganError(f"{name}: no clean rows; mark the training images whose labels you trust as clean")
    classes = class_order({r.label for r in train_rows if r.label})
    clean_classes = {r.label for r in train_rows if r.clean}
    for row in train_rows:
        if row.label and row.label not in clean_classes:
            raise WeakganError(f"{row.where}: class '{row.label}' has no clean example; "
                               f"mark at least one of its images as clean")
    for row in test_rows:
        if row.label not in classes:
            raise WeakganError(f"{row.where}: unknown class '{row.label}' (training classes: {', '.join(classes)})")
    # every file is opened (header only) before the test set is chosen, so file errors come first
    headers = {r.path: peek(r.path, r.where) for r in train_rows + test_rows}
    if test_rows and options.test_fraction:
        raise WeakganError(f"{name}: has a test set already; drop --test-fraction")
    if not test_rows:
        if not options.test_fraction:
            raise WeakganError(f"{name}: no test set; pass --test-fraction F to hold out a share of the clean "
                               f"rows" + ("" if name.startswith("folder:") else ", or --test-manifest CSV"))
        train_rows, test_rows = hold_out_clean(train_rows, options.test_fraction)
        if not test_rows:
            raise WeakganError(f"{name}: test fraction {options.test_fraction} holds out no image; "
                               f"every class needs more clean rows, or a larger fraction")

    every = train_rows + test_rows
    channels = decide_channels([headers[r.path] for r in every], options.channels)
    height, width = decide_size([headers[r.path] for r in every], [r.id for r in every], options.image_size)
    index = {c: k for k, c in enumerate(classes)}

    given = torch.tensor([index[r.label] if r.label else -1 for r in train_rows], dtype=torch.int64)
    clean = torch.tensor([r.clean for r in train_rows], dtype=torch.bool)
    all_clean = bool(clean.all())
    train = ImageSet(read_images([r.path for r in train_rows], [r.where for r in train_rows], channels, height, width),
                     # the true class is known only where the label is trusted
                     torch.where(clean, given, torch.full_like(given, -1)), classes, [r.id for r in train_rows])
    test = ImageSet(read_images([r.path for r in test_rows], [r.where for r in test_rows], channels, height, width),
                    torch.tensor([index[r.label] for r in test_rows], dtype=torch.int64), classes,
                    [r.id for r in test_rows])
    # A fully trusted training set says nothing about which rows are clean: then the run's clean
    # fraction picks D_c and its noise model labels the rest (synthetic noise needs every true label).
    given_clean = None if all_clean else torch.nonzero(clean).flatten()
    return Dataset(name, train, test, given_labels=given, given_clean=given_clean)


def load_manifest(csv_path: str, options: UserDataOptions = UserDataOptions()) -> Dataset:
    if not csv_path:
        raise WeakganError("dataset 'manifest:': expected manifest:PATH of a CSV file")
    train_rows = read_manifest(csv_path)
    test_rows = read_manifest(options.test_manifest, test=True) if options.test_manifest else []
    return build_dataset(f"manifest:{csv_path}", train_rows, test_rows, options)
