"""Augmentation for GAN training, as whole-batch tensor ops (paper §4.1).

  augment_view   one augmented view per image: random resized crop (crop + resize), contrast/brightness
                 jitter, horizontal and (optionally) vertical flips. Differentiable in the images, so the
                 same view can be applied to generated images and the generator still gets gradients.
  augment_group  the paper's batches, where an image travels with its augmented views: [x, view_1(x), ...,
                 view_V(x)] stacked along the batch, originals first (group_index() says which rows belong
                 to which image).
  translate      DiffAugment-style random translation (Zhao et al. 2020) for the stage-1 WGAN-GP, applied
                 to real and generated images alike so the critic cannot tell them apart by augmentation
                 and the generator does not learn to draw shifted images.

`fill` is the pixel value that enters at the borders: the background (pixel 0) in the space the images are
in, e.g. -1 in GAN space or -mean/std in the classifier's normalization.
Every random choice comes from the torch.Generator passed in (reproducible, resumable).
"""
from __future__ import annotations

import torch

from weakgan.augment import color_jitter, random_crop, random_flip, random_resized_crop


def augment_view(x: torch.Tensor, gen: torch.Generator, fill: float = 0.0, scale: tuple = (0.6, 1.0),
                 jitter: float = 0.3, hflip: bool = True, vflip: bool = False) -> torch.Tensor:
    """One random view of every image in a float batch (N, C, H, W)."""
    v = random_resized_crop(x - fill, gen, scale=scale, hflip=hflip) + fill
    if jitter > 0:
        v = color_jitter(v, gen, jitter)
    if vflip:
        v = random_flip(v, 2, gen)
    return v


def augment_group(x: torch.Tensor, gen: torch.Generator, views: int = 1, **view_args) -> torch.Tensor:
    """(N, ...) -> ((1 + views) * N, ...): the originals, then `views` augmented copies of the whole batch."""
    return torch.cat([x] + [augment_view(x, gen, **view_args) for _ in range(views)])


def group_index(n: int, views: int, device=None) -> torch.Tensor:
    """Row r of augment_group's output shows image group_index(n, views)[r] of the input."""
    return torch.arange(n, device=device).repeat(1 + views)


def translate(x: torch.Tensor, gen: torch.Generator, max_shift: int = 2, fill: float = -1.0) -> torch.Tensor:
    """Shift every image by its own random offset of up to max_shift pixels in x and y; `fill` enters."""
    return random_crop(x - fill, max_shift, gen) + fill
