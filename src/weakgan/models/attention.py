"""The two attention modules of the WSGAN discriminator (Mao et al. 2021; paper Fig. 2).

Both are residual: out = x + gamma * attended(x), gamma a learned scalar that starts at `gamma_init`
(0 as in SAGAN / DANet, so a fresh module is the identity and the network learns how much to attend).

  PixelAttention    attention across channels: a C x C map A = softmax_j(<X_i, X_j> / sqrt(HW)) over
                    the flattened feature maps X (C, HW); out_i = sum_j A_ij X_j. No learned projections,
                    so permuting the input channels permutes the output channels the same way.
  SpatialAttention  self-attention across positions (SAGAN): queries, keys (C/8 channels) and values
                    (C channels) from 1x1 convolutions, an HW x HW map A = softmax_j(<q_i, k_j> / sqrt(d)),
                    out_i = sum_j A_ij v_j. The convolutions act per position, so permuting the spatial
                    positions of the input permutes the output positions the same way.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn


class PixelAttention(nn.Module):
    def __init__(self, gamma_init: float = 0.0):
        super().__init__()
        self.gamma = nn.Parameter(torch.tensor(float(gamma_init)))

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, C); row i is how channel i mixes the channels, summing to 1."""
        flat = x.flatten(2)                                    # (B, C, N)
        energy = flat @ flat.transpose(1, 2) / math.sqrt(flat.shape[2])
        return energy.softmax(dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        mixed = self.attention(x) @ x.flatten(2)               # (B, C, N): out_i = sum_j A_ij X_j
        return x + self.gamma * mixed.view(b, c, h, w)


class SpatialAttention(nn.Module):
    def __init__(self, channels: int, reduction: int = 8, gamma_init: float = 0.0):
        super().__init__()
        d = max(1, channels // reduction)
        self.query = nn.Conv2d(channels, d, 1)
        self.key = nn.Conv2d(channels, d, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.tensor(float(gamma_init)))

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, HW, HW); row i is how position i mixes the positions, summing to 1."""
        q = self.query(x).flatten(2)                           # (B, d, N)
        k = self.key(x).flatten(2)
        energy = q.transpose(1, 2) @ k / math.sqrt(q.shape[1])  # (B, N, N): <q_i, k_j>
        return energy.softmax(dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        v = self.value(x).flatten(2)                           # (B, C, N)
        mixed = v @ self.attention(x).transpose(1, 2)          # (B, C, N): out_i = sum_j A_ij v_j
        return x + self.gamma * mixed.view(b, c, h, w)
