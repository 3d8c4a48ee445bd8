"""What the teacher's posterior given the noisy label does to nr's training targets (teacher_posterior.md): for
each noise, the share of the split's non-clean training images whose target argmax is the true label, and the mean
target probability of the true class, without and with the posterior. FashionMNIST's true training labels are
read for this diagnostic only (no choice is made on it).

    python3 benchmarks/posterior_targets.py TEACHER_RUN CLEAN_FRACTION
"""
import sys, torch
from weakgan.config import Config
from weakgan.data import load_dataset
from weakgan.run import split_for
from weakgan.teacher import teacher_targets
teacher = sys.argv[1]; frac = float(sys.argv[2])
data = load_dataset("fashion-mnist", "")
for noise in ["permutation", "symmetric:0.4", "pairflip:0.3"]:
    cfg = Config(model="nr", clean_fraction=frac, noise=noise, seed=0)
    split = split_for(cfg, data)
    true = data.train.targets[torch.as_tensor(split.noisy_idx)]
    y = torch.as_tensor(split.noisy_labels)
    res = []
    for post in (False, True):
        for T in (1.0, 0.5):
            t = teacher_targets(teacher, data, split, T, torch.device("cpu"), with_labels=post)[torch.as_tensor(split.noisy_idx)]
            acc = (t.argmax(1) == true).float().mean().item()
            ptrue = t.gather(1, true[:, None]).mean().item()
            res.append(f"post={post:d} T={T}: acc {acc:.4f} p(true) {ptrue:.3f}")
    print(noise, f"label acc {(y == true).float().mean().item():.3f}", " | ".join(res))
