"""bf16 against fp32 on a CPU: images/s of forward + backward of each backbone, as `--amp auto`'s
probe times them (runtime.training_speed), on 1x28x28 inputs at batch 256.

  python3 benchmarks/precision_speed.py                       # this CPU as it is
  ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 python3 benchmarks/precision_speed.py
                                                              # the same CPU restricted to AVX2: no native bf16

The second line makes oneDNN and PyTorch's own kernels use AVX2 code only, so one machine shows both cases
(bf16 emulated as on an AVX2-only CPU, and native). Both timings alternate `--repeats` times in one process;
the medians are printed with the machine and the instruction-set limits in force.
"""
from __future__ import annotations

import argparse
import functools
import os
import statistics

import torch

from weakgan.models.backbone import make_backbone
from weakgan.runtime import alternating_samples, machine, set_threads, training_speed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", default="smallcnn:32,smallcnn:64,resnet18:imagenet",
                    help="comma-separated smallcnn:WIDTH | resnet18:STEM")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    set_threads(args.threads)
    cpu = torch.device("cpu")
    limits = {k: os.environ[k] for k in ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY") if k in os.environ}
    print(f"{machine()}; torch CPU capability {torch.backends.cpu.get_cpu_capability()}; "
          f"limits {limits or 'none'}; batch {args.batch_size}, {args.steps} steps x {args.repeats}")
    print("| network | fp32 images/s | bf16 images/s | bf16 / fp32 |")
    print("|---|---|---|---|")
    for spec in args.nets.split(","):
        name, option = spec.split(":")
        torch.manual_seed(0)
        net = (make_backbone(name, 1, width=int(option)) if name == "smallcnn"
               else make_backbone(name, 1, stem=option)).to(memory_format=torch.channels_last)
        speeds = alternating_samples({p: functools.partial(training_speed, net, (1, 28, 28), args.batch_size, cpu, p,
                                                          channels_last=True, steps=args.steps)
                                      for p in ("none", "bf16")}, args.repeats)
        fp32, bf16 = statistics.median(speeds["none"]), statistics.median(speeds["bf16"])
        print(f"| {spec} | {fp32:.0f} | {bf16:.0f} | {bf16 / fp32:.2f} |", flush=True)


if __name__ == "__main__":
    main()
