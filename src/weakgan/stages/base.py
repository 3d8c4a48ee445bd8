"""The interface between a training stage and the one loop in train.py."""
from __future__ import annotations

import torch
import torch.nn as nn

from weakgan.config import Config


class Stage:
    """What train.fit and run.py need of a stage.

    Every stage sets `model` (what is evaluated and saved), `train_model` (the module its loss calls: `model`,
    or the DDP / compiled wrapper run.py puts around it) and `cfg` (the settings it trains with; a stage may
    adapt them, e.g. WSGAN's own batch size and no EMA). Then either
      - own_updates is False: it defines loss(batch) for one batch drawn from `batches`, and fit's LossStep
        makes the update with one optimizer over param_groups(); or
      - own_updates is True: it defines train_step(step), making its own updates (GANs: several optimizers,
        several critic steps), and its state_dict() holds its optimizers and random generators; with
        autocast_ok it runs under the run's precision (its losses in fp32), else in fp32.
    Either returns its logs as detached 0-dim tensors (or plain floats, like a learning rate), not read with
    .item(): fit() copies them to the host when it chooses to (train.read_every), so a step never waits for
    the device just to log.
    state_dict/load_state_dict carry what a resumed run needs beyond the weights (batch order, generators).
    """
    model: nn.Module
    train_model: nn.Module
    cfg: Config
    own_updates = False
    autocast_ok = False   # own_updates stages: whether train_step may run under autocast (train.OwnStep)

    def param_groups(self) -> list[dict]:
        return [{"params": list(self.model.parameters())}]

    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError(f"{type(self).__name__} makes its own updates (train_step)")

    def train_step(self, step: int) -> dict[str, torch.Tensor | float]:
        raise NotImplementedError(f"{type(self).__name__} defines loss(batch); LossStep updates it")

    def state_dict(self) -> dict:
        raise NotImplementedError

    def load_state_dict(self, state: dict) -> None:
        raise NotImplementedError
