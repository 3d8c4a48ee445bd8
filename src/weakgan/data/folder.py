"""The image-folder layout (dataset `folder:ROOT`), turned into manifest rows (data/manifest.py):

  ROOT/train/<class>/**/*.png|jpg   training images; the folder is the given, possibly wrong, label
  ROOT/test/<class>/**/*.png|jpg    test images, labels trusted (or leave it out and use test_fraction)
  ROOT/clean.csv                    column `path`: the training files whose labels are trusted,
                                    relative to ROOT (e.g. train/cat/001.png)

Image ids in run outputs are paths relative to ROOT. Unlabelled training images need a manifest.
"""
from __future__ import annotations

from pathlib import Path

from weakgan import WeakganError
from weakgan.data.dataset import Dataset
from weakgan.data.manifest import Row, UserDataOptions, build_dataset, read_csv
from weakgan.imageio import is_image_file, resolve_inside

CLEAN_LIST = "clean.csv"


def scan_split(root: Path, split: str) -> list[tuple[Path, str, str]]:
    """(file, id, class) of every image under ROOT/split/<class>/, in sorted order."""
    found = []
    for class_dir in sorted((root / split).iterdir()):
        if class_dir.name.startswith("."):
            continue
        if class_dir.is_file():
            if is_image_file(class_dir):
                raise WeakganError(f"{class_dir}: images must be inside a class folder ({split}/<class>/)")
            continue
        for path in sorted(class_dir.rglob("*")):
            if path.is_file() and is_image_file(path) and \
                    not any(part.startswith(".") for part in path.relative_to(class_dir).parts):
                found.append((path, path.relative_to(root).as_posix(), class_dir.name))
    return found


def read_clean_list(root: Path, train_ids: set[str]) -> set[str]:
    """Ids of the training images that ROOT/clean.csv marks as trusted."""
    csv_path = root / CLEAN_LIST
    if not csv_path.is_file():
        raise WeakganError(f"{csv_path}: missing; list the training files whose labels you trust "
                           f"in a column 'path' (relative to {root})")
    clean: dict[str, str] = {}
    for line, values in read_csv(csv_path, ("path",)):
        where = f"{csv_path}:{line}"
        path, rel = resolve_inside(root, values["path"], where)
        if rel in clean:
            raise WeakganError(f"{where}: duplicate path '{rel}' (also at {clean[rel]})")
        if rel not in train_ids:
            if not path.exists():
                raise WeakganError(f"{where}: missing file {path}")
            raise WeakganError(f"{where}: '{rel}' is not an image under {root}/train/<class>/")
        clean[rel] = where
    return set(clean)


def load_folder(root_text: str, options: UserDataOptions = UserDataOptions()) -> Dataset:
    if not root_text:
        raise WeakganError("dataset 'folder:': expected folder:PATH of a dataset folder")
    root = Path(root_text)
    if not (root / "train").is_dir():
        raise WeakganError(f"{root}: no train/ folder; expected {root}/train/<class>/*.png|jpg")
    if options.test_manifest:
        raise WeakganError("--test-manifest applies to manifest: datasets; a folder dataset keeps its "
                           f"test images in {root}/test/<class>/")
    train = scan_split(root, "train")
    clean = read_clean_list(root, {rel for _, rel, _ in train})
    train_rows = [Row(path, rel, label, rel in clean, rel) for path, rel, label in train]
    test_rows = [Row(path, rel, label, True, rel) for path, rel, label in scan_split(root, "test")] \
        if (root / "test").is_dir() else []
    return build_dataset(f"folder:{root_text}", train_rows, test_rows, options)
