"""The one training loop every stage shares: optimizer, schedule, checkpoints, resume, guards, progress."""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
from pathlib import Path

import torch
from tqdm import tqdm

from weakgan import WeakganError
from weakgan.checkpoint import load_checkpoint, save_checkpoint
from weakgan.config import Config


def make_optimizer(cfg: Config, params) -> torch.optim.Optimizer:
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise WeakganError(f"optimizer '{cfg.optimizer}': expected adamw or adam")


def warmup_cosine(total: int, warmup_share: float):
    warm = max(1, int(total * warmup_share))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))
    return factor


class EMA:
    """Exponential moving average of all floating-point parameters and buffers (BatchNorm statistics)."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))  # short warm-up so early averages are not stale
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point:
                self.shadow[k].lerp_(v, 1 - d)
            else:
                self.shadow[k].copy_(v)


def autocast(device: torch.device, amp: str):
    if amp == "none":
        return contextlib.nullcontext()
    if amp not in ("bf16", "fp16"):
        raise WeakganError(f"amp '{amp}': expected none, bf16 or fp16")
    if amp == "fp16" and device.type != "cuda":
        raise WeakganError("amp 'fp16' needs a CUDA device; use bf16 on CPU")
    return torch.autocast(device.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


def signature(model: torch.nn.Module, identity: dict) -> str:
    """What a checkpoint must match to be resumed: parameter names and shapes plus run identity."""
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    blob = json.dumps({"shapes": shapes, "identity": identity}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def fit(stage, cfg: Config, total_steps: int, ckpt_path: Path, identity: dict, name: str = "train") -> dict:
    """Train stage.model for total_steps, resuming from ckpt_path if it exists. Returns a summary."""
    model = stage.model
    opt = make_optimizer(cfg, stage.param_groups() if hasattr(stage, "param_groups") else model.parameters())
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(total_steps, cfg.warmup))
    sig = signature(model, identity)
    ema = EMA(model, cfg.ema) if cfg.ema > 0 else None
    device = next(model.parameters()).device
    # fp16 needs loss scaling; bf16 has fp32's range and does not
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.amp == "fp16")
    start, history, elapsed = 0, [], 0.0
    if ckpt_path.exists():
        state = load_checkpoint(ckpt_path)
        if state.get("signature") != sig:
            raise WeakganError(f"{ckpt_path}: checkpoint belongs to another model/config "
                               f"(signature {state.get('signature')} != {sig}); use a new --out folder")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        if ema is not None:
            ema.shadow = state["ema"]
        stage.load_state_dict(state["stage"])
        torch.set_rng_state(state["torch_rng"])
        start, history, elapsed = state["step"], state["history"], state["elapsed"]

    def save(step: int) -> None:
        save_checkpoint(ckpt_path, {
            "signature": sig, "step": step, "model": model.state_dict(), "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(), "scaler": scaler.state_dict(),
            "ema": ema.shadow if ema is not None else {}, "stage": stage.state_dict(), "torch_rng": torch.get_rng_state(),
            "history": history, "elapsed": elapsed + (time.perf_counter() - t0)})

    model.train()
    t0 = time.perf_counter()
    running: dict[str, float] = {}
    bar = tqdm(total=total_steps, initial=start, desc=name, disable=not cfg.progress, dynamic_ncols=True,
               leave=False)
    for step in range(start, total_steps):
        batch = next(stage.batches)
        with autocast(device, cfg.amp):
            loss, logs = stage.loss(batch)
        if not torch.isfinite(loss):
            raise WeakganError(f"{name}: loss is {loss.item()} at step {step}; stopped, last good checkpoint "
                               f"kept at {ckpt_path}")
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        sched.step()
        if ema is not None:
            ema.update(model, step)
        for k, v in logs.items():
            running[k] = 0.9 * running.get(k, v) + 0.1 * v
        if (step + 1) % 50 == 0 or step + 1 == total_steps:
            history.append({"step": step + 1, "lr": sched.get_last_lr()[0], **running})
            bar.set_postfix({k: f"{v:.3f}" for k, v in running.items()})
        bar.update(1)
        if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == total_steps:
            save(step + 1)
    bar.close()
    if ema is not None:  # evaluate and export the averaged weights
        model.load_state_dict(ema.shadow)
    return {"steps": total_steps, "train_seconds": elapsed + (time.perf_counter() - t0), "history": history}
