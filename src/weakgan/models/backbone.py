"""Backbones (images -> feature vectors): a small VGG-style CNN made for 28-64 px images, and ResNet18.

`backbone: auto` (the default) takes `smallcnn` for images of at most 64 px a side and ResNet18 above;
accuracy and speed of both, measured the same way, are in benchmarks/results/backbones.md.

ResNet18 for small images: the ImageNet stem (7x7/2 conv + max-pool) is the fastest, the `cifar` stem
(3x3/2 conv, no max-pool, layer1 at 14x14 for 28x28 inputs) keeps finer maps for small images and is more
accurate at well under half the speed; both measured in benchmarks/results/stem_speed.md. The ImageNet stem stays the
default for ResNet18 (large user images); the ablation preset and the Table 1 benchmark use `stem: cifar`.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torchvision

from weakgan import WeakganError
from weakgan.checkpoint import load_weights

FEATURE_DIM = 512            # ResNet18's feature size
BACKBONES = ("auto", "smallcnn", "resnet18")
SMALL_MAX_SIDE = 64          # auto: smallcnn up to this image side; it keeps full resolution in its first stage,
                             # so its cost grows with the pixel count, while ResNet18 divides the side by 4 first


class ConvGroup(nn.Sequential):
    """conv 3x3 -> max-pool 2 -> BN -> GELU -> conv 3x3 -> BN -> GELU. Pooling right after the first conv
    (as in airbench's blocks) runs the second conv, and every later layer, at a quarter of the pixels."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.MaxPool2d(2),
                         nn.BatchNorm2d(c_out), nn.GELU(),
                         nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.GELU())


class SmallCNN(nn.Module):
    """A 7-conv VGG-style network for 28-64 px images: a 3x3 stem of width/2 channels, three ConvGroups of
    width, 2 width, 4 width channels (28 -> 14 -> 7 -> 3 pixels for FashionMNIST), global max-pooling.
    (N, C, H, W) -> (N, 4 width). The cost grows with width squared."""

    def __init__(self, in_channels: int = 1, width: int = 64):
        super().__init__()
        stem_width, widths = width // 2, (width, 2 * width, 4 * width)
        self.conv1 = nn.Conv2d(in_channels, stem_width, 3, padding=1, bias=False)   # named as ResNet's first conv
        self.stem = nn.Sequential(nn.BatchNorm2d(stem_width), nn.GELU())
        chans = (stem_width, *widths)
        self.stages = nn.Sequential(*(ConvGroup(a, b) for a, b in zip(chans[:-1], chans[1:])))
        self.out_dim = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(self.conv1(x))).amax((2, 3))


def resolve_backbone(name: str, image_shape: tuple[int, ...]) -> str:
    """The backbone a run uses: `auto` -> smallcnn for images of at most SMALL_MAX_SIDE px a side, else resnet18."""
    if name not in BACKBONES:
        raise WeakganError(f"backbone '{name}': expected one of {', '.join(BACKBONES)}")
    if name != "auto":
        return name
    return "smallcnn" if max(image_shape[-2:]) <= SMALL_MAX_SIDE else "resnet18"


def make_backbone(name: str, in_channels: int, stem: str = "imagenet", width: int = 64) -> nn.Module:
    """A backbone by its resolved name (stem: ResNet18's, width: smallcnn's); it has `out_dim`, the size of its
    feature vectors."""
    if name == "smallcnn":
        if width < 2:
            raise WeakganError(f"backbone_width {width}: expected an integer >= 2")
        return SmallCNN(in_channels, width)
    if name == "resnet18":
        return resnet18_backbone(in_channels, stem)
    raise WeakganError(f"backbone '{name}': expected smallcnn or resnet18")


def run_backbone(cfg, image_shape: tuple[int, ...], weights: str | Path | None = None) -> nn.Module:
    """The backbone a run's settings ask for (backbone resolved by image size, stem, backbone_width), loaded from
    `weights` when given: the classifiers' and the wsgan D's backbone branch alike."""
    net = make_backbone(resolve_backbone(cfg.backbone, image_shape), image_shape[0], cfg.stem, cfg.backbone_width)
    if weights:
        load_backbone_weights(net, weights)
    return net


def backbone_of(state: dict[str, torch.Tensor], prefix: str = "backbone.") -> tuple[str, int]:
    """(name, width) of the backbone a saved state dict holds (runs from before the backbone setting are
    ResNet18s; width is smallcnn's, 64 for ResNet18)."""
    key = f"{prefix}stages.0.0.weight"
    return ("smallcnn", int(state[key].shape[0])) if key in state else ("resnet18", 64)


def resnet18_backbone(in_channels: int = 1, stem: str = "imagenet") -> nn.Module:
    """torchvision ResNet18 without its classifier: (N, C, H, W) -> (N, 512)."""
    net = torchvision.models.resnet18(weights=None)
    if stem == "imagenet":
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    elif stem == "cifar":
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=2, padding=1, bias=False)
        net.maxpool = nn.Identity()
    else:
        raise WeakganError(f"stem '{stem}': expected imagenet or cifar")
    net.fc = nn.Identity()
    net.out_dim = FEATURE_DIM
    return net


def load_backbone_weights(backbone: nn.Module, path: str | Path) -> None:
    """Load a local weights file (safetensors or a plain state dict) into the backbone.

    Keys may carry a 'backbone.' prefix (then only those are read, so a weakgan run's model.safetensors
    works); an ImageNet checkpoint's 3-channel conv1 is summed over its input channels when the backbone
    reads 1 channel, and its fc is ignored.
    """
    state = load_weights(path)
    if any(k.startswith("backbone.") for k in state):   # a whole weakgan classifier: keep its backbone only
        state = {k: v for k, v in state.items() if k.startswith("backbone.")}
    state = {k.removeprefix("backbone."): v for k, v in state.items() if not k.startswith("fc.")}
    conv1 = backbone.conv1.weight
    if "conv1.weight" in state and state["conv1.weight"].shape != conv1.shape:
        w = state["conv1.weight"]
        if w.shape[2:] != conv1.shape[2:]:
            raise WeakganError(f"{path}: conv1 is {tuple(w.shape)}, the backbone's is {tuple(conv1.shape)}")
        state["conv1.weight"] = w.sum(1, keepdim=True).repeat(1, conv1.shape[1], 1, 1) / conv1.shape[1]
    missing, unexpected = backbone.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise WeakganError(f"{path}: does not fit the {type(backbone).__name__} backbone (missing {missing[:3]}, "
                           f"unexpected {unexpected[:3]})")


def load_head_weights(head: nn.Module, path: str | Path, prefix: str = "clean_head.") -> None:
    """Load the `prefix` part of a finished weakgan classifier's weights into `head` (same widths)."""
    state = {k.removeprefix(prefix): v for k, v in load_weights(path).items() if k.startswith(prefix)}
    try:
        head.load_state_dict(state)
    except RuntimeError as e:
        raise WeakganError(f"{path}: its {prefix.rstrip('.')} does not fit this run's head ({str(e)[:160]}); "
                           "train with the same head_hidden") from None
