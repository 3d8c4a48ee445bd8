"""Classifier heads and the noise-regularization (NR) model of Hu et al., CVPR 2019."""
from __future__ import annotations

import torch
import torch.nn as nn

# how the clean and residual heads are trained, and so how their logits become probabilities: sigmoid + binary
# cross-entropy per class (Hu et al.), probabilities = sigmoid scores renormalized over the classes
HEAD_SCORE = "sigmoid"


class MLPHead(nn.Module):
    """Linear -> ReLU -> ... -> Linear. widths=(512, 256, 10) is Hu et al.'s Linear-act-Linear."""

    def __init__(self, widths: tuple[int, ...]):
        super().__init__()
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(widths) - 2:
                layers.append(nn.ReLU(inplace=True))
        self.net = nn.Sequential(*layers)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.net(f)


class Classifier(nn.Module):
    """Backbone + clean net. Used by clean-only and naive, and as the predictor of every NR variant."""

    def __init__(self, backbone: nn.Module, clean_head: nn.Module):
        super().__init__()
        self.backbone, self.clean_head = backbone, clean_head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.clean_head(self.backbone(x))


class NRModel(Classifier):
    """Clean net c and residual net r on shared features; g = sigmoid(c), h = sigmoid(c + r).

    forward(x) returns the clean logits c (predictions come from the clean net); forward(x,
    with_residual=True) returns (c, r). Images are the only input: no label can reach either branch.
    """

    def __init__(self, backbone: nn.Module, clean_head: nn.Module, residual_head: nn.Module):
        super().__init__(backbone, clean_head)
        self.residual_head = residual_head

    def forward(self, x: torch.Tensor, with_residual: bool = False, residual_rows: int | None = None):
        """residual_rows: r only for the first that many rows (the rest are views with no label to fit)."""
        f = self.backbone(x)
        c = self.clean_head(f)
        return (c, self.residual_head(f[:residual_rows])) if with_residual else c
