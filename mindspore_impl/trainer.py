"""One trainer for every GAN family.

A family (registered in `FAMILIES`) supplies networks, optimisers, a data source and *phases*: each phase is a
number of epochs and the list of updates (loss function + optimiser) run on every batch. The trainer owns all the
rest: jit'd update steps, data-parallel gradient reduction, the loop, a tqdm bar, the loss CSV and plot, sample grids,
atomic checkpoints of everything needed to resume exactly, and the stop on NaN. Families add losses and networks,
never loops.
"""
from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import mindspore as ms
from mindspore import nn, ops

from mindspore_impl import distributed
from mindspore_impl.checkpoint_io import (CheckpointError, load_exact, params_under, read_checkpoint,
                                          save_checkpoint_atomic)
from mindspore_impl.config import save_resolved
from runtime.atomic import write_text_atomic
from runtime.errors import UserError


class TrainingError(UserError, RuntimeError):
    """Training cannot go on (NaN loss, bad checkpoint, empty data); the message says why and what was kept."""


@dataclass
class TrainConfig:
    run_dir: str = "runs/default"
    batch_size: int = 4  # per device
    seed: int = 0
    max_steps: Optional[int] = None  # stop after this many global steps (short runs, tests, benchmarks)
    log_every: int = 10
    sample_every: int = 200
    ckpt_every: int = 500
    keep_checkpoints: int = 3
    jit: bool = True  # graph-mode update steps; False runs PyNative (debugging, or less memory on CPU)
    micro_batches: int = 1  # cut each batch into this many slices, one optimiser step on their mean gradient
    device: str = "CPU"  # CPU | GPU | Ascend
    distributed: bool = False  # also switched on automatically under msrun

    def __post_init__(self):
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if self.micro_batches < 1 or self.batch_size % self.micro_batches:
            raise ValueError(f"micro_batches ({self.micro_batches}) must divide batch_size ({self.batch_size})")
        if self.device not in ("CPU", "GPU", "Ascend"):
            raise ValueError(f"device must be CPU, GPU or Ascend, got '{self.device}'")


@dataclass
class Update:
    """One optimiser step: `loss_fn(*batch[inputs]) -> (total, components)` minimised over `optimizer`'s params.

    `components` is a 1-D tensor whose entries are logged under `log_names`.
    """

    name: str
    loss_fn: Callable
    optimizer: nn.Optimizer
    inputs: Sequence[str]
    log_names: Sequence[str]
    state_update: Optional[Callable] = None  # non-gradient state (e.g. spectral-norm u), run before the step


@dataclass
class Phase:
    name: str
    epochs: int
    updates: List[Update] = field(default_factory=list)


class _CompiledUpdate:
    """An Update compiled once: forward, gradients, (all-reduce,) optimiser step.

    With micro_batches > 1 the batch is cut into that many equal slices whose gradients are averaged before one
    optimiser step. Every loss here is a mean over samples and no layer mixes samples, so the step equals the
    whole-batch step up to float rounding, while each compiled graph only holds one slice's activations
    (MindSpore's CPU graph backend keeps a graph's buffers for the graph's lifetime: 256² batch 4 in one graph
    does not fit in 24 GB).
    """

    def __init__(self, update: Update, use_jit: bool, reducer, micro_batches: int = 1):
        self.update = update
        self.micro_batches = micro_batches
        grad_fn = ms.value_and_grad(update.loss_fn, None, update.optimizer.parameters, has_aux=True)
        optimizer = update.optimizer
        state_update = update.state_update
        compile_ = ms.jit if use_jit else (lambda f: f)

        def slice_grads(*inputs):
            (total, comps), grads = grad_fn(*inputs)
            return total, comps, grads

        def apply(grads):
            if state_update is not None:  # after the forward pass(es), which used the pre-step weights and u
                grads = ops.depend(grads, state_update())
            return optimizer(reducer(grads))

        def step(*inputs):  # the whole batch in one graph
            total, comps, grads = slice_grads(*inputs)
            return ops.depend(total, apply(grads)), comps

        self.step = compile_(step)
        self.slice_grads = compile_(slice_grads)
        self.apply = compile_(apply)

    def __call__(self, batch: Dict[str, np.ndarray]) -> Dict[str, float]:
        arrays = [batch[k] for k in self.update.inputs]
        if self.micro_batches == 1:
            total, comps = self.step(*[ms.Tensor(a) for a in arrays])
            values = [float(total.asnumpy())] + [float(v) for v in comps.asnumpy().reshape(-1)]
        else:
            values, grads = self._accumulate(arrays)
            self.apply(grads)
        names = [f"{self.update.name}/total"] + [f"{self.update.name}/{n}" for n in self.update.log_names]
        return dict(zip(names, values))

    def _accumulate(self, arrays):
        n = self.micro_batches
        size = len(arrays[0])
        if size % n:
            raise TrainingError(f"batch of {size} cannot be cut into {n} equal micro-batches")
        m = size // n
        summed, logged = None, 0.0
        for i in range(n):
            total, comps, grads = self.slice_grads(*[ms.Tensor(a[i * m:(i + 1) * m]) for a in arrays])
            summed = grads if summed is None else tuple(a + g for a, g in zip(summed, grads))
            logged = logged + np.concatenate([total.asnumpy().reshape(1), comps.asnumpy().reshape(-1)])
        return [float(v) / n for v in logged], tuple(g / n for g in summed)


class Trainer:
    def __init__(self, family, cfg: TrainConfig, full_config: dict, ctx: "distributed.Context"):
        self.family = family
        self.cfg = cfg
        self.full_config = full_config
        self.ctx = ctx
        self.run_dir = Path(cfg.run_dir)
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.phases: List[Phase] = family.phases()
        self.total_epochs = sum(p.epochs for p in self.phases)
        if self.total_epochs < 1:
            raise TrainingError("the schedule has no epochs: set the phase epochs in the config")
        self.global_batch = cfg.batch_size * ctx.world
        self.steps_per_epoch = family.data.steps_per_epoch(self.global_batch)
        self._compiled: Dict[str, _CompiledUpdate] = {}
        self.state = {"epoch": 0, "step": 0, "global_step": 0}
        self._csv_fields: Optional[List[str]] = None

    # ------------------------------------------------------------------ components saved in checkpoints
    def _components(self) -> Dict[str, nn.Cell]:
        comps = dict(self.family.networks())
        comps.update({f"opt_{k}": v for k, v in self.family.optimizers().items()})
        return comps

    def _compiled_update(self, update: Update) -> _CompiledUpdate:
        if update.name not in self._compiled:
            reducer = self.ctx.grad_reducer(update.optimizer)
            self._compiled[update.name] = _CompiledUpdate(update, self.cfg.jit, reducer, self.cfg.micro_batches)
        return self._compiled[update.name]

    def phase_of(self, epoch: int) -> Phase:
        end = 0
        for phase in self.phases:
            end += phase.epochs
            if epoch < end:
                return phase
        return self.phases[-1]

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self) -> Path:
        """Everything needed to resume: every network and optimiser parameter, and the loop position."""
        if not self.ctx.is_main:
            return None
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        entries = []
        for prefix, cell in self._components().items():
            for p in cell.get_parameters():
                entries.append({"name": f"{prefix}/{p.name}", "data": p})
        gs = self.state["global_step"]
        final = save_checkpoint_atomic(entries, self.ckpt_dir / f"step_{gs:08d}.ckpt")
        # The loop position sits beside the weights: resuming from any kept checkpoint is exact.
        write_text_atomic(final.with_suffix(".json"), json.dumps(self.state))
        write_text_atomic(self.ckpt_dir / "latest.json", json.dumps({"checkpoint": final.name, **self.state}))
        self._export_generator()
        self._prune()
        return final

    def _export_generator(self):
        """A plain generator checkpoint (no prefixes, no optimiser) for inference and `export/to_onnx.py`."""
        save_checkpoint_atomic(self.family.generator, self.run_dir / "generator.ckpt")

    def _prune(self):
        ckpts = sorted(self.ckpt_dir.glob("step_*.ckpt"))
        for old in ckpts[: max(0, len(ckpts) - self.cfg.keep_checkpoints)]:
            old.unlink()
            old.with_suffix(".json").unlink(missing_ok=True)

    def load_checkpoint(self, path: Optional[str] = None) -> None:
        """Resume from `path`, or from the run directory's latest checkpoint when path is None."""
        if path is None:
            latest = self.ckpt_dir / "latest.json"
            if not latest.is_file():
                raise TrainingError(f"--resume: no checkpoint in {self.ckpt_dir}")
            path = self.ckpt_dir / json.loads(latest.read_text())["checkpoint"]
        path = Path(path)
        meta = path.with_suffix(".json")
        try:
            params = read_checkpoint(path)
            if not meta.is_file():
                raise TrainingError(f"{meta.name} (the loop position saved beside {path.name}) is missing")
            state = {k: int(v) for k, v in json.loads(meta.read_text()).items()}
            for prefix, cell in self._components().items():
                load_exact(cell, params_under(params, prefix),
                           f"checkpoint {path.name} does not match this config ({prefix})")
        except CheckpointError as e:
            raise TrainingError(str(e)) from None
        self.state = state
        self._truncate_log(self.state["global_step"])

    # ------------------------------------------------------------------ logging
    @property
    def csv_path(self) -> Path:
        return self.run_dir / "losses.csv"

    def _truncate_log(self, global_step: int):
        """On resume, drop log rows past the checkpoint so the CSV has each step once."""
        if not self.ctx.is_main or not self.csv_path.is_file():
            return
        with open(self.csv_path) as f:
            rows = list(csv.reader(f))
        if not rows:
            return
        kept = [rows[0]] + [r for r in rows[1:] if int(r[0]) <= global_step]
        write_text_atomic(self.csv_path, "".join(",".join(r) + "\n" for r in kept))

    def _log(self, row: Dict[str, float]):
        if not self.ctx.is_main:
            return
        new_file = not self.csv_path.is_file()
        if new_file:
            self._csv_fields = list(row)
        elif self._csv_fields is None:
            with open(self.csv_path) as f:
                self._csv_fields = next(csv.reader(f))
        for k in row:
            if k not in self._csv_fields:
                self._extend_csv_fields(k)
        with open(self.csv_path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self._csv_fields, restval="", lineterminator="\n")
            if new_file:
                w.writeheader()
            w.writerow(row)

    def _extend_csv_fields(self, key: str):
        """A later phase logs new columns (e.g. the adversarial losses after the content-only phase)."""
        with open(self.csv_path) as f:
            rows = list(csv.DictReader(f))
        self._csv_fields.append(key)
        lines = [",".join(self._csv_fields)] + [",".join(str(r.get(k, "")) for k in self._csv_fields) for r in rows]
        write_text_atomic(self.csv_path, "\n".join(lines) + "\n")

    def plot_losses(self) -> Optional[Path]:
        if not self.ctx.is_main or not self.csv_path.is_file():
            return None
        from mindspore_impl.plotting import plot_loss_csv

        return plot_loss_csv(self.csv_path, self.run_dir / "losses.png")

    def write_samples(self) -> Optional[Path]:
        if not self.ctx.is_main:
            return None
        from datasets.image_io import write_image_atomic

        grid = self.family.sample_grid()
        out = self.run_dir / "samples" / f"step_{self.state['global_step']:08d}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        write_image_atomic(out, grid)
        return out

    # ------------------------------------------------------------------ the loop
    def fit(self, progress: bool = True) -> dict:
        from tqdm import tqdm

        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.ctx.is_main:
            save_resolved(self.full_config, self.run_dir)
        cfg = self.cfg
        total_steps = self.total_epochs * self.steps_per_epoch
        stop_at = min(total_steps, cfg.max_steps) if cfg.max_steps else total_steps
        bar = tqdm(total=stop_at, initial=self.state["global_step"], disable=not (progress and self.ctx.is_main),
                   unit="step", dynamic_ncols=True)
        self.family.set_train(True)
        last = {}
        t0 = time.time()
        while self.state["global_step"] < stop_at:
            epoch, step = self.state["epoch"], self.state["step"]
            phase = self.phase_of(epoch)
            batch = self.family.data.batch(epoch, step, cfg.batch_size)
            logs = {}
            for update in phase.updates:
                logs.update(self._compiled_update(update)(batch))
            bad = [k for k, v in logs.items() if not math.isfinite(v)]
            if bad:
                bar.close()
                kept = sorted(self.ckpt_dir.glob("step_*.ckpt"))
                raise TrainingError(f"loss '{bad[0]}' became {logs[bad[0]]} at step {self.state['global_step'] + 1} "
                                    f"(epoch {epoch}, phase {phase.name}); stopped. Last good checkpoint: "
                                    f"{kept[-1] if kept else 'none'}")
            gs = self.state["global_step"] + 1
            next_epoch, next_step = (epoch + 1, 0) if step + 1 >= self.steps_per_epoch else (epoch, step + 1)
            self.state = {"epoch": next_epoch, "step": next_step, "global_step": gs}
            last = logs
            bar.update(1)
            bar.set_postfix({k.split("/", 1)[1] if k.endswith("total") else k.split("/")[-1]: f"{v:.3g}"
                             for k, v in list(logs.items())[:6]})
            if gs % cfg.log_every == 0 or gs == stop_at:
                self._log({"global_step": gs, "epoch": epoch, "phase": phase.name,
                           "seconds": round(time.time() - t0, 3), **logs})
            if gs % cfg.sample_every == 0 or gs == stop_at:
                self.write_samples()
            if gs % cfg.ckpt_every == 0 or gs == stop_at or next_step == 0:
                self.save_checkpoint()
                self.plot_losses()
        bar.close()
        return last


def build_trainer(cfg: dict, resume: Optional[str] = None, resume_latest: bool = False) -> Trainer:
    """Config dict → ready Trainer (context, distributed setup, family, optional resume)."""
    from mindspore_impl.config import build_dataclass, section, check_keys, ConfigError
    from mindspore_impl.registry import FAMILIES
    import mindspore_impl.families  # noqa: F401  (registers the families)

    check_keys(cfg, ("family", "generator", "discriminator", "loss", "optim", "data", "train", "export"), "config")
    if "family" not in cfg:
        raise ConfigError("config has no 'family' key (one of: " + ", ".join(FAMILIES.names()) + ")")
    tcfg = build_dataclass(TrainConfig, section(cfg, "train"), "train")
    ctx = distributed.setup(device=tcfg.device, requested=tcfg.distributed, seed=tcfg.seed)
    family = FAMILIES.get(cfg["family"])(cfg, ctx)
    trainer = Trainer(family, tcfg, cfg, ctx)
    if resume or resume_latest:
        trainer.load_checkpoint(resume)
    return trainer
