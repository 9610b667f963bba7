"""MindSpore training-step time of the full-size AnimeGANv2, and data-parallel throughput for 1 vs 2 CPU workers.

    python benchmarks/bench_train.py                     # step time at 256², batch 4 (full width), medians
    python benchmarks/bench_train.py --modes jit --size 128   # one graph per update: what fits in 24 GB at batch 4
    python benchmarks/bench_train.py --workers           # also samples/s with 1 process vs msrun 2 workers

Synthetic data (datasets/demo_style.py) and a random-weight VGG19: the arithmetic is that of a real run.
The first call of each jit'd update (graph compile) is reported separately from the steady-state median.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runtime.errors import run_main  # noqa: E402


def make_data(root: Path, size: int, count: int) -> None:
    from mindspore_impl.models.vgg19 import random_vgg19_checkpoint

    subprocess.run([sys.executable, "datasets/demo_style.py", "--output", str(root / "dataset"), "--size", str(size),
                    "--count", str(count), "--style-count", str(count), "--eval-count", "2"], cwd=ROOT, check=True,
                   capture_output=True)
    random_vgg19_checkpoint(root / "vgg19.ckpt", seed=0)


def overrides(root: Path, size: int, batch: int, width: float, run_dir: Path):
    return [f"data.root={root / 'dataset'}", "data.style=demo", f"data.image_size={size}",
            f"loss.vgg_ckpt={root / 'vgg19.ckpt'}", f"generator.width={width}", f"train.batch_size={batch}",
            f"train.run_dir={run_dir}", "train.log_every=1000000", "train.sample_every=1000000",
            "train.ckpt_every=1000000"]


STEP_SNIPPET = """
import json, resource, statistics, sys, time
sys.path.insert(0, {root!r})
from mindspore_impl.config import load_config
from mindspore_impl.trainer import build_trainer
trainer = build_trainer(load_config({config!r}, {overrides!r}))
trainer.family.set_train(True)
batch = trainer.family.data.batch(0, 0, trainer.cfg.batch_size)
out = {{}}
for phase in trainer.phases:
    updates = [trainer._compiled_update(u) for u in phase.updates]
    t0 = time.perf_counter()
    for u in updates:
        u(batch)
    first = time.perf_counter() - t0
    times = []
    for _ in range({repeats}):
        t0 = time.perf_counter()
        for u in updates:
            u(batch)
        times.append(time.perf_counter() - t0)
    out[phase.name] = {{"first_s": first, "median_s": statistics.median(times), "repeats": {repeats},
                       "updates": "+".join(u.name for u in phase.updates)}}
out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print("RESULT " + json.dumps(out))
"""


def step_times(root: Path, size: int, batch: int, width: float, repeats: int, mode: str) -> dict:
    """Time each phase's updates on one fixed batch in a fresh process: compile call, then the median of `repeats`.

    mode: "jit" (one graph per update), "jit-micro<N>" (graphs over N micro-batches), "pynative" (no graphs).
    A fresh process per mode so that its peak memory is its own.
    """
    ov = overrides(root, size, batch, width, root / f"run_{mode}")
    if mode == "pynative":
        ov.append("train.jit=false")
    elif mode.startswith("jit-micro"):
        ov.append(f"train.micro_batches={int(mode[len('jit-micro'):])}")
    elif mode != "jit":
        raise SystemExit(f"unknown mode {mode!r}: jit, jit-micro<N> or pynative")
    script = root / f"step_{mode}.py"
    script.write_text(STEP_SNIPPET.format(root=str(ROOT), config=str(ROOT / "configs/animeganv2/hayao.yaml"),
                                          overrides=ov, repeats=repeats))
    r = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True)
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    if r.returncode != 0 or not line:
        why = "killed (out of memory?)" if r.returncode < 0 else (r.stderr or r.stdout)[-1500:]
        return {"error": f"exit {r.returncode}: {why}"}
    return json.loads(line[-1][len("RESULT "):])


WORKER_SNIPPET = """
import json, sys, time
sys.path.insert(0, {root!r})
from mindspore_impl.config import load_config
from mindspore_impl.trainer import build_trainer
t = build_trainer(load_config({config!r}, {overrides!r}))
t.fit(progress=False)  # warm-up: compiles the GAN-phase graphs
warm = t.state["global_step"]
t.cfg.max_steps = warm + {steps}
t0 = time.perf_counter()
t.fit(progress=False)
dt = time.perf_counter() - t0
if t.ctx.is_main:
    print("RESULT " + json.dumps({{"seconds": dt, "steps": {steps}, "global_batch": t.global_batch}}))
"""


def throughput(root: Path, workers: int, size: int, per_rank_batch: int, steps: int) -> dict:
    """samples/s of the GAN phase for one process or `workers` msrun ranks (same per-rank batch)."""
    tmp = Path(tempfile.mkdtemp(dir=root))
    ov = overrides(root, size, per_rank_batch, 0.5, tmp / "run") + ["optim.init_epochs=0", "train.max_steps=2"]
    script = tmp / "worker.py"
    script.write_text(WORKER_SNIPPET.format(root=str(ROOT), config=str(ROOT / "configs/animeganv2/hayao.yaml"),
                                            overrides=ov, steps=steps))
    if workers == 1:
        cmd = [sys.executable, str(script)]
    else:
        cmd = ["msrun", f"--worker_num={workers}", f"--local_worker_num={workers}", "--master_port=8139",
               f"--log_dir={tmp / 'logs'}", "--join=True", str(script)]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    text = r.stdout + "".join(p.read_text() for p in sorted((tmp / "logs").glob("worker_0.log"))) \
        if workers > 1 else r.stdout
    line = [ln for ln in text.splitlines() if ln.startswith("RESULT ")]
    if r.returncode != 0 or not line:
        raise RuntimeError(f"{workers}-worker run failed:\n{(r.stderr or text)[-2000:]}")
    res = json.loads(line[-1][len("RESULT "):])
    res["samples_per_s"] = res["steps"] * res["global_batch"] / res["seconds"]
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--modes", default="jit-micro4,pynative",
                   help="comma-separated: jit (one graph per update; 256² batch 4 needs > 24 GB on CPU), "
                        "jit-micro<N> (N micro-batches per step), pynative")
    p.add_argument("--workers", action="store_true", help="also compare 1 process vs msrun --worker_num=2")
    p.add_argument("--worker-size", type=int, default=64)
    p.add_argument("--worker-steps", type=int, default=6)
    args = p.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="bench_train_"))
    try:
        make_data(root, args.size, max(8, args.batch * 2))
        print(f"\nAnimeGANv2 training step, MindSpore {__import__('mindspore').__version__}, "
              f"{os.cpu_count()} CPU cores, {args.size}², batch {args.batch}, width {args.width}\n")
        print("| mode | phase | updates | first call (compile) s | median s/step | repeats | peak RSS GB |")
        print("|---|---|---|---|---|---|---|")
        for mode in args.modes.split(","):
            res = step_times(root, args.size, args.batch, args.width, args.repeats, mode)
            if "error" in res:
                lines = [ln for ln in res["error"].splitlines() if ln.strip() and not ln.startswith("---")]
                print(f"| {mode} | failed: {lines[-1][:200] if lines else res['error']} | | | | | |", flush=True)
                continue
            peak = res.pop("peak_rss_gb")
            for name, r in res.items():
                print(f"| {mode} | {name} | {r['updates']} | {r['first_s']:.1f} | {r['median_s']:.2f} | "
                      f"{r['repeats']} | {peak:.1f} |", flush=True)
        if args.workers:
            if shutil.which("msrun") is None:
                print("\nmsrun not found: skipping the 1 vs 2 worker comparison")
                return
            small = root / "small"
            make_data(small, args.worker_size, 16)
            one = throughput(small, 1, args.worker_size, 2, args.worker_steps)
            two = throughput(small, 2, args.worker_size, 2, args.worker_steps)
            print(f"\nData-parallel GAN-phase throughput, {args.worker_size}², width 0.5, 2 images per rank, "
                  f"{args.worker_steps} timed steps after compile\n")
            print("| workers | global batch | samples/s |")
            print("|---|---|---|")
            for n, r in ((1, one), (2, two)):
                print(f"| {n} | {r['global_batch']} | {r['samples_per_s']:.2f} |")
            print(f"\nratio 2 workers / 1 process: {two['samples_per_s'] / one['samples_per_s']:.2f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    run_main(main)
