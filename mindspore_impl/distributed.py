"""Device and data-parallel setup on MindSpore's own engine (msrun / init / DistributedGradReducer).

Every rank gets the same seed (so networks start identical without a broadcast, which mindcv notes errors on GPU),
reads its own shard of each global batch, and averages gradients through one reducer per optimiser.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import mindspore as ms
from mindspore import nn


def launched_by_msrun() -> bool:
    # msrun exports the cluster role to every process it spawns: the workers (MS_WORKER) and the scheduler
    # (MS_SCHED), which runs this same script and must reach init() too, where it serves the cluster.
    return os.environ.get("MS_ROLE") in ("MS_WORKER", "MS_SCHED")


@dataclass
class Context:
    rank: int = 0
    world: int = 1
    device: str = "CPU"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def grad_reducer(self, optimizer: nn.Optimizer):
        if not self.distributed:
            return _identity
        return nn.DistributedGradReducer(optimizer.parameters, mean=True, degree=self.world)


def _identity(grads):
    return grads


def select_device(device: str) -> None:
    """ms.set_device, tolerated when this process already runs kernels on that same device.

    MindSpore refuses set_device once any kernel has run, even for the device in use (tests and notebooks build
    several trainers in one process); switching to another device then is a real error.
    """
    current = ms.get_context("device_target")  # read first: set_device records the new target even when refused
    try:
        ms.set_device(device)
    except RuntimeError:
        if current != device:
            raise RuntimeError(f"cannot switch to device {device}: this process already runs on {current}") from None


def setup(device: str = "CPU", requested: bool = False, seed: int = 0) -> Context:
    """Set the device, join the cluster when asked or when launched by msrun, and seed every rank alike."""
    ms.set_context(mode=ms.PYNATIVE_MODE)  # update steps are compiled with ms.jit; the rest stays eager
    select_device(device)
    ctx = Context(device=device)
    if requested or launched_by_msrun():
        from mindspore.communication import init, get_rank, get_group_size

        ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True)
        init()
        ctx = Context(rank=get_rank(), world=get_group_size(), device=device)
    ms.set_seed(seed)
    return ctx
