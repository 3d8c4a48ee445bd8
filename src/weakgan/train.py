"""The one training loop every stage shares: optimizer, schedule, checkpoints, resume, guards, progress."""
from __future__ import annotations

import hashlib
import json
import math
import random
import signal
import threading
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from weakgan import WeakganError
from weakgan.checkpoint import all_finite, load_checkpoint, save_checkpoint
from weakgan.config import Config
from weakgan.runtime import PROBE_MIN_STEPS, autocast, choose_precision, training_speed
from weakgan.stages.base import Stage


# the loop keeps a running average of every logged value and writes it to train_log.json every LOG_EVERY steps
LOG_EVERY = 50


def read_every(device: torch.device) -> int:
    """How often fit() reads the step losses on the host. On a CPU a read costs nothing (an op has finished
    when it returns), so every step, and a non-finite loss stops the run before its update is applied. On an
    accelerator a read makes the host wait for the device, which then idles while the next step is queued,
    so there the losses stay on the device and are read in one transfer every LOG_EVERY steps and around
    each checkpoint."""
    return 1 if device.type == "cpu" else LOG_EVERY


class NonFiniteLoss(Exception):
    pass


def stop_if_not_finite(**losses: torch.Tensor) -> None:
    """Before an update: raise NonFiniteLoss if a loss is NaN or infinite, where reading it is free (CPU).
    On an accelerator fit() finds the value in the step's logs at its next read instead; the update it let
    through is never checkpointed (a state is written only once the step after it has read finite)."""
    for name, value in losses.items():
        if value.device.type == "cpu" and not torch.isfinite(value):
            raise NonFiniteLoss(value.item() if name == "loss" else f"{value.item()} ({name})")


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


def signature(model: torch.nn.Module, identity: dict) -> str:
    """What a checkpoint must match to be resumed: parameter names and shapes plus run identity."""
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    blob = json.dumps({"shapes": shapes, "identity": identity}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def rng_states() -> dict:
    """Every global random generator, as tensors, lists and numbers (weights_only=True can load it)."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "gauss": float(gauss)},
            "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next}}


def set_rng_states(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"][:torch.cuda.device_count()])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss_next"]))


def precision_for(stage: Stage, cfg: Config, total_steps: int, device: torch.device) -> tuple[str, str]:
    """(precision, why) of a run: cfg.amp, `auto` resolved by runtime.choose_precision with a timing probe of
    the stage's model (forward + backward on a batch of its images) when the run is long enough to repay it."""
    probe = None
    if cfg.amp == "auto" and total_steps >= PROBE_MIN_STEPS:
        shape, batch = tuple(stage.batcher.images.shape[1:]), min(cfg.batch_size, 256)
        probe = lambda precision: training_speed(stage.model, shape, batch, device, precision,  # noqa: E731
                                                 cfg.channels_last)
    return choose_precision(cfg.amp, device, probe=probe)


class LossStep:
    """The default optimisation step, for stages that define loss(batch): one optimizer over the stage's
    parameters (or its param_groups()), warm-up + cosine schedule, autocast and a GradScaler for fp16.
    The precision (cfg.amp, `auto` resolved by runtime.choose_precision) is fixed here, for the whole run."""

    def __init__(self, stage: Stage, cfg: Config, total_steps: int, device: torch.device, name: str):
        self.stage, self.cfg, self.device, self.name = stage, cfg, device, name
        self.precision, self.precision_reason = precision_for(stage, cfg, total_steps, device)
        self.opt = make_optimizer(cfg, stage.param_groups())
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, warmup_cosine(total_steps, cfg.warmup))
        # fp16 needs loss scaling; bf16 has fp32's range and does not
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.precision == "fp16")

    def __call__(self, step: int) -> dict[str, torch.Tensor | float]:
        batch = next(self.stage.batches)
        with autocast(self.device, self.precision):
            loss, logs = self.stage.loss(batch)
        stop_if_not_finite(loss=loss)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        self.sched.step()
        return {**logs, "lr": self.sched.get_last_lr()[-1]}

    def state_dict(self) -> dict:
        return {"optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
                "scaler": self.scaler.state_dict(), "stage": self.stage.state_dict(),
                "precision": [self.precision, self.precision_reason]}

    def load_state_dict(self, state: dict) -> None:
        # the optimizer's hyperparameters are this run's settings, not the checkpoint's: they are equal on a
        # plain resume, and differ only when a run is continued with --override (say, a lower lr after a
        # divergence), which must then train with the new ones
        wanted = [{k: v for k, v in g.items() if k != "params"} for g in self.opt.param_groups]
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        self.sched.base_lrs = [g["initial_lr"] for g in wanted]
        for group, hyper, factor in zip(self.opt.param_groups, wanted, self.sched.lr_lambdas):
            group.update(hyper, lr=hyper["initial_lr"] * factor(self.sched.last_epoch))
        self.scaler.load_state_dict(state["scaler"])
        self.stage.load_state_dict(state["stage"])
        if "precision" in state:   # a resumed run keeps the precision it started with
            self.precision, self.precision_reason = state["precision"]


class OwnStep:
    """The update of a stage that makes its own (train_step), run under autocast where the stage allows it
    (autocast_ok: its losses are computed in fp32, and no step needs fp16's loss scaling) and the precision
    choice says so; otherwise fp32. The precision is fixed for the run and kept in the checkpoint, as LossStep's."""

    def __init__(self, stage: Stage, cfg: Config, total_steps: int, device: torch.device):
        self.stage, self.device = stage, device
        if not stage.autocast_ok:
            self.precision, self.precision_reason = "none", "fp32: this stage makes its own updates in fp32"
        else:
            self.precision, self.precision_reason = precision_for(stage, cfg, total_steps, device)
            if self.precision == "fp16":   # its own backward passes have no GradScaler
                self.precision, self.precision_reason = "none", "fp32: fp16 would need loss scaling in train_step"

    def __call__(self, step: int) -> dict[str, torch.Tensor | float]:
        with autocast(self.device, self.precision):
            return self.stage.train_step(step)

    def state_dict(self) -> dict:
        return {"stage": self.stage.state_dict(), "precision": [self.precision, self.precision_reason]}

    def load_state_dict(self, state: dict) -> None:
        if set(state) != {"stage", "precision"}:   # a checkpoint from before OwnStep: the stage's own, fp32
            state = {"stage": state, "precision": ["none", "fp32: resumed from a checkpoint made in fp32"]}
        self.stage.load_state_dict(state["stage"])
        self.precision, self.precision_reason = state["precision"]


def clone_state(state):
    """A deep copy of a (nested) training state whose tensors are detached CPU copies."""
    if isinstance(state, torch.Tensor):
        return state.detach().to("cpu", copy=True)
    if isinstance(state, dict):
        return {k: clone_state(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(clone_state(v) for v in state)
    return state


class StopRequest:
    """SIGINT/SIGTERM handler: the loop finishes its step, saves a checkpoint and stops cleanly."""

    def __init__(self):
        self.signal: int | None = None
        self.previous: dict = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.signal is not None:   # a second signal: stop at once
            raise KeyboardInterrupt
        self.signal = signum

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def fit(stage: Stage, cfg: Config, total_steps: int, ckpt_path: Path, identity: dict, name: str = "train",
        main: bool = True) -> dict:
    """Train stage.model for total_steps, resuming from ckpt_path if it exists. Returns a summary.

    The stage's update is LossStep over its loss(batch), or its own train_step (stages/base.py). Either way
    this loop owns checkpoints, resume, guards and progress.
    Under torchrun every rank runs this loop; only the main rank (main=True) writes checkpoints.
    """
    model = stage.model
    device = next(model.parameters()).device
    step_fn = OwnStep(stage, cfg, total_steps, device) if stage.own_updates \
        else LossStep(stage, cfg, total_steps, device, name)
    sig = signature(model, identity)
    ema = EMA(model, cfg.ema) if cfg.ema > 0 else None
    start, history, elapsed = 0, [], 0.0
    running: dict[str, float] = {}   # running averages of the logged values, on the host
    if ckpt_path.exists():
        state = load_checkpoint(ckpt_path)
        if state.get("signature") != sig:
            raise WeakganError(f"{ckpt_path}: checkpoint belongs to another model/config "
                               f"(signature {state.get('signature')} != {sig}); use a new --out folder")
        model.load_state_dict(state["model"])
        step_fn.load_state_dict(state["step_fn"])
        if ema is not None:
            ema.shadow = state["ema"]
        if "rng" in state:
            set_rng_states(state["rng"])
        else:  # a checkpoint from before numpy/python/CUDA states were saved
            torch.set_rng_state(state["torch_rng"])
        start, history, elapsed = state["step"], state["history"], state["elapsed"]
        running = state.get("running", {})

    def stopped(what: str) -> WeakganError:
        kept = f"last good checkpoint kept at {ckpt_path}" if ckpt_path.exists() else "no checkpoint yet"
        return WeakganError(f"{name}: {what}; stopped, {kept}")

    def not_finite(step: int) -> WeakganError:
        return stopped(f"weights, BatchNorm statistics or optimizer state are not finite at step {step} "
                       "(learning rate too high?)")

    def snapshot(step: int) -> dict:
        """The whole training state, copied. A finite loss can come with inf in BatchNorm statistics or
        optimizer moments, and finite weights can be so far off that the next forward pass overflows: so a
        state is only written once it is finite and the step after it was finite too (commit), and a
        diverged run keeps a checkpoint it can resume from at a sane learning rate."""
        state = clone_state({"signature": sig, "step": step, "model": model.state_dict(),
                             "step_fn": step_fn.state_dict(), "ema": ema.shadow if ema is not None else {},
                             "rng": rng_states(), "history": history, "running": running,
                             "elapsed": elapsed + (time.perf_counter() - t0)})
        if not all_finite({k: state[k] for k in ("model", "step_fn", "ema")}):
            raise not_finite(step)
        return state

    def commit(state: dict | None) -> None:
        if main and state is not None:
            save_checkpoint(ckpt_path, state)

    model.train()
    t0 = time.perf_counter()
    bar = tqdm(total=total_steps, initial=start, desc=name, disable=not (cfg.progress and main), dynamic_ncols=True,
               leave=False)
    every = read_every(device)
    unread: list[tuple[int, dict]] = []   # (step, logs) of the steps whose logs may still be on the device

    def read_logs() -> None:
        """The unread steps' logs to the host in one transfer, in step order: stop at the first non-finite
        value, else fold them into the running averages and the history."""
        tensors = [v.detach().float().to(device) for _, logs in unread for v in logs.values() if torch.is_tensor(v)]
        values = iter(torch.stack(tensors).tolist() if tensors else [])
        for step, logs in unread:
            logs = {k: next(values) if torch.is_tensor(v) else float(v) for k, v in logs.items()}
            bad = [k for k, v in logs.items() if not math.isfinite(v)]
            if bad:
                what = logs[bad[0]] if bad[0] == "loss" else f"{logs[bad[0]]} ({bad[0]})"
                raise stopped(f"loss is {what} at step {step}")
            for k, v in logs.items():
                running[k] = 0.9 * running.get(k, v) + 0.1 * v if k != "lr" else v
            if (step + 1) % LOG_EVERY == 0 or step + 1 == total_steps:
                history.append({"step": step + 1, **running})
                bar.set_postfix({k: f"{v:.3g}" for k, v in running.items()})
        unread.clear()

    pending = None   # a snapshot waiting for the next step to prove it sound
    with StopRequest() as stop:
        for step in range(start, total_steps):
            try:
                unread.append((step, step_fn(step)))
            except NonFiniteLoss as e:
                raise stopped(f"loss is {e.args[0]} at step {step}") from None
            if ema is not None:
                ema.update(model, step)
            bar.update(1)
            # read once: a signal that lands later in this step (say, while the pending checkpoint is written)
            # waits for the next step, so the step reported below is always the step saved
            signalled = stop.signal
            due = (step + 1) % cfg.checkpoint_every == 0 or step + 1 == total_steps or signalled
            if (step + 1) % every == 0 or due or pending is not None:
                read_logs()
            if pending is not None:
                if not all_finite(model.state_dict()):
                    raise not_finite(step + 1)
                commit(pending)
                pending = None
            if due:
                pending = snapshot(step + 1) if main else None
                if step + 1 == total_steps or signalled:   # no next step to wait for
                    commit(pending)
                    pending = None
            if signalled:
                bar.close()
                raise WeakganError(f"{name}: stopped by signal {signalled} after step {step + 1}; "
                                   f"checkpoint saved to {ckpt_path}, run the same command again to resume")
    bar.close()
    if ema is not None:  # evaluate and export the averaged weights
        model.load_state_dict(ema.shadow)
    precision, reason = step_fn.precision, step_fn.precision_reason
    return {"steps": total_steps, "train_seconds": elapsed + (time.perf_counter() - t0), "history": history,
            "precision": precision, "precision_reason": reason}
