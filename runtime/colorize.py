"""Colour grey manga pages with an ONNX colorization model (pix2pix, CycleGAN's G_A, pix2pixHD exports).

    python runtime/colorize.py                                   # the bundled demo page and demo model
    python runtime/colorize.py --model G.onnx --input page.png chapter1/ "scans/*.jpg" --output coloured/

Each output has its input's size and name (in --output; `--suffix` adds to the name). The model runs at its
training size (from its metadata; `--work-side N` to choose, 0 for the full page): the page is scaled down keeping
its aspect ratio and reflect-padded to the model's size multiple, the result is scaled back up, and its colours
are put on the page's own full-resolution luminance, so lines and screen tone stay as crisp as in the input
(`--no-keep-luma` writes the model's output as is). Every input is read and checked before anything is written:
corrupt or truncated files, images with transparency, 16-bit images and images under 2×2 stop the run with one
`error:` line (exit status 2). Existing outputs are kept unless --overwrite; inputs are never overwritten; each
file is written atomically.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as `python runtime/colorize.py`

from tqdm import tqdm  # noqa: E402

from runtime.cli import ASSETS, add_model_arguments, non_negative_int, positive_int  # noqa: E402
from runtime.colorization import Colorizer, read_page  # noqa: E402
from runtime.errors import ConversionError, run_main  # noqa: E402
from runtime.imaging import save_image  # noqa: E402
from runtime.outputs import add_overwrite_argument, prepare_output_dir  # noqa: E402
from runtime.photo import collect_inputs, plan_jobs  # noqa: E402
from runtime.session import Generator  # noqa: E402

DEMO_COLORIZER = ASSETS / "demo_pix2pix.onnx"
DEMO_PAGE = ASSETS / "demo_page.png"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", nargs="+", default=[str(DEMO_PAGE)], metavar="PATH",
                   help="pages: files, folders or glob patterns (default: the bundled demo page)")
    p.add_argument("--output", type=Path, default=Path("outputs"), help="output folder (default: outputs/)")
    p.add_argument("--suffix", default="", help="appended to each output file name (default: none, same name)")
    p.add_argument("--format", default=None, help="output format (png, jpg, ...); default: the input's")
    p.add_argument("--work-side", type=non_negative_int, default=None,
                   help="longest side the model runs at (default: its training size from the metadata, else "
                        "the full page; 0: the full page)")
    p.add_argument("--no-keep-luma", action="store_true",
                   help="write the model's output as is instead of putting its colours on the page's own "
                        "full-resolution luminance")
    p.add_argument("--batch", type=positive_int, default=1, help="same-size pages per model call (default 1)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_overwrite_argument(p)
    add_model_arguments(p, default=DEMO_COLORIZER,
                        model_help="ONNX colorization model (task colorize); default: the bundled demo")
    return p


def open_colorizer(args) -> Colorizer:
    if args.model == DEMO_COLORIZER and not DEMO_COLORIZER.is_file():
        raise ConversionError(f"demo model {DEMO_COLORIZER} not built yet (python mindspore_impl/build_demo.py "
                              f"pix2pix); pass --model PATH.onnx")
    generator = Generator(args.model, provider=args.provider, threads=args.threads)
    work_side = "auto" if args.work_side is None else (args.work_side or None)
    return Colorizer(generator, work_side=work_side, keep_luma=not args.no_keep_luma,
                     progress=not args.no_progress)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    jobs = plan_jobs(collect_inputs(args.input), args.output, args.suffix, args.format, overwrite=args.overwrite)
    colorizer = open_colorizer(args)
    for job in tqdm(jobs, desc="checking pages", unit="page", disable=args.no_progress, file=sys.stderr, leave=False):
        read_page(job.source)  # every input must decode before the first output is written
    print(f"model: {colorizer.describe()}", file=sys.stderr)
    prepare_output_dir(args.output)
    with tqdm(total=len(jobs), desc="pages", unit="page", disable=args.no_progress, file=sys.stderr,
              dynamic_ncols=True) as bar:
        for i in range(0, len(jobs), args.batch):
            chunk = jobs[i:i + args.batch]
            pages = [read_page(job.source).rgb for job in chunk]
            for job, result in zip(chunk, colorizer.colorize_batch(pages)):
                save_image(job.target, result)
                print(f"wrote {job.target}")
            bar.update(len(chunk))
    return 0


if __name__ == "__main__":
    run_main(main)
