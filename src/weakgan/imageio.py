"""User images with Pillow: safe paths, cheap header peeks, and decoding to one channel count and size.

Every image of a dataset ends in one preallocated uint8 tensor (N, C, H, W); files are opened twice
(header first, pixels later) so that defaults such as the channel count can be decided before any
pixel is decoded and no second copy of the dataset is ever held in memory.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from weakgan import WeakganError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# Modes Pillow uses for images stored with one colour band (alpha aside).
GREY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"}
SIXTEEN_BIT_MODES = {"I", "I;16", "I;16L", "I;16B", "I;16N"}
EXIF_ORIENTATION = 0x0112
ROTATED_ORIENTATIONS = {5, 6, 7, 8}  # EXIF orientations that swap width and height


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def resolve_inside(root: str | Path, path_text: str, where: str) -> tuple[Path, str]:
    """(absolute path, normalized relative path) of a file that must lie inside `root`.

    The check is on the path as written (../ and absolute paths), not on where symlinks point, so a
    dataset folder may hold links to images stored elsewhere.
    """
    text = path_text.strip()
    if not text:
        raise WeakganError(f"{where}: empty path")
    root_abs = os.path.abspath(root)
    full = os.path.normpath(os.path.join(root_abs, text))  # an absolute `text` replaces root_abs here
    if full == root_abs or os.path.commonpath([root_abs, full]) != root_abs:
        raise WeakganError(f"{where}: path '{text}' is outside the dataset folder {root_abs}")
    return Path(full), os.path.relpath(full, root_abs).replace(os.sep, "/")


@dataclass(frozen=True)
class ImageHeader:
    width: int
    height: int
    grey: bool


def _open(path: Path, shown_as: str) -> Image.Image:
    try:
        return Image.open(path)
    except FileNotFoundError:
        raise WeakganError(f"{shown_as}: missing file {path}") from None
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
        raise WeakganError(f"{shown_as}: unreadable image {path} ({type(e).__name__})") from None


def peek(path: Path, shown_as: str) -> ImageHeader:
    """Size (after EXIF rotation) and greyness from the file header, without decoding the pixels."""
    with _open(path, shown_as) as img:
        width, height = img.size
        try:
            if img.getexif().get(EXIF_ORIENTATION, 1) in ROTATED_ORIENTATIONS:
                width, height = height, width
        except Exception:  # noqa: BLE001 - a broken EXIF block only loses the rotation
            pass
        return ImageHeader(width, height, img.mode in GREY_MODES)


def _to_channels(img: Image.Image, channels: int) -> Image.Image:
    if img.mode in SIXTEEN_BIT_MODES:
        # convert("L") would clip 16-bit values at 255; scale them to 8 bits instead
        wide = np.asarray(img, dtype=np.int64)
        img = Image.fromarray(np.clip(wide // 257, 0, 255).astype(np.uint8))
    # dropping an alpha band keeps the colour values under it (no compositing onto a background)
    return img.convert("L" if channels == 1 else "RGB")


def decode(path: Path, channels: int, height: int, width: int, shown_as: str) -> np.ndarray:
    """uint8 (channels, height, width): EXIF-rotated, converted, resized (bilinear, antialiased)."""
    with _open(path, shown_as) as img:
        try:
            img = ImageOps.exif_transpose(img)
            img = _to_channels(img, channels)
            if img.size != (width, height):
                img = img.resize((width, height), Image.Resampling.BILINEAR)
            pixels = np.array(img, dtype=np.uint8)  # a writable copy, as torch.from_numpy wants
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            raise WeakganError(f"{shown_as}: unreadable image {path} ({type(e).__name__}: {e})") from None
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


def decide_channels(headers: list[ImageHeader], channels: int) -> int:
    """The declared channel count, or 1 if every image is stored grey, else 3."""
    if channels not in (0, 1, 3):
        raise WeakganError(f"channels {channels}: expected 1 (grey), 3 (RGB) or 0 (automatic)")
    if channels:
        return channels
    return 1 if all(h.grey for h in headers) else 3


def decide_size(headers: list[ImageHeader], names: list[str], image_size: int) -> tuple[int, int]:
    """(height, width): image_size x image_size if declared, else the one size all images share."""
    if image_size < 0:
        raise WeakganError(f"image size {image_size}: expected a positive number of pixels (0 = automatic)")
    if image_size:
        return image_size, image_size
    sizes = {}
    for h, name in zip(headers, names):
        sizes.setdefault((h.height, h.width), name)
        if len(sizes) > 1:
            (a, first), (b, second) = list(sizes.items())[:2]
            raise WeakganError(f"images differ in size ({first} is {a[1]}x{a[0]}, {second} is {b[1]}x{b[0]}); "
                               f"pass --image-size S to resize every image to SxS")
    return next(iter(sizes))


def read_images(paths: list[Path], names: list[str], channels: int, height: int, width: int) -> torch.Tensor:
    """All images into one uint8 tensor (N, channels, height, width)."""
    out = torch.empty((len(paths), channels, height, width), dtype=torch.uint8)
    for i, (path, name) in enumerate(zip(paths, names)):
        out[i] = torch.from_numpy(decode(path, channels, height, width, name))
    return out
