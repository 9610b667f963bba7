"""Export benchmark: onnxruntime CPU latency of our exported full-size AnimeGANv2 against MindSpore's graph-mode
forward of the same weights and against torch.onnx's export of the PyTorch formulation; int8 speed-up and PSNR.

    python benchmarks/bench_export.py                  # ~10 minutes on a 2-core CPU
    python benchmarks/bench_export.py --repeats 3 --sizes 256

The generator has random weights (seeded) and the PyTorch port's numerics (GroupNorm eps 1e-5, align_corners
upsampling) so that the PyTorch formulation built here computes the same function (checked, printed). Every
latency is one `session.run` / forward on a [1, 3, S, S] input; the first call is reported separately, the rest
are medians over repeats that interleave all candidates, so background load hits each alike and every ratio
comes from one run. int8 is calibrated on 256² crops of scikit-image's photos and its PSNR is measured on other
crops. Prints markdown tables.
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as `python benchmarks/bench_export.py`

import mindspore as ms  # noqa: E402
import numpy as np  # noqa: E402
import onnx  # noqa: E402
from skimage import data  # noqa: E402
from tqdm import tqdm  # noqa: E402

import mindspore_impl.models  # noqa: E402,F401
from export.api import build_model, interface_of, model_metadata, prepare_generator  # noqa: E402
from export.converters import DEFAULT_LAYER_NORM, LAYER_NORM_PATTERNS  # noqa: E402
from export.parity import make_session  # noqa: E402
from export.quantize import psnr, quantize_int8  # noqa: E402
from mindspore_impl import layers  # noqa: E402
from mindspore_impl.registry import MODELS  # noqa: E402
from runtime.errors import run_main  # noqa: E402

GENERATOR = dict(width=1.0, norm_eps=1e-5, upsample="align_corners")  # configs/animeganv2/pytorch_port.yaml
INT8, INT8_PADS_FLOAT = "ours int8 (QDQ)", "ours int8 (QDQ), reflect pads left in float"


# ------------------------------------------------------------------------------------------------ inputs

def photos() -> dict[str, np.ndarray]:
    left, right, _ = data.stereo_motorcycle()
    return {"astronaut": data.astronaut(), "coffee": data.coffee(), "chelsea": data.chelsea(),
            "rocket": data.rocket(), "motorcycle_left": left, "motorcycle_right": right,
            "hubble": data.hubble_deep_field()}


def crops(images: dict[str, np.ndarray], names, per_image: int, size: int, seed: int):
    rng = np.random.default_rng(seed)
    out = []
    for name in names:
        img = images[name]
        for _ in range(per_image):
            y = rng.integers(0, img.shape[0] - size + 1)
            x = rng.integers(0, img.shape[1] - size + 1)
            out.append((f"{name}@{y},{x}", img[y:y + size, x:x + size, :3]))
    return out


def to_input(rgb: np.ndarray) -> np.ndarray:
    return (rgb.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None].copy()


# ------------------------------------------------------------------------------------------------ torch

def torch_formulation(net):
    """The PyTorch formulation of AnimeGANv2 (as in the PyTorch port: GroupNorm(1, C), bilinear align_corners),
    with this network's padding, carrying the same weights."""
    import torch
    import torch.nn.functional as F
    from torch import nn as tnn

    class ConvNormLReLU(tnn.Module):
        def __init__(self, cell: layers.ConvNormAct):
            super().__init__()
            c = cell.conv
            self.padding = cell.pad.padding if cell.pad is not None else (0, 0, 0, 0)
            self.conv = tnn.Conv2d(c.in_ch, c.out_ch, c.kernel, c.stride, groups=c.groups, bias=c.has_bias)
            self.norm = tnn.GroupNorm(1, c.out_ch, eps=cell.norm.eps)
            self.conv.weight.data = torch.tensor(c.weight.asnumpy())
            if c.has_bias:
                self.conv.bias.data = torch.tensor(c.bias.asnumpy())
            self.norm.weight.data = torch.tensor(cell.norm.gamma.asnumpy())
            self.norm.bias.data = torch.tensor(cell.norm.beta.asnumpy())

        def forward(self, x):
            if any(self.padding):  # 1×1 convs have no pad in either formulation
                x = F.pad(x, self.padding, mode="reflect")
            return F.leaky_relu(self.norm(self.conv(x)), 0.2)

    class InvertedResBlock(tnn.Module):
        def __init__(self, cell: layers.InvertedResidual):
            super().__init__()
            expand, depthwise, project, norm = cell.layers.cell_list
            self.expand, self.depthwise = ConvNormLReLU(expand), ConvNormLReLU(depthwise)
            self.project = tnn.Conv2d(project.in_ch, project.out_ch, 1, bias=False)
            self.project.weight.data = torch.tensor(project.weight.asnumpy())
            self.norm = tnn.GroupNorm(1, project.out_ch, eps=norm.eps)
            self.norm.weight.data = torch.tensor(norm.gamma.asnumpy())
            self.norm.bias.data = torch.tensor(norm.beta.asnumpy())
            self.use_skip = cell.use_skip

        def forward(self, x):
            y = self.norm(self.project(self.depthwise(self.expand(x))))
            return x + y if self.use_skip else y

    def block(seq):
        return tnn.Sequential(*[ConvNormLReLU(c) if isinstance(c, layers.ConvNormAct) else InvertedResBlock(c)
                                for c in seq.cell_list])

    class Generator(tnn.Module):
        def __init__(self):
            super().__init__()
            self.block_a, self.block_b, self.block_c = block(net.block_a), block(net.block_b), block(net.block_c)
            self.block_d, self.block_e = block(net.block_d), block(net.block_e)
            out = net.out_layer.cell_list[0]
            self.out_layer = tnn.Conv2d(out.in_ch, out.out_ch, 1, bias=False)
            self.out_layer.weight.data = torch.tensor(out.weight.asnumpy())

        def forward(self, x):
            x = self.block_c(self.block_b(self.block_a(x)))
            x = self.block_d(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True))
            x = self.block_e(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True))
            return torch.tanh(self.out_layer(x))

    return Generator().eval()


def torch_onnx_export(module) -> onnx.ModelProto:
    """torch.onnx (TorchScript exporter: onnxscript, which the dynamo exporter needs, is not installed) with the
    same dynamic axes and opset as ours."""
    import warnings

    import torch

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, torch.zeros(1, 3, 64, 64), buffer, dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"},
                                        "output": {0: "batch", 2: "height", 3: "width"}})
    return onnx.load_from_string(buffer.getvalue())


# ------------------------------------------------------------------------------------------------ timing

def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def ort_runner(model: onnx.ModelProto, threads: int):
    # No spinning: an idle session's busy-waiting threads would slow whichever candidate runs next.
    session = make_session(model, threads=threads, spin=False)
    return lambda x: session.run(None, {"input": x})[0]


def mindspore_graph_runner(net):
    """The generator's forward in graph mode (`ms.jit`, compiled on the first call of each shape)."""
    forward = ms.jit(net.construct)
    return lambda x: forward(ms.Tensor(x)).asnumpy()


def measure(runners: dict, sizes, repeats: int, seed: int = 0, pause: float = 0.1) -> dict:
    """{(name, size): (first call, [time of each round]) in s}: first calls in turn, then `repeats` rounds that run
    every candidate once in a fresh random order (so none always follows the heavy MindSpore run), with a short
    pause between runs to let the previous one's threads go idle."""
    rng = np.random.default_rng(seed)
    results = {}
    names = list(runners)
    for size in sizes:
        x = rng.uniform(-1, 1, (1, 3, size, size)).astype(np.float32)
        first = {name: timed(lambda: runners[name](x)) for name in names}
        samples = {name: [] for name in names}
        for _ in tqdm(range(repeats), desc=f"{size}² rounds", leave=False):
            for name in rng.permutation(names):
                time.sleep(pause)
                samples[name].append(timed(lambda: runners[name](x)))
        for name in names:
            results[(name, size)] = (first[name], samples[name])
    return results


# ------------------------------------------------------------------------------------------------ main

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    p.add_argument("--repeats", type=int, default=5, help="timed rounds after the first call (median)")
    p.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads (0: its default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=float, default=1.0, help="channel multiplier (1 = full size)")
    p.add_argument("--skip-torch", action="store_true")
    p.add_argument("--skip-mindspore", action="store_true")
    p.add_argument("--calib-crops", type=int, default=3, help="256² calibration crops per photo (5 photos)")
    p.add_argument("--check-crops", type=int, default=2, help="256² check crops per photo (7 photos, 2 unseen)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    ms.set_context(mode=ms.PYNATIVE_MODE)
    ms.set_seed(args.seed)
    net = MODELS.build("animeganv2_generator", **{**GENERATOR, "width": args.width})
    net.set_train(False)

    # Ours: the default emitter through the full export path (parity-checked), plus each LayerNorm pattern.
    t = time.perf_counter()
    ours = prepare_generator(net, family="animeganv2", style="bench", progress=False)
    export_s = time.perf_counter() - t
    print(f"export (trace + checks + parity, PyNative reference): {export_s:.1f} s; {ours.parity.summary()}")
    spec = interface_of(net)
    meta = model_metadata(spec, family="animeganv2", style="bench")
    candidates = {}
    for pattern in LAYER_NORM_PATTERNS:
        candidates[f"ours fp32 (LayerNorm as {pattern})"] = build_model(net, spec, meta,
                                                                         options={"layer_norm": pattern})
    fp16 = prepare_generator(net, precision="fp16", check_sizes=[(64, 64)], check_batches=(1,), progress=False)
    candidates["ours fp16"] = fp16.model
    print(f"fp16 parity: {fp16.parity.summary()}")

    # int8: calibrate on photo crops, check on other crops.
    images = photos()
    calib_names = ["astronaut", "coffee", "chelsea", "rocket", "motorcycle_left"]
    calib = crops(images, calib_names, args.calib_crops, 256, seed=args.seed)
    check = crops(images, calib_names + ["motorcycle_right", "hubble"], args.check_crops, 256,
                  seed=args.seed + 100)
    assert not any(np.array_equal(c, k) for _, c in calib for _, k in check)
    calib_inputs = [to_input(c) for _, c in calib]
    t = time.perf_counter()
    int8 = quantize_int8(ours.model, calib_inputs)
    quant_s = time.perf_counter() - t
    candidates[INT8] = int8
    candidates[INT8_PADS_FLOAT] = quantize_int8(ours.model, calib_inputs, pads_on_uint8=False)
    fp32_session, int8_session = make_session(ours.model), make_session(int8)
    psnrs = [psnr(int8_session.run(None, {"input": to_input(c)})[0], fp32_session.run(None, {"input": to_input(c)})[0])
             for _, c in check]

    print("serialized size: " + ", ".join(f"{name} {model.ByteSize() / 1e6:.1f} MB"
                                          for name, model in candidates.items() if "primitive" not in name))
    runners = {name: ort_runner(model, args.threads) for name, model in candidates.items()}
    torch_note = ""
    if not args.skip_torch:
        try:
            import torch

            torch.set_num_threads(os.cpu_count() or 1)
            module = torch_formulation(net)
            x = np.random.default_rng(1).uniform(-1, 1, (1, 3, 64, 64)).astype(np.float32)
            with torch.no_grad():
                diff = np.abs(module(torch.tensor(x)).numpy() - net(ms.Tensor(x)).asnumpy()).max()
            torch_model = torch_onnx_export(module)
            runners["torch.onnx fp32 (PyTorch formulation)"] = ort_runner(torch_model, args.threads)
            torch_note = (f"PyTorch formulation vs MindSpore: max |diff| {diff:.2g} (torch {torch.__version__}); "
                          f"torch.onnx graph: {len(torch_model.graph.node)} nodes, ours: "
                          f"{len(ours.model.graph.node)}")
        except ImportError:
            torch_note = "torch not installed: no torch.onnx comparison"
    if not args.skip_mindspore:
        runners["MindSpore graph mode (ms.jit)"] = mindspore_graph_runner(net)

    results = measure(runners, args.sizes, args.repeats, args.seed)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    if torch_note:
        print(torch_note)
    print(f"int8: quantization {quant_s:.0f} s on {len(calib)} calibration crops; PSNR vs fp32 on {len(check)} "
          f"other crops: mean {np.mean(psnrs):.2f} dB, worst {np.min(psnrs):.2f} dB")

    default = f"ours fp32 (LayerNorm as {DEFAULT_LAYER_NORM})"
    header = "| model (onnxruntime CPU unless noted) | " + " | ".join(
        f"{s}² first call | {s}² median (min) | median vs ours fp32" for s in args.sizes) + " |"
    print()
    print(header)
    print("|---|" + "---|---|---|" * len(args.sizes))
    for name in runners:
        cells = []
        for s in args.sizes:
            first, rounds = results[(name, s)]
            median, best = statistics.median(rounds), min(rounds)
            ratio = median / statistics.median(results[(default, s)][1])
            cells.append(f"{first * 1e3:.0f} ms | {median * 1e3:.0f} ms ({best * 1e3:.0f}) | {ratio:.2f}×")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()
    def speedup(slow: str, fast: str, size: int) -> str:
        """Time of `slow` over time of `fast` (> 1: `fast` is faster): the median over rounds of the two runs'
        ratio within a round, which a slow drift in background load cancels out of, then the ratio of medians
        and of minima."""
        slow_t, fast_t = results[(slow, size)][1], results[(fast, size)][1]
        paired = statistics.median(a / b for a, b in zip(slow_t, fast_t))
        return (f"{paired:.2f}× (ratio of medians {statistics.median(slow_t) / statistics.median(fast_t):.2f}×, "
                f"of minima {min(slow_t) / min(fast_t):.2f}×)")

    torch_name = "torch.onnx fp32 (PyTorch formulation)"
    ms_name = "MindSpore graph mode (ms.jit)"
    for s in args.sizes:
        parts = [f"int8 speed-up over ours fp32 {speedup(default, INT8, s)}",
                 f"without the pad rewrite {speedup(default, INT8_PADS_FLOAT, s)}"]
        parts += [f"ours fp32 vs {label}: {speedup(name, default, s)}" for name, label in
                  ((torch_name, "torch.onnx"), (ms_name, "MindSpore graph mode")) if (name, s) in results]
        print(f"{s}²: " + "; ".join(parts))
    return 0


if __name__ == "__main__":
    run_main(main)
