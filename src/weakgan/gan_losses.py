"""GAN losses: WGAN-GP (stage 1), least-squares GAN and the semi-supervised classifier losses (stages 2, 3).

Conventions: `scores` are the critic's / D2's outputs, one per image; `logits` are D1's K class logits.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from weakgan.noise import UNLABELLED


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, *critic_args,
                     gen: torch.Generator | None = None) -> torch.Tensor:
    """Gulrajani et al. 2017: E[(||grad_x critic(x_hat)||_2 - 1)^2] at x_hat = e * real + (1 - e) * fake,
    e ~ U(0, 1) per sample. Differentiable in the critic's parameters (create_graph). Not yet weighted."""
    e = torch.rand(len(real), *([1] * (real.ndim - 1)), generator=gen,
                   device=gen.device if gen is not None else None).to(real)
    x_hat = (e * real.detach() + (1 - e) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat, *critic_args)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norm = torch.sqrt(grad.flatten(1).pow(2).sum(1) + 1e-12)   # the epsilon keeps d/dgrad finite at 0
    return (norm - 1).pow(2).mean()


def wgan_critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """The critic maximises E[f(real)] - E[f(fake)]; this is its negative (add the weighted penalty)."""
    return fake_scores.mean() - real_scores.mean()


def wgan_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    return -fake_scores.mean()


def lsgan_discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor, a: float = 0.0,
                             b: float = 1.0) -> torch.Tensor:
    """L_unsup = E_real (D2(x) - b)^2 + E_fake (D2(G(z)) - a)^2 (Mao et al. 2017 coding: real b, fake a)."""
    return (real_scores.float() - b).pow(2).mean() + (fake_scores.float() - a).pow(2).mean()


def lsgan_generator_loss(fake_scores: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    """E (D2(G(z)) - c)^2: the generator wants its images scored as real (c = b = 1)."""
    return (fake_scores.float() - c).pow(2).mean()


def supervised_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """L_sup: cross-entropy of the K class logits; entries labelled -1 are left out (0 if none is left)."""
    keep = labels != UNLABELLED
    if not keep.any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits[keep].float(), labels[keep])


@torch.no_grad()
def pseudo_labels(logits: torch.Tensor, threshold: float) -> torch.Tensor:
    """The argmax class where the softmax maximum reaches `threshold`, else -1 (stays unlabelled)."""
    conf, pred = logits.float().softmax(1).max(1)
    return torch.where(conf >= threshold, pred, torch.full_like(pred, UNLABELLED))
