"""Training/inference throughput of ResNet18 stems on 1x28x28 images (the table in models/backbone.py).

    python3 benchmarks/stem_speed.py
"""
import time

import torch
import torch.nn as nn

from weakgan.models.backbone import resnet18_backbone

torch.set_num_threads(2)
x = torch.randn(256, 1, 28, 28)
y = torch.randint(0, 10, (256,))
for stem in ("imagenet", "cifar"):
    for channels_last in (False, True):
        net = nn.Sequential(resnet18_backbone(1, stem), nn.Linear(512, 10))
        opt = torch.optim.AdamW(net.parameters())
        xx = x
        if channels_last:
            net, xx = net.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
        for i in range(6):
            if i == 1:
                t = time.perf_counter()
            loss = nn.functional.cross_entropy(net(xx), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        train = 5 * 256 / (time.perf_counter() - t)
        with torch.no_grad():
            net.eval()
            t = time.perf_counter()
            for _ in range(3):
                net(xx)
            infer = 3 * 256 / (time.perf_counter() - t)
        print(f"{stem:9s} channels_last={channels_last!s:5s} train {train:5.0f} img/s  infer {infer:5.0f} img/s")
