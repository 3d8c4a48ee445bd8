"""The GAN networks: class-conditional generator, WGAN-GP critic, and the three-branch WSGAN discriminator.

Pixel spaces (one conversion each way, below):
  GAN space         the generator's tanh output and the critic's input: x_uint8 / 127.5 - 1, in [-1, 1].
  classifier space  what ClassifierStage and metrics.predict_logits feed a classifier: (x_uint8 / 255 - mean)
                    / std with the training set's mean and std. The WSGAN discriminator works in this space,
                    so it classifies test images exactly like the other classifiers; generated images are
                    converted with gan_to_classifier() before they reach it.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm

from weakgan import WeakganError
from weakgan.models.attention import PixelAttention, SpatialAttention
from weakgan.models.heads import MLPHead


def uint8_to_gan(x: torch.Tensor) -> torch.Tensor:
    return x.float() / 127.5 - 1.0


def gan_to_uint8(x: torch.Tensor) -> torch.Tensor:
    return ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def gan_to_classifier(x: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """Differentiable: generated images in [-1, 1] -> the classifier's normalization."""
    return ((x + 1) * 0.5 - mean) / std


# --------------------------------------------------------------------------------------------- generator
class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm without its own affine part; a per-class scale (1 + g_y) and shift b_y instead."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Embedding(num_classes, channels)
        self.bias = nn.Embedding(num_classes, channels)
        nn.init.zeros_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        g, b = 1 + self.gain(y)[:, :, None, None], self.bias(y)[:, :, None, None]
        return self.bn(x) * g + b


class Generator(nn.Module):
    """G(z, y): z (N, z_dim), y (N,) class indices -> (N, C, size, size) in [-1, 1] (tanh).

    The class enters twice: a label embedding concatenated with z, and class-conditional BatchNorm after
    every layer but the last. Layout (w = width, s = `size` rounded up to a multiple of 4): Linear ->
    (4w, s/4, s/4) -> convT4x4/2 (2w, s/2) -> convT4x4/2 (w, s) -> conv3x3 (C) -> tanh, then the centre
    size x size crop (nothing to crop for 28, FashionMNIST's size).
    """

    def __init__(self, num_classes: int, channels: int = 1, size: int = 28, z_dim: int = 64, width: int = 32,
                 embed_dim: int = 32):
        super().__init__()
        if size < 4:
            raise WeakganError(f"generator: image size {size} is below 4 pixels")
        self.arch = {"num_classes": num_classes, "channels": channels, "size": size, "z_dim": z_dim,
                     "width": width, "embed_dim": embed_dim}
        self.num_classes, self.z_dim, self.s0 = num_classes, z_dim, -(-size // 4)
        self.crop = slice((4 * self.s0 - size) // 2, (4 * self.s0 - size) // 2 + size)
        self.embed = nn.Embedding(num_classes, embed_dim)
        self.fc = nn.Linear(z_dim + embed_dim, 4 * width * self.s0 * self.s0)
        self.bn0 = ConditionalBatchNorm2d(4 * width, num_classes)
        self.up1 = nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1)
        self.bn1 = ConditionalBatchNorm2d(2 * width, num_classes)
        self.up2 = nn.ConvTranspose2d(2 * width, width, 4, 2, 1)
        self.bn2 = ConditionalBatchNorm2d(width, num_classes)
        self.out = nn.Conv2d(width, channels, 3, padding=1)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.fc(torch.cat([z, self.embed(y)], 1)).view(len(z), -1, self.s0, self.s0)
        h = F.relu(self.bn0(h, y))
        h = F.relu(self.bn1(self.up1(h), y))
        h = F.relu(self.bn2(self.up2(h), y))
        return torch.tanh(self.out(h))[:, :, self.crop, self.crop]

    def sample_z(self, n: int, gen: torch.Generator | None = None) -> torch.Tensor:
        """n latent vectors on the generator's device, drawn from `gen` (on its own device)."""
        z = torch.randn(n, self.z_dim, generator=gen, device=gen.device if gen is not None else None)
        return z.to(self.fc.weight.device)


# ------------------------------------------------------------------------------------------------ critic
class Critic(nn.Module):
    """The simple class-conditional WGAN-GP critic of stage 1: 4 convolutions and a linear output.

    conv4x4/2 (w) -> conv4x4/2 (2w) -> conv3x3 (4w) -> conv3x3/2 (4w), LeakyReLU(0.2), no normalization
    (the gradient penalty is per sample); 28x28 -> 14 -> 7 -> 7 -> 4. Down-sampling early keeps it cheap
    on a CPU (the critic runs 3 times per critic step, with a double backward for the penalty).
    Conditioning by projection (Miyato & Koyama 2018): f(x, y) = <v, h> + b + <e_y, h>, h the flattened
    features.
    """

    def __init__(self, num_classes: int, channels: int = 1, size: int = 28, width: int = 32):
        super().__init__()
        self.convs = nn.ModuleList([
            nn.Conv2d(channels, width, 4, 2, 1), nn.Conv2d(width, 2 * width, 4, 2, 1),
            nn.Conv2d(2 * width, 4 * width, 3, 1, 1), nn.Conv2d(4 * width, 4 * width, 3, 2, 1)])
        last = (size // 4 - 1) // 2 + 1
        features = 4 * width * last * last
        self.linear = nn.Linear(features, 1)
        self.project = nn.Embedding(num_classes, features)
        nn.init.normal_(self.project.weight, std=0.01)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = x
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.2)
        h = h.flatten(1)
        return self.linear(h).squeeze(1) + (self.project(y) * h).sum(1)


class EMAGenerator(nn.Module):
    """A generator plus an exponential moving average of its weights (the copy that is kept and sampled)."""

    def __init__(self, generator: Generator):
        super().__init__()
        self.generator = generator
        self.average = copy.deepcopy(generator).requires_grad_(False).eval()

    @torch.no_grad()
    def update(self, decay: float, step: int) -> None:
        d = min(decay, (1 + step) / (10 + step))   # short warm-up, as train.EMA
        for (_, a), (_, g) in zip(self.average.state_dict().items(), self.generator.state_dict().items()):
            if a.dtype.is_floating_point:
                a.lerp_(g, 1 - d)
            else:
                a.copy_(g)


class WGANPair(nn.Module):
    """Everything stage 1 trains, as one module (fit() checkpoints it): generator (+ its average) and critic."""

    def __init__(self, generator: Generator, critic: Critic):
        super().__init__()
        self.g = EMAGenerator(generator)
        self.critic = critic


# ----------------------------------------------------------------------------------------- discriminator
class DownBlock(nn.Module):
    """Down-sampling residual block: [SN-conv3x3, LReLU, avg-pool 2, SN-conv3x3] + [avg-pool 2, SN-conv1x1].

    The second convolution runs at the pooled size (a quarter of the cost of pooling last, which matters
    on a CPU at 28x28).
    """

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = spectral_norm(nn.Conv2d(cin, cout, 3, padding=1))
        self.conv2 = spectral_norm(nn.Conv2d(cout, cout, 3, padding=1))
        self.skip = spectral_norm(nn.Conv2d(cin, cout, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.avg_pool2d(F.leaky_relu(self.conv1(x), 0.2), 2)
        return self.conv2(F.leaky_relu(h, 0.2)) + self.skip(F.avg_pool2d(x, 2))


class AttentionStage(nn.Module):
    """DownBlock, then pixel (channel) attention and spatial attention side by side, summed (DANet)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.down = DownBlock(cin, cout)
        self.pixel = PixelAttention()
        self.spatial = SpatialAttention(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.down(x)
        return self.pixel(h) + self.spatial(h)


class AttentionClassifier(nn.Module):
    """Attention stages, LReLU, then global average + global max pooling (concatenated) -> Linear to `outputs`."""

    def __init__(self, widths: tuple[int, ...], outputs: int):
        super().__init__()
        self.stages = nn.Sequential(*[AttentionStage(a, b) for a, b in zip(widths[:-1], widths[1:])])
        self.head = nn.Linear(2 * widths[-1], outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.stages(x), 0.2)
        return self.head(torch.cat([h.mean((2, 3)), h.amax((2, 3))], 1))


class BackboneBranch(nn.Module):
    """A classifier backbone (the run's: smallcnn or ResNet18, models/backbone.py) and an MLP head to K + 1
    outputs, shaped like a classifier's clean net, so that D can start as a finished classifier run."""

    def __init__(self, backbone: nn.Module, hidden: int, outputs: int):
        super().__init__()
        self.backbone = backbone
        self.head = MLPHead((backbone.out_dim, hidden, outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


class WSGANDiscriminator(nn.Module):
    """D(x) -> (N, K + 1): K class logits (D1) and a real/fake score (D2, least-squares coded: real 1,
    fake 0), the sum of three branches that each end in K + 1 outputs:
      global    two attention stages (C -> w -> 2w, so 28x28 -> 14x14 -> 7x7),
      local     one attention stage (C -> w, 14x14),
      backbone  a classifier backbone -> MLP head (the paper's is ResNet18; left out with backbone=None).
    Input: images in the classifier normalization (see the module docstring).
    """

    def __init__(self, num_classes: int, channels: int = 1, width: int = 32, backbone: nn.Module | None = None,
                 head_hidden: int = 256, attention: bool = True):
        super().__init__()
        if backbone is None and not attention:
            raise WeakganError("WSGAN D: no branch left (attention branches off and no backbone branch)")
        self.num_classes = num_classes
        outputs = num_classes + 1
        self.global_branch = AttentionClassifier((channels, width, 2 * width), outputs) if attention else None
        self.local_branch = AttentionClassifier((channels, width), outputs) if attention else None
        self.backbone_branch = BackboneBranch(backbone, head_hidden, outputs) if backbone is not None else None

    def branches(self) -> list[nn.Module]:
        return [b for b in (self.global_branch, self.local_branch, self.backbone_branch) if b is not None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum(branch(x) for branch in self.branches())

    def start_as_classifier(self, clean_head: MLPHead) -> None:
        """Make D's class logits those of a finished classifier whose backbone the branch already holds:
        its clean head into the branch head's first K outputs, the real/fake output and the attention
        branches' heads zero (they learn from there; until then they change no prediction)."""
        head = self.backbone_branch.head.net
        last = str(len(head) - 1)
        source = dict(clean_head.net.named_parameters())
        with torch.no_grad():
            for name, p in head.named_parameters():
                src = source[name]
                if name.startswith(last + "."):
                    p.zero_()
                    p[:self.num_classes].copy_(src)
                else:
                    p.copy_(src)
            for branch in self.branches()[:-1]:   # the attention branches
                branch.head.weight.zero_()
                branch.head.bias.zero_()


class WSGAN(nn.Module):
    """What the WSGAN classifier stage trains, as one module: discriminator D and generator G.

    forward(x) is the classifier: D's K class logits for images in the classifier normalization, so
    metrics.predict_logits and run.evaluate treat it like any other classifier (score: softmax).
    forward(x, full=True) gives all K + 1 outputs (the training step calls it so, through a DDP wrapper).
    """

    def __init__(self, discriminator: WSGANDiscriminator, generator: Generator):
        super().__init__()
        self.discriminator, self.generator = discriminator, generator

    def forward(self, x: torch.Tensor, full: bool = False) -> torch.Tensor:
        out = self.discriminator(x)
        return out if full else out[:, :self.discriminator.num_classes]

    def train(self, mode: bool = True) -> "WSGAN":
        """G always samples in eval mode (BatchNorm running statistics of its pretraining), also while
        stage 3 updates it: a batch of one class must not be normalized by its own statistics."""
        super().train(mode)
        self.generator.eval()
        return self
