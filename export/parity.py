"""Proof that an exported graph computes what the MindSpore network computes: run both on the same random inputs
and compare. The export refuses to write a file whose difference exceeds the tolerance.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable, Sequence

import mindspore as ms
import numpy as np
import onnx
import onnxruntime as ort
from mindspore import nn
from tqdm import tqdm

from export.errors import ExportError, ParityError
from mindspore_impl import layers
from runtime.session import ModelLoadError, make_session  # noqa: F401  (make_session: re-exported for export's users)


# Foreign leaves whose MindSpore CPU kernel is less precise than float32: the reference evaluates them with our
# precise equivalent so the check measures the export. MindSpore 2.8.0's nn.Tanh is up to 1.0e-4 off for |x| in
# [4, 6], the whole fp32 tolerance; layers.Tanh (what our networks use) is precise itself and needs no entry.
ACCURATE_REFERENCE: dict[type, Callable] = {nn.Tanh: layers.Tanh()}


@contextlib.contextmanager
def _accurate_kernels():
    original = nn.Cell.__call__

    def call(cell, *args, **kwargs):
        override = ACCURATE_REFERENCE.get(type(cell))
        if override is not None and len(args) == 1 and not kwargs:
            return original(override, args[0])
        return original(cell, *args, **kwargs)

    nn.Cell.__call__ = call
    try:
        yield
    finally:
        nn.Cell.__call__ = original


def exported_session(model: onnx.ModelProto | bytes | str, threads: int = 0, spin: bool = True
                     ) -> ort.InferenceSession:
    """A CPU session from the runtime's one factory (`make_session`, re-exported here), with a load failure turned
    into the export layer's ExportError at this boundary."""
    try:
        return make_session(model, threads=threads, spin=spin)
    except ModelLoadError as e:
        raise ExportError(f"onnxruntime cannot load the exported graph: {e.reason}") from None


def reference_outputs(net: nn.Cell, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    """MindSpore's outputs for `feed` (inputs in the order of the dict), in PyNative mode."""
    args = [ms.Tensor(v) for v in feed.values()]
    with _accurate_kernels():
        out = net(*args)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o.asnumpy() for o in outs]


@dataclass
class ParityReport:
    """Max |onnxruntime − MindSpore| over every case, with the tolerance it was held to."""

    tolerance: float
    max_abs_diff: float = 0.0
    cases: list[tuple[str, float]] = field(default_factory=list)
    shapes: list[tuple[list, list]] = field(default_factory=list)  # (input shapes, output shapes) per case

    def summary(self) -> str:
        return (f"max |onnxruntime - MindSpore| = {self.max_abs_diff:.3g} over {len(self.cases)} cases "
                f"(tolerance {self.tolerance:g})")


def check_parity(net: nn.Cell, model: onnx.ModelProto, feeds: Sequence[dict[str, np.ndarray]], tolerance: float,
                 progress: bool = True) -> ParityReport:
    """Run `model` in onnxruntime and `net` in MindSpore on every feed; raise ParityError above `tolerance`."""
    session = exported_session(model)
    report = ParityReport(tolerance=tolerance)
    previous_mode = ms.get_context("mode")
    ms.set_context(mode=ms.PYNATIVE_MODE)  # one reference per shape: compiling a graph for each would cost more
    try:
        for feed in tqdm(feeds, desc="parity", unit="case", disable=not progress, leave=False):
            got = session.run(None, feed)
            want = reference_outputs(net, feed)
            label = " ".join(f"{k}{list(v.shape)}" for k, v in feed.items())
            diff = 0.0
            for g, w in zip(got, want):
                if g.shape != w.shape:
                    raise ParityError(f"{label}: onnxruntime output shape {list(g.shape)} differs from MindSpore's "
                                      f"{list(w.shape)}")
                diff = max(diff, float(np.max(np.abs(g.astype(np.float64) - w))))
            if not np.isfinite(diff):
                diff = float("inf")
            report.cases.append((label, diff))
            report.shapes.append(([list(v.shape) for v in feed.values()], [list(g.shape) for g in got]))
            report.max_abs_diff = max(report.max_abs_diff, diff)
    finally:
        ms.set_context(mode=previous_mode)
    if not report.max_abs_diff <= tolerance:
        worst = max(report.cases, key=lambda c: c[1])
        raise ParityError(f"onnxruntime differs from MindSpore by {report.max_abs_diff:.3g} (> tolerance "
                          f"{tolerance:g}) at {worst[0]}; nothing was written")
    return report
