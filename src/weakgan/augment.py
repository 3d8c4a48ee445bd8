"""Augmentation of whole batches as tensor ops (no per-sample PIL transforms).

Every random choice comes from an explicit torch.Generator so a run is reproducible and resumable.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop(x: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    """Pad by `pad` (zeros) and cut a random HxW window per image: a random translation of up to pad px."""
    if pad <= 0:
        return x
    n, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen, device=gen.device).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen, device=gen.device).to(x.device)
    rows = (torch.arange(h, device=x.device)[None, :] + dy[:, None])[:, :, None]   # (n, h, 1)
    cols = (torch.arange(w, device=x.device)[None, :] + dx[:, None])[:, None, :]   # (n, 1, w)
    batch = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()


def random_flip(x: torch.Tensor, dim: int, gen: torch.Generator, p: float = 0.5) -> torch.Tensor:
    mask = torch.rand(x.shape[0], generator=gen, device=gen.device).to(x.device) < p
    return torch.where(mask[:, None, None, None], x.flip(dim), x)


def augment(x: torch.Tensor, gen: torch.Generator, crop_pad: int = 2, hflip: bool = True,
            vflip: bool = False) -> torch.Tensor:
    """The classifier augmentation: random translation and flips, on a float batch (N, C, H, W)."""
    x = random_crop(x, crop_pad, gen)
    if hflip:
        x = random_flip(x, 3, gen)
    if vflip:
        x = random_flip(x, 2, gen)
    return x
