"""Runtime benchmark: model-only fps vs end-to-end video fps, and peak memory for big photos.

    python benchmarks/bench_runtime.py --model runtime/assets/demo_animeganv2.onnx
    python benchmarks/bench_runtime.py            # no --model: a random-weight, full-size AnimeGANv2 topology

Prints a markdown table. Model-only = `session.run` on an already-encoded frame. End-to-end = the whole
`VideoConverter` (decode thread → inference → encode thread, audio copy, mp4 write) on a generated clip with
AAC audio, divided by its frame count. Both use the same session (the video CLI's settings), repeats are
interleaved so that background load hits both alike, and the median is reported. Peak RSS is measured in a
fresh subprocess per case (whole-frame 1080p, tiled 4K photo). Default run: under ~5 minutes on a 2-core CPU
with a full-size model.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as `python benchmarks/bench_runtime.py`

import numpy as np  # noqa: E402

from datasets.demo_clip import render_audio, render_frames, write_clip  # noqa: E402
from runtime.errors import ConversionError, run_main  # noqa: E402
from runtime.imaging import padded_size, reflect_pad, resize  # noqa: E402
from runtime.session import Generator  # noqa: E402
from runtime.stylize import Stylizer, TileOptions  # noqa: E402
from runtime.video import VideoConverter, VideoOptions  # noqa: E402

# name → (height, width, frames in the end-to-end clip)
VIDEO_CASES = {"256²": (256, 256, 8), "512²": (512, 512, 4), "720p": (720, 1280, 3)}
# name → (height, width, tile above): 1080p runs whole, 4K with the default tiling
MEMORY_CASES = {"1080p whole frame": (1080, 1920, 10 ** 6), "4K tiled": (2160, 3840, TileOptions().above)}


def test_photo(height: int, width: int) -> np.ndarray:
    import skimage.data
    return resize(skimage.data.astronaut(), height, width)


def time_model_only(generator: Generator, height: int, width: int) -> tuple[float, float]:
    """(wall, CPU) seconds for one `session.run` on one frame (input already encoded and padded)."""
    ph, pw = padded_size(height, width, generator.spec.size_multiple)
    x = generator.encode(reflect_pad(test_photo(height, width), ph, pw)[None])
    start, cpu = time.perf_counter(), time.process_time()
    generator.session.run(None, {generator.input_name: x})
    return time.perf_counter() - start, time.process_time() - cpu


def time_end_to_end(generator: Generator, clip: Path, out: Path, frames: int) -> tuple[float, float]:
    """(wall, CPU) seconds per frame for the full video pipeline, all threads included."""
    start, cpu = time.perf_counter(), time.process_time()
    result = VideoConverter(Stylizer(generator), clip, out, VideoOptions(progress=False), log=lambda m: None).run()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    if result.frames != frames:
        raise ConversionError(f"end-to-end run wrote {result.frames} frames, expected {frames}")
    return elapsed / frames, cpu / frames


def video_rows(generator: Generator, cases: list[str], repeats: int, workdir: Path) -> list[dict]:
    rows = []
    for name in cases:
        height, width, frames = VIDEO_CASES[name]
        clip = workdir / f"clip_{height}x{width}.mp4"
        seconds = frames / 24
        write_clip(clip, render_frames(seconds, 24, (width, height)), render_audio(seconds), 24, 20)
        time_model_only(generator, height, width)  # warm-up: first run allocates and plans
        model, e2e = [], []
        for _ in range(repeats):  # interleaved, so background load affects both measurements alike
            model.append(time_model_only(generator, height, width))
            e2e.append(time_end_to_end(generator, clip, workdir / "out.mp4", frames))
        m, e = statistics.median(t for t, _ in model), statistics.median(t for t, _ in e2e)
        m_cpu, e_cpu = statistics.median(c for _, c in model), statistics.median(c for _, c in e2e)
        # CPU seconds per frame do not depend on what else runs on the machine: their ratio shows how much work
        # the pipeline adds to the model even when wall-clock figures are noisy.
        rows.append({"case": name, "model_fps": 1 / m, "e2e_fps": 1 / e, "ratio": m / e, "cpu_ratio": m_cpu / e_cpu,
                     "model_s": model, "e2e_s_per_frame": e2e})
        print(f"  {name}: model (wall, cpu) {[f'{t:.3f}/{c:.3f}' for t, c in model]} s, end-to-end "
              f"{[f'{t:.3f}/{c:.3f}' for t, c in e2e]} s/frame", file=sys.stderr)
    return rows


def memory_probe(model: str, height: int, width: int, tile_above: int, threads: int) -> dict:
    """Run inside a fresh process: stylise one photo and report peak RSS (whole process) and time."""
    generator = Generator(model, threads=threads)
    image = test_photo(height, width)
    stylizer = Stylizer(generator, tiles=TileOptions(above=tile_above), log=lambda m: None)
    start = time.perf_counter()
    out = stylizer.stylize(image)
    elapsed = time.perf_counter() - start
    assert out.shape == image.shape
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"peak_rss_mib": peak_kib / 1024, "seconds": elapsed, "tiling": stylizer.tiling_mode or "whole frame"}


def memory_rows(model: str, cases: list[str], threads: int) -> list[dict]:
    rows = []
    for name in cases:
        height, width, above = MEMORY_CASES[name]
        cmd = [sys.executable, str(Path(__file__).resolve()), "--model", model, "--threads", str(threads),
               "--probe-memory", f"{height},{width},{above}"]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise ConversionError(f"memory probe {name} failed: {done.stderr.strip().splitlines()[-1:]}")
        rows.append({"case": name, **json.loads(done.stdout.strip().splitlines()[-1])})
        print(f"  {name}: {rows[-1]}", file=sys.stderr)
    return rows


def markdown(model_label: str, video: list[dict], memory: list[dict], repeats: int) -> str:
    lines = [f"Model: {model_label}; medians of {repeats} interleaved repeats."]
    if video:
        lines += ["", "| input | model-only fps | end-to-end video fps | end-to-end / model-only | same, in CPU time |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r['case']} | {r['model_fps']:.2f} | {r['e2e_fps']:.2f} | {100 * r['ratio']:.0f}% "
                  f"| {100 * r['cpu_ratio']:.0f}% |" for r in video]
    if memory:
        lines += ["", "| photo | peak RSS (MiB) | time (s) | mode |", "|---|---|---|---|"]
        lines += [f"| {r['case']} | {r['peak_rss_mib']:.0f} | {r['seconds']:.1f} | {r['tiling']} |" for r in memory]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="ONNX generator (default: random full-size AnimeGANv2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per video case (default 3)")
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime threads (0 = its choice)")
    parser.add_argument("--video", nargs="*", default=list(VIDEO_CASES), choices=list(VIDEO_CASES))
    parser.add_argument("--memory", nargs="*", default=list(MEMORY_CASES), choices=list(MEMORY_CASES))
    parser.add_argument("--probe-memory", default=None, help=argparse.SUPPRESS)  # internal: one memory case
    args = parser.parse_args(argv)
    if args.probe_memory:
        height, width, above = (int(v) for v in args.probe_memory.split(","))
        print(json.dumps(memory_probe(args.model, height, width, above, args.threads)))
        return 0
    if args.repeats < 1:
        raise ConversionError("--repeats must be at least 1")
    with tempfile.TemporaryDirectory(prefix="bench_runtime_") as tmp:
        workdir = Path(tmp)
        model, label = args.model, args.model
        if model is None:
            from tests._runtime_helpers import build_animeganv2_generator
            # layer norm spelled as our exporter's default (Reshape → InstanceNormalization → Reshape)
            model = str(build_animeganv2_generator(workdir / "animeganv2_random.onnx", norm="instance_norm"))
            label = "random-weight AnimeGANv2 topology, full width (2,143,552 parameters)"
        generator = Generator(model, threads=args.threads, spin=False)  # the video CLI's session settings
        print(f"benchmarking {generator.describe()}", file=sys.stderr)
        video = video_rows(generator, args.video, args.repeats, workdir)
        memory = memory_rows(model, args.memory, args.threads)
    print(markdown(label, video, memory, args.repeats))
    return 0


if __name__ == "__main__":
    run_main(main)
