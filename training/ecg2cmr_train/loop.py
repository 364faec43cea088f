"""Restartable training loop and run log shared by every stage.

A stage `name` keeps `<run>/<name>.ckpt.pt` while it runs (modules, optimiser, step, elapsed
seconds; written every `checkpoint_seconds`) and `<run>/<name>.pt` when finished. Re-running the
pipeline skips finished stages and resumes an interrupted one from its checkpoint. Wall time per
stage is accumulated across restarts in `<run>/timings.json` (the model card prints it).
"""
from __future__ import annotations

import json
import math
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import torch


# Under torchrun only rank 0 prints (pipeline.main sets this from the environment).
QUIET = False


def log(msg: str) -> None:
    if QUIET:
        return
    print(f"[{datetime.now(timezone.utc).strftime('%H:%M:%S')}] {msg}", flush=True)


def atomic_save(obj, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class Timings:
    """`<run>/timings.json`: {stage: {"seconds": …, …}} accumulated across restarts."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / "timings.json"
        self.data = json.loads(self.path.read_text()) if self.path.exists() else {}

    def _reload(self) -> None:
        # Stages may run in parallel processes (e.g. cmr beside the ECG stages): merge, don't clobber.
        if self.path.exists():
            self.data = {**self.data, **json.loads(self.path.read_text())}

    def add(self, stage: str, seconds: float, **info) -> None:
        self._reload()
        entry = self.data.setdefault(stage, {"seconds": 0.0})
        entry["seconds"] = round(entry.get("seconds", 0.0) + seconds, 1)
        entry.update(info)
        self.path.write_text(json.dumps(self.data, indent=2) + "\n")

    def set(self, stage: str, **info) -> None:
        self._reload()
        self.data.setdefault(stage, {"seconds": 0.0}).update(info)
        self.path.write_text(json.dumps(self.data, indent=2) + "\n")


def lr_factor(progress: float, warmup: float = 0.05) -> float:
    """Linear warm-up then cosine decay over training progress in [0, 1]."""
    if progress < warmup:
        return max(progress / warmup, 0.02)
    p = min((progress - warmup) / max(1 - warmup, 1e-9), 1.0)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p))


class EarlyStopping:
    """Validation-based early stopping: every `every` steps `evaluate()` gives a validation loss;
    the best module state is kept, and training stops after `patience` checks without a gain of
    at least `min_delta`. `restore()` puts the best state back before the stage is saved."""

    def __init__(self, module: torch.nn.Module, evaluate, every: int, patience: int, min_delta: float = 1e-4):
        self.module, self.evaluate, self.every, self.patience, self.min_delta = module, evaluate, every, patience, min_delta
        self.best, self.best_step, self.bad, self.best_state, self.history = float("inf"), 0, 0, None, []

    def after_step(self, step: int) -> bool:
        if step % self.every:
            return False
        was = self.module.training
        self.module.eval()
        with torch.no_grad():
            v = float(self.evaluate())
        self.module.train(was)
        self.history.append((step, round(v, 5)))
        if v < self.best - self.min_delta:
            self.best, self.best_step, self.bad = v, step, 0
            self.best_state = {k: t.detach().clone() for k, t in self.module.state_dict().items()}
        else:
            self.bad += 1
        log(f"  validation loss {v:.4f} at step {step} (best {self.best:.4f} at {self.best_step})")
        return self.bad >= self.patience

    def restore(self) -> None:
        if self.best_state is not None:
            self.module.load_state_dict(self.best_state)

    def state(self) -> dict:
        return {"best": self.best, "best_step": self.best_step, "bad": self.bad, "best_state": self.best_state,
                "history": self.history}

    def load(self, s: dict) -> None:
        self.best, self.best_step, self.bad = s["best"], s["best_step"], s["bad"]
        self.best_state, self.history = s["best_state"], s["history"]


def train_stage(run_dir: Path, name: str, modules: dict, optimizer: torch.optim.Optimizer, step_fn,
                steps: int, minutes: float | None, checkpoint_seconds: float, timings: Timings,
                base_lrs: list | None = None, early: EarlyStopping | None = None, par=None) -> dict:
    """Run `step_fn(step, progress) -> loss` until `steps` steps or `minutes` of (accumulated) wall
    time; progress = max(step/steps, elapsed/budget) drives the learning-rate schedule so a
    time-capped stage still decays its rate. Returns {"steps", "seconds", "loss"}.

    With several processes (`par`, distributed.Parallel) every rank runs the same steps; rank 0
    alone writes the checkpoints, the finished stage and the timings. The wall-time cap is
    decided on rank 0 and broadcast, so all ranks stop at the same step."""
    main = par is None or par.main
    run_dir = Path(run_dir)
    done_path = run_dir / f"{name}.pt"
    ckpt_path = run_dir / f"{name}.ckpt.pt"
    if done_path.exists():
        state = torch.load(done_path, weights_only=False, map_location="cpu")
        for k, m in modules.items():
            m.load_state_dict(state["modules"][k])
        log(f"{name}: finished earlier ({state['info']['steps']} steps, {state['info']['seconds']:.0f} s) — loaded")
        return state["info"]
    step, elapsed = 0, 0.0
    if ckpt_path.exists():
        state = torch.load(ckpt_path, weights_only=False, map_location="cpu")
        for k, m in modules.items():
            m.load_state_dict(state["modules"][k])
        optimizer.load_state_dict(state["optimizer"])
        step, elapsed = state["step"], state["elapsed"]
        if early is not None and state.get("early"):
            early.load(state["early"])
        log(f"{name}: resuming at step {step} ({elapsed:.0f} s done)")
    base_lrs = base_lrs or [g["lr"] for g in optimizer.param_groups]
    budget = (minutes * 60.0) if minutes else float("inf")
    for m in modules.values():
        m.train()
    t0 = time.time()
    last_ckpt = last_print = t0
    recent = []
    log(f"{name}: up to {steps} steps, {'no time cap' if budget == float('inf') else f'{minutes:.1f} min cap'}")

    def save_ckpt():
        atomic_save({"modules": {k: m.state_dict() for k, m in modules.items()},
                      "optimizer": optimizer.state_dict(), "step": step,
                      "elapsed": elapsed + time.time() - t0,
                      "early": early.state() if early is not None else None}, ckpt_path)

    while step < steps:
        spent = elapsed + time.time() - t0
        if par is not None and par.world > 1:
            flag = torch.tensor([spent >= budget], dtype=torch.int32)
            torch.distributed.broadcast(flag, 0)
            over = bool(flag.item())
        else:
            over = spent >= budget
        if over:
            log(f"{name}: time cap reached at step {step}")
            break
        progress = max(step / steps, spent / budget if budget < float("inf") else 0.0)
        f = lr_factor(progress)
        for g, lr in zip(optimizer.param_groups, base_lrs):
            g["lr"] = lr * f
        loss = float(step_fn(step, progress))
        if not math.isfinite(loss):
            raise FloatingPointError(f"{name}: loss is {loss} at step {step}")
        recent.append(loss)
        step += 1
        now = time.time()
        if now - last_print > 20 or step == steps:
            rate = step / max(elapsed + now - t0, 1e-9)
            log(f"{name}: step {step}/{steps} loss {sum(recent) / len(recent):.4f} "
                f"({rate:.2f} steps/s, {elapsed + now - t0:.0f} s)")
            recent, last_print = [], now
        if now - last_ckpt > checkpoint_seconds and main:
            save_ckpt()
            last_ckpt = now
        if early is not None and early.after_step(step):
            log(f"{name}: early stop at step {step} (best validation loss at step {early.best_step})")
            break
    seconds = elapsed + time.time() - t0
    info = {"steps": step, "seconds": round(seconds, 1), "loss": (sum(recent) / len(recent)) if recent else None}
    if early is not None:
        early.restore()
        info.update(best_step=early.best_step, best_validation_loss=early.best, validation_history=early.history)
    for m in modules.values():
        m.eval()
    if main:
        atomic_save({"modules": {k: m.state_dict() for k, m in modules.items()}, "info": info}, done_path)
        if ckpt_path.exists():
            ckpt_path.unlink()
        timings.set(name, seconds=round(seconds, 1), steps=step)
    if par is not None:
        par.barrier()
    log(f"{name}: done, {step} steps in {seconds:.0f} s")
    return info
