"""Index streams and mixed clean:noisy batches.

A stream makes endless shuffled passes over a set of indices. A mixed batch takes a fixed number of
indices from each stream (NR: 1 clean : 9 noisy). Under DDP every rank draws the same global batch
from identically seeded streams and keeps its own interleaved slice of each part, so the ratio holds
on every rank and the ranks never see the same sample in a step.
"""
from __future__ import annotations

import torch


class IndexStream:
    def __init__(self, indices, seed: int):
        self.indices = torch.as_tensor(indices, dtype=torch.long)
        if len(self.indices) == 0:
            raise ValueError("an index stream needs at least one index")
        self.gen = torch.Generator().manual_seed(seed)
        self.order = self.indices[torch.randperm(len(self.indices), generator=self.gen)]
        self.pos = 0
        self.passes = 0

    def take(self, n: int) -> torch.Tensor:
        out = []
        while n > 0:
            if self.pos == len(self.order):
                self.order = self.indices[torch.randperm(len(self.indices), generator=self.gen)]
                self.pos, self.passes = 0, self.passes + 1
            k = min(n, len(self.order) - self.pos)
            out.append(self.order[self.pos:self.pos + k])
            self.pos, n = self.pos + k, n - k
        return torch.cat(out)

    def state_dict(self) -> dict:
        return {"gen": self.gen.get_state(), "order": self.order.clone(), "pos": self.pos, "passes": self.passes}

    def load_state_dict(self, state: dict) -> None:
        self.gen.set_state(state["gen"])
        self.order, self.pos, self.passes = state["order"], int(state["pos"]), int(state["passes"])


class MixedBatches:
    """Yields {part: indices} with a fixed count per part, e.g. {'clean': 26, 'noisy': 230}."""

    def __init__(self, parts: dict[str, torch.Tensor], sizes: dict[str, int], seed: int,
                 rank: int = 0, world: int = 1):
        self.sizes = {k: v for k, v in sizes.items() if v > 0}
        self.streams = {k: IndexStream(parts[k], seed * 1000 + i) for i, k in enumerate(self.sizes)}
        self.rank, self.world = rank, world

    def __iter__(self):
        return self

    def __next__(self) -> dict[str, torch.Tensor]:
        return {k: s.take(self.sizes[k])[self.rank::self.world] for k, s in self.streams.items()}

    def state_dict(self) -> dict:
        return {k: s.state_dict() for k, s in self.streams.items()}

    def load_state_dict(self, state: dict) -> None:
        for k, s in self.streams.items():
            s.load_state_dict(state[k])


HU_CLEAN_SHARE = 0.1   # Hu et al.'s 1:9


def clean_share_of(setting: float, n_clean: int, n_noisy: int, floor: float = HU_CLEAN_SHARE) -> float:
    """The clean share of a batch: `setting` where it is > 0; 0 (auto) takes `floor` (Hu et al.'s 1:9 for NR)
    or the clean images' own share of the data, whichever is larger, so that where the clean set is more than
    that share of the data every image is drawn about equally often (at 70% clean a 1:9 batch draws each clean
    image about a nineteenth as often as each noisy one)."""
    if setting > 0:
        return setting
    return max(floor, n_clean / max(1, n_clean + n_noisy))


def split_batch(batch_size: int, clean_share: float) -> tuple[int, int]:
    """(clean, noisy) counts of a batch; clean_share 0.1 gives the 1:9 ratio of Hu et al."""
    n_clean = max(1, int(round(batch_size * clean_share)))
    return n_clean, batch_size - n_clean
