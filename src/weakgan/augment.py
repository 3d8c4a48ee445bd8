"""Augmentation of whole batches as tensor ops (no per-sample PIL transforms).

Every random choice comes from an explicit torch.Generator so a run is reproducible and resumable.
"""
from __future__ import annotations

import math

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


def uniform(n: int, lo, hi, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """n draws from U(lo, hi) (scalars or n-vectors) from `gen`, moved to `device`."""
    return lo + (hi - lo) * torch.rand(n, generator=gen, device=gen.device).to(device)


def random_erase(x: torch.Tensor, gen: torch.Generator, p: float = 0.5, scale=(0.02, 0.4),
                 ratio=(0.3, 3.3)) -> torch.Tensor:
    """Random erasing (Zhong et al., AAAI 2020): with probability p per image, one box (area share in
    `scale`, aspect h/w in `ratio`) is set to 0, the dataset mean once the batch is normalized."""
    if p <= 0:
        return x
    n, _, h, w = x.shape

    def u(lo, hi):
        return uniform(n, lo, hi, gen, x.device)

    area = u(*scale) * h * w
    aspect = torch.exp(u(math.log(ratio[0]), math.log(ratio[1])))
    bh = torch.sqrt(area * aspect).round().clamp(1, h)
    bw = torch.sqrt(area / aspect).round().clamp(1, w)
    top = (u(0, 1) * (h - bh + 1)).floor()
    left = (u(0, 1) * (w - bw + 1)).floor()
    rows = torch.arange(h, device=x.device)[None, :]
    cols = torch.arange(w, device=x.device)[None, :]
    in_rows = (rows >= top[:, None]) & (rows < (top + bh)[:, None])   # (n, h)
    in_cols = (cols >= left[:, None]) & (cols < (left + bw)[:, None])  # (n, w)
    box = in_rows[:, :, None] & in_cols[:, None, :] & (u(0, 1) < p)[:, None, None]
    return x.masked_fill(box[:, None], 0.0)


def random_resized_crop(x: torch.Tensor, gen: torch.Generator, scale=(0.3, 1.0), ratio=(0.75, 1.333),
                        hflip: bool = True) -> torch.Tensor:
    """Crop a random box (area share in `scale`, aspect in `ratio`) and resize it back to HxW.

    One affine_grid + grid_sample call for the whole batch; a horizontal flip is a negative x-scale.
    """
    n = x.shape[0]

    def u(lo, hi):
        return uniform(n, lo, hi, gen, x.device)

    area = u(*scale)
    log_r = u(torch.log(torch.tensor(ratio[0])).item(), torch.log(torch.tensor(ratio[1])).item())
    aspect = torch.exp(log_r)
    sx = torch.sqrt(area * aspect).clamp(max=1.0)   # box width / image width
    sy = torch.sqrt(area / aspect).clamp(max=1.0)
    tx = (2 * u(0, 1) - 1) * (1 - sx)                # box centre, in [-1, 1] coordinates
    ty = (2 * u(0, 1) - 1) * (1 - sy)
    if hflip:
        sx = torch.where(u(0, 1) < 0.5, -sx, sx)
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sx, tx, sy, ty
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def color_jitter(x: torch.Tensor, gen: torch.Generator, strength: float = 0.4) -> torch.Tensor:
    """Random per-image contrast and brightness change (grey or colour, on normalized pixels)."""
    n = x.shape[0]
    r = torch.rand(n, 2, generator=gen, device=gen.device).to(x.device) * 2 - 1
    contrast = (1 + strength * r[:, 0]).view(n, 1, 1, 1)
    brightness = (strength * r[:, 1]).view(n, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * contrast + mean + brightness


def contrastive_view(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A SimCLR view: random resized crop with flip, then contrast/brightness jitter."""
    return color_jitter(random_resized_crop(x, gen), gen)


# the operations of strong_augment, after RandAugment (Cubuk et al., 2020) as FixMatch uses it, minus those
# that need a PIL image (equalize, sharpness)
STRONG_OPS = ("identity", "rotate", "shear_x", "shear_y", "translate_x", "translate_y", "contrast", "brightness",
              "solarize", "posterize", "autocontrast")


def strong_augment(x: torch.Tensor, gen: torch.Generator, mean: float, std: float, n_ops: int = 2) -> torch.Tensor:
    """A strongly augmented view of a normalized batch (N, C, H, W), for consistency training: each image gets
    n_ops operations drawn from STRONG_OPS with one random magnitude (geometry in one affine_grid call, colour
    on [0, 1] pixels), then a cutout box (random erasing, always)."""
    n, dev = x.shape[0], x.device
    ops = torch.randint(0, len(STRONG_OPS), (n, n_ops), generator=gen, device=gen.device).to(dev)

    def has(name: str) -> torch.Tensor:
        return (ops == STRONG_OPS.index(name)).any(1).to(x.dtype)

    mag = uniform(n, 0.1, 1.0, gen, dev).to(x.dtype)
    sign = torch.where(uniform(n, 0, 1, gen, dev) < 0.5, -1.0, 1.0).to(x.dtype)
    angle = has("rotate") * sign * mag * math.radians(30)
    shear_x, shear_y = has("shear_x") * sign * mag * 0.3, has("shear_y") * sign * mag * 0.3
    theta = torch.zeros(n, 2, 3, device=dev, dtype=x.dtype)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta[:, 0, 0], theta[:, 0, 1] = cos - sin * shear_y, cos * shear_x - sin
    theta[:, 1, 0], theta[:, 1, 1] = sin + cos * shear_y, sin * shear_x + cos
    theta[:, 0, 2] = has("translate_x") * sign * mag * 0.6   # up to 30% of the width ([-1, 1] coordinates)
    theta[:, 1, 2] = has("translate_y") * sign * mag * 0.6
    pixels = x * std + mean
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    pixels = F.grid_sample(pixels, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def where(name: str, changed: torch.Tensor) -> torch.Tensor:
        return torch.where(has(name).bool()[:, None, None, None], changed, pixels)

    m, s, ones = mag[:, None, None, None], sign[:, None, None, None], (1, 2, 3)
    average = pixels.mean(dim=ones, keepdim=True)
    pixels = where("contrast", (pixels - average) * (1 + s * m * 0.9) + average)
    pixels = where("brightness", pixels * (1 + s * m * 0.9))
    pixels = where("solarize", torch.where(pixels > 1 - m, 1 - pixels, pixels))
    levels = 2.0 ** (8 - torch.round(m * 4))
    pixels = where("posterize", torch.floor(pixels.clamp(0, 1) * levels) / levels)
    lo, hi = pixels.amin(dim=ones, keepdim=True), pixels.amax(dim=ones, keepdim=True)
    pixels = where("autocontrast", (pixels - lo) / (hi - lo).clamp_min(1e-3))
    return random_erase((pixels.clamp(0, 1) - mean) / std, gen, p=1.0, scale=(0.02, 0.25))
