"""Device, mixed precision and data parallelism for the training stages.

One process (`python -m ecg2cmr_train.pipeline …`) or N under torchrun
(`torchrun --standalone --nproc_per_node N -m ecg2cmr_train.pipeline …`): each stage draws the
same *global* batch (and the same random masks, noise, phases) on every rank, as a single process
would, and each rank computes its contiguous slice of it. The modules of a step are wrapped in
DistributedDataParallel, which averages the gradients; every loss is written so that this
average is exactly the single-process gradient of the global batch:

- per-sample means over equal slices average to the global mean (the global batch must divide
  by the world size);
- the contrastive loss gathers both projections from all ranks with gradients
  (`torch.distributed.nn.all_gather`), so every rank computes the loss over the whole global
  batch with all its negatives; the gather's backward sums the ranks' gradients (×N) and the DDP
  average divides them again;
- a mean over a subset whose size varies by slice (the cardiomyopathy subtype loss) is a sum over
  the slice divided by the global subset size, times N.

Rank 0 alone writes checkpoints, caches, logs and the bundle; the others wait at barriers.
Mixed precision runs on CUDA only: bf16 autocast where the GPU supports it, else fp16 autocast
with a GradScaler. On the CPU everything stays float32.
"""
from __future__ import annotations

import contextlib
import os
import time

import numpy as np
import torch
import torch.distributed as dist


class Parallel:
    """This process's place in the run: device, rank, world size, precision."""

    def __init__(self, device: str = "auto", precision: str = "auto"):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device not in ("cuda", "cpu"):
            raise ValueError(f"--device must be cuda, cpu or auto, not {device!r}")
        if device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("--device cuda: no CUDA device is visible to PyTorch")
        if device == "cuda":
            torch.cuda.set_device(self.local_rank % torch.cuda.device_count())
            self.device = torch.device("cuda", torch.cuda.current_device())
        else:
            self.device = torch.device("cpu")
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if device == "cuda" else "gloo")
        if precision == "auto":
            precision = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if device == "cuda" else "fp32"
        if precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"--precision must be fp32, bf16, fp16 or auto, not {precision!r}")
        if precision != "fp32" and device != "cuda":
            raise ValueError(f"--precision {precision} needs --device cuda (the CPU path is float32)")
        self.precision = precision
        self.scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def local(self, n: int) -> slice:
        """This rank's rows of a global batch of n."""
        if n % self.world:
            raise ValueError(f"a global batch of {n} does not divide among {self.world} processes: "
                             f"make every stage's batch a multiple of the process count")
        k = n // self.world
        return slice(self.rank * k, (self.rank + 1) * k)

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        """The module on this device, in DistributedDataParallel when there are several ranks."""
        module.to(self.device)
        if self.world == 1:
            return module
        ids = [self.device.index] if self.device.type == "cuda" else None
        # Stages train parts of larger modules (the MDM stage leaves the projection unused).
        return torch.nn.parallel.DistributedDataParallel(module, device_ids=ids, find_unused_parameters=True)

    def gather(self, t: torch.Tensor) -> torch.Tensor:
        """All ranks' slices in rank order, differentiable (the contrastive negatives)."""
        if self.world == 1:
            return t
        import torch.distributed.nn as dnn
        return torch.cat(dnn.all_gather(t.contiguous()), 0)

    def autocast(self):
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast("cuda", dtype=torch.bfloat16 if self.precision == "bf16" else torch.float16)

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, params, clip: float | None = 1.0) -> None:
        """Backward, optional gradient-norm clip, optimiser step (scaled when fp16)."""
        optimizer.zero_grad(set_to_none=True)
        if self.scaler is None:
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(params, clip)
            optimizer.step()
            return
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(optimizer)
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(params, clip)
        self.scaler.step(optimizer)
        self.scaler.update()

    def to(self, x):
        """Tensors (or dicts of tensors) onto this device."""
        if isinstance(x, dict):
            return {k: self.to(v) for k, v in x.items()}
        if isinstance(x, np.ndarray):
            x = torch.from_numpy(x)
        return x.to(self.device, non_blocking=True)

    def close(self) -> None:
        """Leave the process group once every rank is done with it.

        The ranks meet in the rendezvous store (TCP, held by torchrun's agent), not in gloo: a
        rank counts itself done only after its last collective returned, so once all have, no gloo
        message is in flight; they meet again once all have torn gloo down, so no rank exits (and
        closes its sockets) while a peer's gloo threads still run. A gloo barrier then
        `destroy_process_group` was not enough: under load a rank aborted at exit ("terminate
        called without an active exception", exit −6, after all its work) in 4 of 39 two-rank runs
        on a busy 2-core machine, and twice in CI; with these meetings 0 of 90 (docs/cluster.md,
        training/teardown_stress.py)."""
        if self.world == 1 or not dist.is_initialized():
            return
        store = dist.distributed_c10d._get_default_store()
        self._meet(store, "ecg2cmr/collectives-done")
        dist.destroy_process_group()
        self._meet(store, "ecg2cmr/gloo-closed")
        # Without torchrun's agent store, rank 0 holds the store: it leaves last, so no rank
        # polls a store that has gone.
        self._meet(store, "ecg2cmr/left", wait=self.main)

    def _meet(self, store, key: str, wait: bool = True) -> None:
        """Count this rank in at `key`; with `wait`, return once every rank has."""
        store.add(key, 1)
        if not wait:
            return
        deadline = time.monotonic() + 600
        while int(store.add(key, 0)) < self.world:
            if time.monotonic() > deadline:
                raise RuntimeError(f"rank {self.rank}: the other ranks did not reach {key} within 10 min of this one")
            time.sleep(0.02)


class StepModule(torch.nn.Module):
    """The modules one stage trains plus that stage's forward, so that DistributedDataParallel
    sees the whole step (its gradient hooks sit on exactly these parameters)."""

    def __init__(self, modules: dict, forward):
        super().__init__()
        self.parts = torch.nn.ModuleDict(modules)
        self._forward = forward

    def forward(self, *args, **kwargs):
        return self._forward(*args, **kwargs)
