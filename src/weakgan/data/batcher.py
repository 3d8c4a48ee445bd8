"""The training images as one uint8 tensor on the device, turned into normalized, augmented float batches."""
from __future__ import annotations

import torch

from weakgan.augment import augment, strong_augment
from weakgan.config import Config


class Batcher:
    """The training images as one uint8 tensor on the device; turns index batches into normalized floats."""

    def __init__(self, images: torch.Tensor, mean: float, std: float, device: torch.device, cfg: Config,
                 seed: int):
        self.images = images.to(device)
        self.mean, self.std, self.cfg = mean, std, cfg
        self.gen = torch.Generator(device="cpu").manual_seed(seed)
        self.memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format

    def __call__(self, idx: torch.Tensor, train: bool = True) -> torch.Tensor:
        x = (self.images[idx.to(self.images.device)].float() / 255.0 - self.mean) / self.std
        if train:
            x = augment(x, self.gen, self.cfg.crop_pad, self.cfg.mirrored(), self.cfg.vflip)
        return x.contiguous(memory_format=self.memory_format)

    def strong(self, idx: torch.Tensor, n_ops: int) -> torch.Tensor:
        """A strongly augmented view (augment.strong_augment) on top of the usual one: for consistency training."""
        x = strong_augment(self(idx), self.gen, self.mean, self.std, n_ops)
        return x.contiguous(memory_format=self.memory_format)


def normalization(images: torch.Tensor) -> tuple[float, float]:
    x = images.float() / 255.0
    return float(x.mean()), float(x.std())
