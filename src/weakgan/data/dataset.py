"""The in-memory dataset every stage works on: one uint8 tensor of images plus targets and class names."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class ImageSet:
    images: torch.Tensor          # uint8, (N, C, H, W)
    targets: torch.Tensor         # int64, (N,); -1 where the true class is unknown
    class_names: list[str]
    ids: list[str] = field(default_factory=list)  # file paths or "" (index is the id then)

    def __post_init__(self):
        assert self.images.dtype == torch.uint8 and self.images.ndim == 4, self.images.shape
        assert len(self.targets) == len(self.images)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def id_of(self, i: int) -> str:
        return self.ids[i] if self.ids else str(i)


@dataclass
class Dataset:
    name: str
    train: ImageSet
    test: ImageSet
    # labels given with the training images (user-supplied, possibly noisy; -1 = none). When present
    # they replace synthetic noise for the non-clean part of the training set.
    given_labels: torch.Tensor | None = None
    # indices of training images whose labels the user marks as trusted (clean).
    given_clean: torch.Tensor | None = None

    @property
    def class_names(self) -> list[str]:
        return self.train.class_names
