"""One trainer for every GAN family.

A family (registered in `FAMILIES`, protocol in `families/base.py`) supplies networks, optimisers, a data source and
*phases*: each phase is a number of epochs, the updates it runs on a batch (each a loss function minimised by one
optimiser, optionally only every N steps), and work to do after the optimiser steps (an EMA, a running mean, ADA's
p). Updates of one step pass values on: a loss function may return tensors (say the fakes it made) that a later
update of the same step reads, after an optional host-side `prepare` (say a history pool). The trainer owns all the
rest: jit'd update steps, data-parallel gradient reduction, the loop, a tqdm bar, the loss CSV and plot, sample
grids, atomic checkpoints of everything needed to resume exactly (networks, optimisers, loop position and the
family's host-side state), and the stop on NaN. Families add losses and networks, never loops.

Two MindSpore 2.8 facts shape this file:
- a compiled graph does not see `Parameter.set_data` made after it was compiled (the storage is replaced); eager or
  in-graph `ops.assign` is seen. So weights are loaded before the first step, and anything that changes a
  parameter between steps (EMA, dropout seeds) assigns in place;
- MindSpore's CPU random ops cannot be replayed after a restart, so training randomness comes from the host: the
  data source and families draw from NumPy (seeded by step, or a generator whose state is host state), and
  `layers.Dropout` hashes a per-update seed that this trainer sets from (seed, step, update, slice, rank).
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

from mindspore_impl import distributed, host_state, layers, run_folder
from mindspore_impl.checkpoint_io import (CheckpointError, load_exact, params_under, read_checkpoint,
                                          rename_for_graph, save_checkpoint_atomic, state_of)
from mindspore_impl.config import ConfigError, save_resolved
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
    # {network: plain checkpoint} loaded before the first step of a new run (not on --resume), e.g. weights imported
    # from a reference run with import_weights.py (junyanz --continue_train loads the networks, not the optimisers)
    init_weights: Optional[Dict[str, str]] = None

    def __post_init__(self):
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if self.micro_batches < 1 or self.batch_size % self.micro_batches:
            raise ValueError(f"micro_batches ({self.micro_batches}) must divide batch_size ({self.batch_size})")
        if self.device not in ("CPU", "GPU", "Ascend"):
            raise ValueError(f"device must be CPU, GPU or Ascend, got '{self.device}'")


@dataclass(frozen=True)
class StepInfo:
    """Where the loop is, as hooks and `prepare` functions see it."""

    epoch: int
    step: int  # within the epoch
    global_step: int  # 0-based index of the step being run
    global_batch: int  # images per step over all ranks

    @property
    def images_seen(self) -> int:
        """Images trained on before this step (stylegan2-ada's `cur_nimg`)."""
        return self.global_step * self.global_batch


@dataclass
class Update:
    """One optimiser step: `loss_fn(*values[inputs]) -> (total, components, *outputs)` minimised over `optimizer`.

    - `components` is a 1-D tensor whose entries are logged under `log_names`.
    - `outputs` names the extra tensors `loss_fn` returns after the components (not differentiated); they join the
      step's values (NumPy, concatenated over micro-batches) for the updates and hooks that follow in this step.
    - `prepare(values, info) -> dict`, when given, runs on the host before this update and adds or replaces values
      (e.g. draws a CycleGAN discriminator's fakes from its history pool).
    - `every`: run only on the steps whose 0-based index is a multiple of it (stylegan2-ada's lazy R1 every 16 and
      path-length regularisation every 4; scale their optimiser with `lazy_regularization`).
    - `state_update`: non-gradient state (spectral-norm u), run in the graph after the forward pass.
    - `replay_dropout_of`: the name of an earlier update of the same phase whose dropout masks this one draws, for a
      forward pass recomputed here (pix2pix's G update recomputes the G(A) its D update saw, as the reference
      computes it once).
    """

    name: str
    loss_fn: Callable
    optimizer: nn.Optimizer
    inputs: Sequence[str]
    log_names: Sequence[str]
    state_update: Optional[Callable] = None
    every: int = 1
    outputs: Sequence[str] = ()
    prepare: Optional[Callable[[dict, StepInfo], dict]] = None
    replay_dropout_of: Optional[str] = None

    def __post_init__(self):
        if not isinstance(self.every, int) or self.every < 1:
            raise ValueError(f"update {self.name}: every must be a positive int, got {self.every!r}")

    def runs_at(self, global_step: int) -> bool:
        return global_step % self.every == 0


@dataclass
class AfterStep:
    """Host-side work after the step's optimiser updates: `fn(info, values) -> {name: value} or None`.

    The returned values are logged as `<hook name>/<key>`. `every` as for Update. Examples: an EMA of the generator
    (`mindspore_impl/ema.py`), a running mean, ADA's augmentation probability.
    """

    name: str
    fn: Callable[[StepInfo, dict], Optional[Dict[str, float]]]
    every: int = 1

    def __post_init__(self):
        if not isinstance(self.every, int) or self.every < 1:
            raise ValueError(f"hook {self.name}: every must be a positive int, got {self.every!r}")


@dataclass
class Phase:
    name: str
    epochs: int
    updates: List[Update] = field(default_factory=list)
    after_step: List[AfterStep] = field(default_factory=list)


def lazy_regularization(lr: float, betas: Sequence[float], every: int) -> tuple[float, tuple[float, ...]]:
    """stylegan2-ada's optimiser settings for a network regularised every `every` steps (`training_loop.py`).

    The main and the regularisation update share one optimiser whose lr is scaled by c = every / (every + 1) and
    whose betas become beta ** c, because the optimiser then takes (every + 1) steps where the schedule counted
    `every`. every=1 (no lazy regularisation) leaves them unchanged.
    """
    if every <= 1:
        return float(lr), tuple(float(b) for b in betas)
    c = every / (every + 1)
    return float(lr) * c, tuple(float(b) ** c for b in betas)


def _step_seed(seed: int, global_step: int, update: int, part: int, rank: int) -> int:
    """A dropout seed for one forward pass, a pure function of where the loop is (so resume replays it)."""
    return int(np.random.SeedSequence([seed, global_step, update, part, rank]).generate_state(1)[0])


def _dropout_stream(phase: Phase, index: int) -> int:
    """The update index whose dropout seed update `index` of `phase` uses: its own, or `replay_dropout_of`'s."""
    name = phase.updates[index].replay_dropout_of
    if name is None:
        return index
    earlier = [i for i, u in enumerate(phase.updates[:index]) if u.name == name]
    if not earlier:
        raise TrainingError(f"update {phase.updates[index].name}: replay_dropout_of names '{name}', which is not an "
                            f"earlier update of phase {phase.name}")
    return earlier[0]


class _CompiledUpdate:
    """An Update compiled once: forward, gradients, (all-reduce,) optimiser step.

    With micro_batches > 1 the batch is cut into that many equal slices whose gradients are averaged before one
    optimiser step, so each compiled graph only holds one slice's activations (MindSpore's CPU graph backend keeps a
    graph's buffers for the graph's lifetime: 256² batch 4 in one graph does not fit in 24 GB). That equals the
    whole-batch step only when every loss is a mean over samples and no layer mixes samples; the Trainer refuses
    micro-batches for networks with layers that do (BatchNorm in training mode, minibatch-stddev).
    """

    def __init__(self, update: Update, use_jit: bool, reducer, micro_batches: int = 1):
        self.update = update
        self.micro_batches = micro_batches
        grad_fn = ms.value_and_grad(update.loss_fn, None, update.optimizer.parameters, has_aux=True)
        optimizer = update.optimizer
        state_update = update.state_update
        compile_ = ms.jit if use_jit else (lambda f: f)

        def slice_grads(*inputs):
            out, grads = grad_fn(*inputs)  # out = (total, components, *outputs)
            return out, grads

        def apply(grads):
            if state_update is not None:  # after the forward pass(es), which used the pre-step weights and u
                grads = ops.depend(grads, state_update())
            return optimizer(reducer(grads))

        def step(*inputs):  # the whole batch in one graph
            out, grads = slice_grads(*inputs)
            total = ops.depend(out[0], apply(grads))
            return (total,) + tuple(out[1:])

        self.step = compile_(step)
        self.slice_grads = compile_(slice_grads)
        self.apply = compile_(apply)

    def __call__(self, values: Dict[str, np.ndarray], seed_for: Callable[[int], None]) -> Dict[str, float]:
        """Run the update on `values` (adds its outputs to it); returns the logged losses."""
        arrays = [values[k] for k in self.update.inputs]
        if self.micro_batches == 1:
            seed_for(0)
            out = self.step(*[ms.Tensor(a) for a in arrays])
            logged = [float(out[0].asnumpy())] + [float(v) for v in out[1].asnumpy().reshape(-1)]
            extras = [o.asnumpy() for o in out[2:]]
        else:
            logged, extras, grads = self._accumulate(arrays, seed_for)
            self.apply(grads)
        if len(extras) != len(self.update.outputs):
            raise TrainingError(f"update {self.update.name}: its loss returned {len(extras)} output(s) after the "
                                f"components but declares {len(self.update.outputs)} ({list(self.update.outputs)})")
        values.update(zip(self.update.outputs, extras))
        names = [f"{self.update.name}/total"] + [f"{self.update.name}/{n}" for n in self.update.log_names]
        return dict(zip(names, logged))

    def _accumulate(self, arrays, seed_for):
        n = self.micro_batches
        size = len(arrays[0])
        if size % n:
            raise TrainingError(f"batch of {size} cannot be cut into {n} equal micro-batches")
        m = size // n
        summed, logged, extras = None, 0.0, []
        for i in range(n):
            seed_for(i)
            out, grads = self.slice_grads(*[ms.Tensor(a[i * m:(i + 1) * m]) for a in arrays])
            summed = grads if summed is None else tuple(a + g for a, g in zip(summed, grads))
            logged = logged + np.concatenate([out[0].asnumpy().reshape(1), out[1].asnumpy().reshape(-1)])
            extras.append([o.asnumpy() for o in out[2:]])
        outputs = [np.concatenate(parts) for parts in zip(*extras)] if extras and extras[0] else []
        return [float(v) / n for v in logged], outputs, tuple(g / n for g in summed)


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
        if cfg.micro_batches > 1:
            self._check_micro_batches_exact()
        for name, net in family.networks().items():
            rename_for_graph(net, name)
        self.global_batch = cfg.batch_size * ctx.world
        self.steps_per_epoch = family.data.steps_per_epoch(self.global_batch)
        self._compiled: Dict[str, _CompiledUpdate] = {}
        self.state = {"epoch": 0, "step": 0, "global_step": 0}
        self._csv_fields: Optional[List[str]] = None
        self.resume_changes: List[str] = []  # settings a resume changed, as accepted by build_trainer

    def _check_micro_batches_exact(self):
        """Micro-batches equal the whole-batch step only if no trained layer mixes the samples of a batch."""
        for name, net in self.family.networks().items():
            mixing = layers.sample_mixing_layers(net)
            if mixing:
                path, kind = mixing[0]
                raise ConfigError(f"train.micro_batches={self.cfg.micro_batches} is not exact for network {name}: "
                                  f"its layer '{path}' ({kind}) mixes the samples of a batch, so slices would see "
                                  f"other statistics than the whole batch; use train.micro_batches=1")

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
    def _checkpoint_files(self) -> Dict[int, Path]:
        """Kept training checkpoints by step number (names are parsed, never sorted as text)."""
        found = {}
        for path in self.ckpt_dir.glob("step_*.ckpt"):
            digits = path.stem[len("step_"):]
            if digits.isdigit():
                found[int(digits)] = path
        return dict(sorted(found.items()))

    def save_checkpoint(self) -> Path:
        """Everything needed to resume: every network and optimiser parameter, the loop position, and the family's
        host-side state (history pools, RNG states, ...)."""
        if not self.ctx.is_main:
            return None
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        entries = [{"name": f"{prefix}/{name}", "data": p}
                   for prefix, cell in self._components().items() for name, p in state_of(cell).items()]
        gs = self.state["global_step"]
        final = save_checkpoint_atomic(entries, self.ckpt_dir / f"step_{gs:08d}.ckpt")
        # The loop position and host state sit beside the weights: resuming from any kept checkpoint is exact.
        host_state.save(final.with_suffix(".state.npz"), self.family.host_state())
        write_text_atomic(final.with_suffix(".json"), json.dumps(self.state))
        write_text_atomic(self.ckpt_dir / "latest.json", json.dumps({"checkpoint": final.name, **self.state}))
        self._export_networks()
        self._prune()
        return final

    def _export_networks(self):
        """Plain checkpoints (no prefixes, no optimiser) of the networks the family exports, for inference and
        `export/to_onnx.py`: the default one as `generator.ckpt`, the others as `<name>.ckpt`. Each records which
        network it holds, so export can refuse the wrong one."""
        networks = self.family.networks()
        for index, name in enumerate(self.family.export_names()):
            target = self.run_dir / ("generator.ckpt" if index == 0 else f"{name}.ckpt")
            entries = [{"name": path, "data": p} for path, p in state_of(networks[name]).items()]
            save_checkpoint_atomic(entries, target,
                                   meta={"network": name, "family": str(self.full_config.get("family", ""))})

    def _prune(self):
        kept = self._checkpoint_files()
        for step in list(kept)[: max(0, len(kept) - self.cfg.keep_checkpoints)]:
            old = kept[step]
            old.unlink()
            old.with_suffix(".json").unlink(missing_ok=True)
            old.with_suffix(".state.npz").unlink(missing_ok=True)

    def load_initial_weights(self, paths: Dict[str, str]) -> None:
        """Load plain checkpoints into the named networks before training starts (exact names and shapes; a file
        that says it holds another network is refused)."""
        networks = self.family.networks()
        for name, path in paths.items():
            if name not in networks:
                raise ConfigError(f"train.init_weights: no network '{name}' (this family trains: "
                                  f"{', '.join(networks)})")
            try:
                params, meta = read_checkpoint(path, with_meta=True)
                stored = meta.get("network")
                if stored is not None and stored != name:
                    raise CheckpointError(f"{Path(path).name} holds network '{stored}', not '{name}'")
                load_exact(networks[name], params, f"train.init_weights.{name}: {Path(path).name} does not match")
            except CheckpointError as exc:
                raise TrainingError(str(exc)) from None

    def load_checkpoint(self, path: Optional[str] = None) -> None:
        """Resume from `path`, or from the run directory's latest checkpoint when path is None. Every file read
        here (latest.json, the checkpoint, its loop position and host state) is checked: a missing, truncated or
        corrupt one is a TrainingError naming it."""
        try:
            path = run_folder.latest_checkpoint(self.ckpt_dir) if path is None else Path(path)
            params = read_checkpoint(path)
            state = run_folder.read_position(path.with_suffix(".json"), path)
            for prefix, cell in self._components().items():
                load_exact(cell, params_under(params, prefix),
                           f"checkpoint {path.name} does not match this config ({prefix})")
            state_file = path.with_suffix(".state.npz")
            family_state = host_state.load(state_file) if state_file.is_file() else None
        except (CheckpointError, host_state.HostStateError, run_folder.RunFolderError) as e:
            raise TrainingError(str(e)) from None
        if family_state is None:
            family_state = {}
            if self.family.host_state():  # a family with host state cannot resume exactly without its file
                raise TrainingError(f"{state_file.name} (the host-side state saved beside {path.name}) is missing")
        self.family.load_host_state(family_state)
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
            start = f.tell()
            try:
                w = csv.DictWriter(f, fieldnames=self._csv_fields, restval="", lineterminator="\n")
                if new_file:
                    w.writeheader()
                w.writerow(row)
                f.flush()
            except BaseException:  # a full disk or an interrupt mid-row: no half row for the next run to parse
                f.truncate(start)
                raise

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
    def run_step(self, phase: Phase, batch: Dict[str, np.ndarray], info: StepInfo) -> Dict[str, float]:
        """One training step: the phase's updates due at this step, in order, then its after-step hooks."""
        values = dict(batch)
        logs: Dict[str, float] = {}
        for index, update in enumerate(phase.updates):
            if not update.runs_at(info.global_step):
                continue
            if update.prepare is not None:
                values.update(update.prepare(values, info))
            stream = _dropout_stream(phase, index)

            def seed_for(part: int, stream=stream):
                layers.set_dropout_seed(_step_seed(self.cfg.seed, info.global_step, stream, part, self.ctx.rank))

            logs.update(self._compiled_update(update)(values, seed_for))
        for hook in phase.after_step:
            if info.global_step % hook.every == 0:
                logs.update({f"{hook.name}/{k}": float(v) for k, v in (hook.fn(info, values) or {}).items()})
        return logs

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
            info = StepInfo(epoch=epoch, step=step, global_step=self.state["global_step"],
                            global_batch=self.global_batch)
            logs = self.run_step(phase, self.family.data.batch(epoch, step, cfg.batch_size), info)
            bad = [k for k, v in logs.items() if not math.isfinite(v)]
            if bad:
                bar.close()
                kept = list(self._checkpoint_files().values())
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


def build_trainer(cfg: dict, resume: Optional[str] = None, resume_latest: bool = False, overwrite: bool = False,
                  report: Optional[Callable[[str], None]] = None) -> Trainer:
    """Config dict → ready Trainer (context, distributed setup, family, optional resume).

    Before anything is built: the whole config is checked (Family.check_config); a resumed run's config is
    compared with the run's saved config.yaml (mindspore_impl/run_folder.py: refused changes are a TrainingError,
    accepted ones go to `report`, default stderr); a fresh run into a folder that holds a run is refused unless
    `overwrite`, which deletes the old run first. `trainer.resume_changes` lists the accepted changes.
    """
    import sys

    from mindspore_impl.config import build_dataclass, section
    from mindspore_impl.families.base import family_class

    family_cls = family_class(cfg)
    family_cls.check_config(cfg)
    tcfg = build_dataclass(TrainConfig, section(cfg, "train"), "train")
    run_dir = Path(tcfg.run_dir)
    resuming = bool(resume or resume_latest)
    if resuming and overwrite:
        raise TrainingError("--resume continues the run and --overwrite deletes it: pass one of them")
    changes: List[str] = []
    try:
        if resuming:
            checkpoint = Path(resume) if resume else run_folder.latest_checkpoint(run_dir / "checkpoints")
            changes = run_folder.check_resume_config(run_folder.saved_config_path(run_dir, checkpoint), cfg,
                                                     family_cls, TrainConfig)
        ctx = distributed.setup(device=tcfg.device, requested=tcfg.distributed, seed=tcfg.seed)
        if not resuming and ctx.is_main:  # the other ranks wait for rank 0's files, they do not judge them
            run_folder.check_fresh_run(run_dir, family_cls.export_names(), overwrite)
    except run_folder.RunFolderError as exc:
        raise TrainingError(str(exc)) from None
    if changes and ctx.is_main:
        (report or (lambda line: print(line, file=sys.stderr)))(
            f"resume: accepted changed settings: {'; '.join(changes)}")
    family = family_cls(cfg, ctx)
    trainer = Trainer(family, tcfg, cfg, ctx)
    trainer.resume_changes = changes
    if resuming:
        trainer.load_checkpoint(str(checkpoint))
    elif tcfg.init_weights:
        trainer.load_initial_weights(tcfg.init_weights)
    return trainer
