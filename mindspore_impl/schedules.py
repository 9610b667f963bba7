"""Learning-rate schedules that live inside the optimiser, so a resumed run continues them exactly.

`EpochLinearDecay` is a MindSpore `LearningRateSchedule`: nn.Adam calls it with its own `global_step` (a parameter
of the optimiser, saved in every training checkpoint), so the lr of a resumed run is a pure function of the saved
state; nothing on the host has to be restored. It computes `base_lr · factor(epoch)` with

    factor(e) = 1 - max(0, e - hold) / span          (e: the 0-based training epoch of the step)

which covers both reference rules (`LinearDecay.junyanz` / `LinearDecay.pix2pixhd`):
- junyanz `networks.get_scheduler('linear')`: `lr_l = 1 - max(0, epoch + epoch_count - n_epochs) /
  (n_epochs_decay + 1)`, a `LambdaLR` factor. With the lr set from epoch index e (its documented intent, and what
  upstream computed while it stepped the scheduler after each epoch): hold = n_epochs - epoch_count,
  span = n_epochs_decay + 1; the lr is constant for n_epochs epochs (epoch_count 1) and reaches 1/(n_epochs_decay
  + 1) in the last. Upstream's train.py now calls `update_learning_rate()` at the *start* of every epoch (commit
  fd29199), so its epoch e trains with the factor of e + 1: n_epochs - 1 epochs at the full lr and a last epoch at
  lr 0. `step_at_epoch_start=True` reproduces that (hold one less);
- pix2pixHD `update_learning_rate()` (`lr -= lr0 / niter_decay` after every epoch past `niter`): hold = niter,
  span = niter_decay, so niter + 1 epochs at the full lr, 1/niter_decay in the last.
`start_step` offsets the optimiser's step count, for an optimiser created in a later phase (pix2pixHD's joint
phase after `niter_fix_global`).
"""
from __future__ import annotations

from dataclasses import dataclass

from mindspore import nn, ops
from mindspore.common import dtype as mstype


@dataclass(frozen=True)
class LinearDecay:
    """factor(e) = 1 - max(0, e - hold) / span, clipped at 0; span 0 means no decay."""

    hold: int
    span: int

    def __post_init__(self):
        if self.span < 0:
            raise ValueError(f"the decay span must be >= 0, got {self.span}")

    @classmethod
    def junyanz(cls, n_epochs: int, n_epochs_decay: int, epoch_count: int = 1,
                step_at_epoch_start: bool = False) -> "LinearDecay":
        """junyanz's `linear` policy (see the module docstring)."""
        return cls(hold=n_epochs - epoch_count - int(step_at_epoch_start), span=n_epochs_decay + 1)

    @classmethod
    def pix2pixhd(cls, niter: int, niter_decay: int) -> "LinearDecay":
        return cls(hold=niter, span=niter_decay)

    def factor(self, epoch: int) -> float:
        if self.span == 0:
            return 1.0
        return max(0.0, 1.0 - max(0, epoch - self.hold) / self.span)


class EpochLinearDecay(nn.learning_rate_schedule.LearningRateSchedule):
    """`base_lr · schedule.factor((start_step + global_step) // steps_per_epoch)`, in the optimiser's graph."""

    def __init__(self, base_lr: float, schedule: LinearDecay, steps_per_epoch: int, start_step: int = 0):
        super().__init__()
        if steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
        self.base_lr = float(base_lr)
        self.hold, self.span = int(schedule.hold), int(schedule.span)
        self.steps_per_epoch, self.start_step = int(steps_per_epoch), int(start_step)

    def construct(self, global_step):
        if self.span == 0:
            return ops.cast(global_step * 0, mstype.float32) + self.base_lr
        epoch = ops.floor_divide(global_step + self.start_step, self.steps_per_epoch)
        past = ops.cast(ops.maximum(epoch - self.hold, 0), mstype.float32)
        return self.base_lr * ops.maximum(1.0 - past / float(self.span), 0.0)


def epoch_lrs(base_lr: float, schedule: LinearDecay, epochs: int) -> list[float]:
    """The lr of each of `epochs` epochs (for logs and docs)."""
    return [base_lr * schedule.factor(e) for e in range(epochs)]
