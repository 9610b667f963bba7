"""Score colorization models on a held-out paired set: PSNR, SSIM and colourfulness, with the grey page as baseline.

    python runtime/colorize_eval.py --model G.onnx [OTHER.onnx ...] --pairs DATA [--a-dir A --b-dir B]
        [--work-side N] [--no-keep-luma] [--csv report.csv] [--grid grid.png] [--overwrite]

DATA/A holds the grey pages and DATA/B the colour pages of the same names (what datasets/colorize_pairs.py
writes); a page without its partner is reported and left out. Each model colours every grey page exactly as
runtime/colorize.py does; every row is the mean over the pages of
- PSNR (dB) and SSIM (scikit-image: `peak_signal_noise_ratio`, `structural_similarity` over RGB, data range 255)
  of the coloured page against the reference colour page;
- colourfulness (Hasler & Süsstrunk 2003: with rg = R - G and yb = (R + G)/2 - B,
  M = sqrt(σ_rg² + σ_yb²) + 0.3·sqrt(μ_rg² + μ_yb²), on 0..255 values): 0 for grey pages, the reference's own
  value is printed as the last row.
The first row is the grey page itself (replicated to RGB), so a model must beat it to have coloured anything right.
`--grid` saves rows of (grey | each model | reference) for the first pages. Needs scikit-image.
"""
from __future__ import annotations

import argparse
import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as `python runtime/colorize_eval.py`

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from runtime.cli import non_negative_int  # noqa: E402
from runtime.colorization import Colorizer, read_page  # noqa: E402
from runtime.errors import ConversionError, run_main  # noqa: E402
from runtime.imaging import FORMATS, save_image  # noqa: E402
from runtime.outputs import add_overwrite_argument, output_file, refuse_existing  # noqa: E402
from runtime.session import Generator  # noqa: E402

BASELINE = "grey page (baseline)"
REFERENCE = "reference colour pages"


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler–Süsstrunk colourfulness of an RGB8 image (see the module docstring)."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def _metrics():
    try:
        from skimage.metrics import peak_signal_noise_ratio, structural_similarity
    except ImportError:
        raise ConversionError("the evaluation needs scikit-image (pip install scikit-image)") from None
    return peak_signal_noise_ratio, structural_similarity


def scores(output: np.ndarray, reference: np.ndarray) -> tuple[float, float, float]:
    """(PSNR dB, SSIM, colourfulness) of one coloured page against its reference."""
    psnr, ssim = _metrics()
    side = min(output.shape[:2])
    window = min(7, side if side % 2 else side - 1)  # skimage's default 7, smaller for tiny pages
    return (float(psnr(reference, output, data_range=255)),
            float(ssim(reference, output, channel_axis=2, data_range=255, win_size=window)),
            colourfulness(output))


def paired_pages(grey_dir: Path, colour_dir: Path) -> list[tuple[Path, Path]]:
    """(grey, colour) files with the same stem; unmatched files are reported on stderr and left out."""
    def by_stem(folder: Path) -> dict[str, Path]:
        if not folder.is_dir():
            raise ConversionError(f"--pairs: {folder} is not a folder")
        return {p.stem: p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in FORMATS}

    greys, colours = by_stem(grey_dir), by_stem(colour_dir)
    for stem in sorted(set(greys) ^ set(colours)):
        lone = greys.get(stem) or colours.get(stem)
        print(f"warning: {lone} has no partner of the same name; left out", file=sys.stderr)
    pairs = [(greys[s], colours[s]) for s in sorted(set(greys) & set(colours))]
    if not pairs:
        raise ConversionError(f"no page of {grey_dir} has a colour page of the same name in {colour_dir}")
    return pairs


@dataclass
class Row:
    name: str
    psnr: float
    ssim: float
    colourfulness: float

    def cells(self) -> list[str]:
        return [self.name, f"{self.psnr:.2f}", f"{self.ssim:.4f}", f"{self.colourfulness:.2f}"]


def evaluate(colorizers: dict[str, Colorizer], pairs: list[tuple[Path, Path]], progress: bool = True,
             grid_pages: int = 0) -> tuple[list[Row], float, list[list[np.ndarray]]]:
    """The rows (baseline first), the references' mean colourfulness, and grid rows of the first pages."""
    totals = {name: np.zeros(3) for name in [BASELINE, *colorizers]}
    reference_colour, grid = 0.0, []
    for index, (grey_path, colour_path) in enumerate(tqdm(pairs, desc="pages", unit="page", disable=not progress,
                                                           file=sys.stderr)):
        page, reference = read_page(grey_path).rgb, read_page(colour_path).rgb
        if page.shape != reference.shape:
            raise ConversionError(f"{grey_path.name} is {page.shape[1]}x{page.shape[0]} but {colour_path.name} is "
                                  f"{reference.shape[1]}x{reference.shape[0]}")
        outputs = {BASELINE: page}
        for name, colorizer in colorizers.items():
            outputs[name] = colorizer.colorize_batch([page])[0]
        for name, out in outputs.items():
            totals[name] += scores(out, reference)
        reference_colour += colourfulness(reference)
        if index < grid_pages:
            grid.append([page, *[outputs[n] for n in colorizers], reference])
    rows = [Row(name, *(total / len(pairs))) for name, total in totals.items()]
    return rows, reference_colour / len(pairs), grid


def table(rows: list[Row], reference_colour: float, count: int) -> str:
    header = ["", "PSNR (dB)", "SSIM", "colourfulness"]
    body = [r.cells() for r in rows] + [[REFERENCE, "", "", f"{reference_colour:.2f}"]]
    widths = [max(len(line[i]) for line in [header] + body) for i in range(4)]
    lines = [" | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths)))
             for line in [header] + body]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines) + f"\n({count} held-out pages)"


def grid_image(rows: list[list[np.ndarray]], side: int = 192) -> np.ndarray:
    """Rows of pages scaled to `side` px high, with white gutters."""
    from PIL import Image

    def fit(image):
        h, w = image.shape[:2]
        width = max(1, round(w * side / h))
        return np.asarray(Image.fromarray(image).resize((width, side), Image.Resampling.LANCZOS))

    scaled = [[fit(im) for im in row] for row in rows]
    widths = [max(row[i].shape[1] for row in scaled) for i in range(len(scaled[0]))]
    pad = 4
    canvas = np.full((len(scaled) * (side + pad) + pad, sum(widths) + pad * (len(widths) + 1), 3), 255, np.uint8)
    for r, row in enumerate(scaled):
        x = pad
        for im, w in zip(row, widths):
            canvas[pad + r * (side + pad):pad + r * (side + pad) + side, x:x + im.shape[1]] = im
            x += w + pad
    return canvas


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", nargs="+", type=Path, required=True, help="ONNX colorization model(s) to score")
    p.add_argument("--pairs", type=Path, required=True, help="held-out set: PAIRS/<a-dir> grey, PAIRS/<b-dir> colour")
    p.add_argument("--a-dir", default="A", help="grey pages folder inside --pairs (default A)")
    p.add_argument("--b-dir", default="B", help="colour pages folder inside --pairs (default B)")
    p.add_argument("--work-side", type=non_negative_int, default=None,
                   help="as runtime/colorize.py (default: each model's training size; 0: full page)")
    p.add_argument("--no-keep-luma", action="store_true", help="score the models' raw outputs")
    p.add_argument("--csv", type=Path, default=None, help="also write the table as CSV")
    p.add_argument("--grid", type=Path, default=None, help="also save (grey | models | reference) rows as an image")
    p.add_argument("--grid-pages", type=int, default=4, help="pages in the --grid (default 4)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_overwrite_argument(p)
    args = p.parse_args(argv)
    outputs = [path for path in (args.csv, args.grid) if path is not None]
    refuse_existing(outputs, args.overwrite)
    _metrics()  # fail now, not after the models ran, when scikit-image is missing
    pairs = paired_pages(args.pairs / args.a_dir, args.pairs / args.b_dir)
    work_side = "auto" if args.work_side is None else (args.work_side or None)
    names = [m.stem if [n.stem for n in args.model].count(m.stem) == 1 else str(m) for m in args.model]
    colorizers = {name: Colorizer(Generator(path), work_side=work_side, keep_luma=not args.no_keep_luma)
                  for name, path in zip(names, args.model)}
    rows, reference_colour, grid = evaluate(colorizers, pairs, not args.no_progress,
                                            args.grid_pages if args.grid else 0)
    print(table(rows, reference_colour, len(pairs)))
    if args.csv is not None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["name", "psnr_db", "ssim", "colourfulness"])
        writer.writerows([r.cells() for r in rows] + [[REFERENCE, "", "", f"{reference_colour:.2f}"]])
        with output_file(args.csv) as tmp:
            tmp.write_text(buffer.getvalue())
        print(f"wrote {args.csv}")
    if args.grid is not None and grid:
        save_image(args.grid, grid_image(grid))
        print(f"wrote {args.grid}")
    return 0


if __name__ == "__main__":
    run_main(main)
