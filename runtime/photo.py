"""Photo conversion: expand inputs (files, folders, globs), plan outputs that never overwrite inputs (nor, without
--overwrite, existing files), convert; an unreadable photo is skipped and reported, the others still converted."""
from __future__ import annotations

import glob
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from runtime.errors import ConversionError
from runtime.imaging import FORMATS, check_image_suffix, load_image, save_image
from runtime.outputs import check_name_part, prepare_output_dir, refuse_existing
from runtime.stylize import Stylizer


@dataclass(frozen=True)
class PhotoJob:
    source: Path
    target: Path


def collect_inputs(specs: list[str | Path]) -> list[Path]:
    """Files as given, folders' images (not recursive), glob matches; in order, without duplicates."""
    found: list[Path] = []
    for spec in map(str, specs):
        path = Path(spec)
        if path.is_dir():
            matches = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in FORMATS)
            if not matches:
                raise ConversionError(f"no images ({', '.join(sorted(FORMATS))}) in folder {path}")
        elif path.is_file():
            check_image_suffix(path)
            matches = [path]
        elif glob.has_magic(spec):
            matches = sorted(Path(p) for p in glob.glob(spec, recursive=True)
                             if Path(p).is_file() and Path(p).suffix.lower() in FORMATS)
            if not matches:
                raise ConversionError(f"no images match {spec!r}")
        else:
            raise ConversionError(f"input not found: {path}")
        found.extend(matches)
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise ConversionError("no input images given")
    return unique


def plan_jobs(inputs: list[Path], output_dir: Path, suffix: str = "_anime", fmt: str | None = None,
              overwrite: bool = False) -> list[PhotoJob]:
    """<output_dir>/<stem><suffix><ext>; refuses to overwrite an input, to write two results to one file, a suffix
    with a path separator, and (unless `overwrite`) any existing file, e.g. one that `--suffix ""` reaches."""
    check_name_part(suffix, "--suffix")
    if fmt is not None:
        check_name_part(fmt, "--format")
    if fmt is not None and not fmt.startswith("."):
        fmt = "." + fmt
    if fmt is not None and fmt.lower() not in FORMATS:
        raise ConversionError(f"unsupported output format {fmt!r}; supported: {', '.join(sorted(FORMATS))}")
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise ConversionError(f"output {output_dir} exists and is not a folder")
    sources = {p.resolve() for p in inputs}
    jobs, targets = [], {}
    for source in inputs:
        target = output_dir / f"{source.stem}{suffix}{fmt or source.suffix.lower()}"
        resolved = target.resolve()
        if resolved in sources:
            raise ConversionError(f"refusing to overwrite the input {source}; choose another --output or --suffix")
        if resolved in targets:
            raise ConversionError(f"{targets[resolved]} and {source} would both be written to {target}")
        targets[resolved] = source
        jobs.append(PhotoJob(source, target))
    refuse_existing([job.target for job in jobs], overwrite)
    return jobs


def convert_photos(stylizer: Stylizer, jobs: list[PhotoJob], batch: int = 1, progress: bool = True,
                   report: Callable[[str], None] | None = None) -> tuple[list[Path], list[str]]:
    """Convert every job (same-size photos share a model batch); each output is written atomically.

    A photo that cannot be read is skipped: `report` gets one line for it (default: stderr, above the progress
    bar) and the others are still converted (a single photo's read error is raised as it is). Returns (written
    paths, skip lines); ConversionError when none of the photos could be read. Failures to write (a full disk)
    stop the run: the next photo would fail the same way.
    """
    report = report or (lambda line: tqdm.write(line, file=sys.stderr))
    skip = len(jobs) > 1  # one photo alone: its read error is the command's error
    if jobs:
        prepare_output_dir(jobs[0].target.parent)
    written, skipped = [], []
    with tqdm(total=len(jobs), unit="img", desc="photos", disable=not progress, file=sys.stderr,
              dynamic_ncols=True) as bar:
        for i in range(0, len(jobs), batch):
            loaded = []
            for job in jobs[i:i + batch]:
                try:
                    loaded.append((job, load_image(job.source)))
                except ConversionError as exc:
                    if not skip:
                        raise
                    skipped.append(f"skipped: {exc}")
                    report(skipped[-1])
            results = stylizer.stylize_batch([image.rgb for _, image in loaded]) if loaded else []
            for (job, image), result in zip(loaded, results):
                written.append(save_image(job.target, result, image.alpha))
            bar.update(min(batch, len(jobs) - i))
    if not written and skipped:
        raise ConversionError(f"none of the {len(jobs)} photo(s) could be read")
    return written, skipped
