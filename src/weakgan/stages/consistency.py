"""Consistency-based semi-supervision on the non-clean images, for the NR classifier (model nr-match).

FixMatch (Sohn et al., NeurIPS 2020): the prediction on a weakly augmented view (the usual flips and shifts)
becomes a pseudo-label where it is confident, and a strongly augmented view of the same image
(augment.strong_augment) is trained toward it. The confidence thresholds adapt as in FreeMatch (Wang et al., ICLR
2023): a global one, the moving average of the mean top confidence, scaled per class by the moving average of
that class's predicted probability relative to the largest class, so that classes the model finds hard get a
lower bar early on. The predictions are first aligned to the clean labels' class prior (distribution
alignment, ReMixMatch), so that confident easy classes do not take over. The noisy labels still enter through
NR's sigmoid(c + r), and the residual net learns their noise; the clean net is the one that is evaluated
(with EMA weights, cfg.ema).
"""
from __future__ import annotations

import torch


class AdaptiveThresholds:
    """FreeMatch's self-adaptive thresholds with distribution alignment; state kept as tensors (resumable)."""

    def __init__(self, prior: torch.Tensor, momentum: float, floor: float = 0.0):
        k = len(prior)
        self.prior = prior / prior.sum()
        self.momentum, self.floor = momentum, floor
        self.global_tau = torch.tensor(1.0 / k)
        self.class_probs = torch.full((k,), 1.0 / k)
        self.steps = 0   # batches seen (the ramp-up of the loss's weight counts them); a number, read without a sync

    @torch.no_grad()
    def pseudo_labels(self, probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(labels, mask) for a batch of weak-view probabilities (N, K), on their device: the aligned argmax,
        and where its confidence clears its class's threshold. Updates the moving averages with this batch.
        The state follows the probabilities' device, so a GPU run never waits for a copy to the host."""
        probs = probs.float()
        if self.class_probs.device != probs.device:
            self.prior, self.global_tau, self.class_probs = (t.to(probs.device) for t in
                                                             (self.prior, self.global_tau, self.class_probs))
        m = self.momentum
        self.steps += 1
        self.class_probs = m * self.class_probs + (1 - m) * probs.mean(0)
        aligned = probs * self.prior / self.class_probs.clamp_min(1e-8)
        aligned = aligned / aligned.sum(1, keepdim=True)
        confidence, labels = aligned.max(1)
        self.global_tau = m * self.global_tau + (1 - m) * confidence.mean()
        per_class = (self.class_probs / self.class_probs.max() * self.global_tau).clamp_min(self.floor)
        return labels, confidence >= per_class[labels]

    def state_dict(self) -> dict:
        return {"global_tau": self.global_tau, "class_probs": self.class_probs, "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.global_tau, self.class_probs, self.steps = state["global_tau"], state["class_probs"], int(state["steps"])
