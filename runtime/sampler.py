"""Noise-driven generators (task `sample`: DCGAN, ACGAN, StyleGAN ...): seeds → latents → uint8 images, and grids.

The ports come from the model's `interface` metadata (runtime/interface.py): one `noise` input (z), optionally one
`onehot` input (tags, in named groups) and one `scalar` input (e.g. `truncation_psi`, its default from the port);
the first output is the image, `[N, C, H, W]` in the port's range, C = 1 (replicated to RGB) or 3.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from runtime.errors import ConversionError
from runtime.interface import Interface, Port
from runtime.session import OnnxModel, _first_line, to_pixels

MAX_SEED = 2 ** 32 - 1  # NumPy's RandomState takes seeds in [0, 2**32)


class Sampler(OnnxModel):
    """A `task: sample` model: `latents(seeds)` → z, `encode_tags({...})` → the tags row, `sampler(z, tags, psi)`
    → uint8 [N, H, W, 3]."""

    runner = "sample"

    def __init__(self, path: str | Path, provider: str = "auto", threads: int = 0, spin: bool = True):
        super().__init__(path, provider, threads, spin)
        if self.interface is None:
            raise ConversionError(f"{self.path.name} says task sample but has no `interface` metadata naming its "
                                  "inputs; re-export it")
        ports = {kind: self.interface.inputs_of(kind) for kind in ("noise", "onehot", "scalar")}
        if len(ports["noise"]) != 1 or len(ports["onehot"]) > 1 or len(ports["scalar"]) > 1:
            raise ConversionError(f"{self.path.name}: a sampling model takes one noise input and at most one onehot "
                                  f"and one scalar input (it has {', '.join(p.name for p in self.interface.inputs)})")
        self.noise: Port = ports["noise"][0]
        self.tags: Port | None = (ports["onehot"] or [None])[0]
        self.scalar: Port | None = (ports["scalar"] or [None])[0]
        self.output: Port = self.interface.outputs[0]
        batch = next(a.shape[0] for a in self.graph_inputs if a.name == self.noise.name)
        self.max_batch = batch if isinstance(batch, int) and batch > 0 else None

    @property
    def z_dim(self) -> int:
        return self.noise.width

    @property
    def tag_groups(self) -> dict[str, tuple[str, ...]]:
        """group name → its value names, in port order ({} when the model takes no tags)."""
        return dict(self.tags.groups) if self.tags is not None else {}

    def describe(self) -> str:
        """One line for logs."""
        parts = [f"z {self.z_dim}"]
        if self.tags is not None:
            parts.append("tags " + ", ".join(f"{g}({len(v)})" for g, v in self.tags.groups))
        if self.scalar is not None:
            parts.append(f"{self.scalar.name} (default {self.scalar.default:g})")
        return f"{self.path.name}: {self.task}, {'; '.join(parts)}, {self.active_provider}"

    # -- inputs ---------------------------------------------------------------------------------------------------
    def latents(self, seeds: Sequence[int], sigma: float = 1.0) -> np.ndarray:
        return latents(self.z_dim, seeds, sigma)

    def encode_tags(self, tags: Mapping[str, str]) -> np.ndarray:
        return encode_tags(self._tag_port(), tags)

    def seeded_tags(self, seeds: Sequence[int]) -> np.ndarray:
        return seeded_tags(self._tag_port(), seeds)

    def _tag_port(self) -> Port:
        if self.tags is None:
            raise ConversionError(f"{self.path.name} takes no tags")
        return self.tags

    # -- running --------------------------------------------------------------------------------------------------
    def _feed(self, z: np.ndarray, tags, psi: float | None) -> dict[str, np.ndarray]:
        z = np.asarray(z, np.float32)
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ConversionError(f"z must be [N, {self.z_dim}], got {list(z.shape)}")
        feed = {self.noise.name: z}
        if self.tags is not None:
            if tags is None:
                raise ConversionError(f"{self.path.name} needs tags: {', '.join(self.tag_groups)}")
            if isinstance(tags, Mapping):
                tags = self.encode_tags(tags)
            tags = np.asarray(tags, np.float32)
            if tags.ndim == 1:
                tags = np.broadcast_to(tags, (len(z), len(tags)))
            if tags.shape != (len(z), self.tags.width):
                raise ConversionError(f"tags must be [{self.tags.width}] or [N, {self.tags.width}], "
                                      f"got {list(tags.shape)}")
            feed[self.tags.name] = np.ascontiguousarray(tags)
        elif tags is not None:
            raise ConversionError(f"{self.path.name} takes no tags")
        if self.scalar is not None:
            feed[self.scalar.name] = np.array(self.scalar.default if psi is None else psi, np.float32)
        elif psi is not None:
            raise ConversionError(f"{self.path.name} has no scalar (truncation) input")
        return feed

    def __call__(self, z: np.ndarray, tags=None, psi: float | None = None, batch: int | None = None) -> np.ndarray:
        """uint8 [N, H, W, 3] for latents z [N, z_dim]; tags: a {group: value} dict, a row [K] for every sample or
        rows [N, K]; psi: the scalar input (default: the port's). Runs in batches of `batch` (and the model's
        fixed batch size, when it has one)."""
        feed = self._feed(z, tags, psi)
        step = min(batch or len(z), self.max_batch or len(z)) or 1
        parts = []
        for i in range(0, len(z), step):
            chunk = {k: v if v.ndim == 0 else v[i:i + step] for k, v in feed.items()}  # the scalar goes whole
            try:
                (out,) = self.session.run([self.output.name], chunk)
            except Exception as exc:
                raise ConversionError(f"model {self.path.name} failed on z {list(chunk[self.noise.name].shape)}: "
                                      f"{_first_line(exc)}") from None
            if out.ndim != 4 or out.shape[1] != self.output.channels:
                raise ConversionError(f"model {self.path.name} returned shape {list(out.shape)}; its interface says "
                                      f"{list(self.output.shape)}")
            parts.append(to_pixels(out.transpose(0, 2, 3, 1), self.output.range, f"model {self.path.name}"))
        if not parts:
            raise ConversionError("no latents to sample")
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


# -- inputs from seeds and tag names (shared with MindSpore's mindspore_impl/generate.py) -------------------------
MAX_SEEDS = 65536  # a typo such as 0-1000000 should fail at once, not after hours of sampling


def latents(z_dim: int, seeds: Sequence[int], sigma: float = 1.0) -> np.ndarray:
    """float32 [len(seeds), z_dim]: row i is `np.random.RandomState(seeds[i]).randn(1, z_dim) * sigma`, the
    NVlabs seed → z rule (StyleGAN's generate scripts), so a seed here gives the z it gives there."""
    rows = []
    for seed in seeds:
        if not 0 <= int(seed) <= MAX_SEED:
            raise ConversionError(f"seed {seed} is outside 0..{MAX_SEED}")
        rows.append(np.random.RandomState(int(seed)).randn(1, z_dim) * sigma)
    return np.concatenate(rows).astype(np.float32) if rows else np.zeros((0, z_dim), np.float32)


def encode_tags(port: Port, tags: Mapping[str, str]) -> np.ndarray:
    """{group: value} for every group of a onehot port → the float32 one-hot row [K]; unknown or missing names are
    errors that list the valid ones."""
    groups = dict(port.groups)
    unknown = [g for g in tags if g not in groups]
    if unknown:
        raise ConversionError(f"unknown tag group {unknown[0]!r}; groups: {', '.join(groups)}")
    row, offset = np.zeros(port.width, np.float32), 0
    for group, values in groups.items():
        if group not in tags:
            raise ConversionError(f"missing tag group {group!r} (one of {', '.join(values)}); every group "
                                  f"needs a value: {', '.join(groups)}")
        if tags[group] not in values:
            raise ConversionError(f"unknown {group} value {tags[group]!r}; one of {', '.join(values)}")
        row[offset + values.index(tags[group])] = 1.0
        offset += len(values)
    return row


def seeded_tags(port: Port, seeds: Sequence[int]) -> np.ndarray:
    """float32 [len(seeds), K]: one value per group drawn uniformly for each seed, from NumPy's generator
    seeded with [seed, 1] (a stream apart from the z one, so z still follows the NVlabs rule)."""
    rows = []
    for seed in seeds:
        rng = np.random.default_rng([int(seed), 1])
        rows.append(encode_tags(port, {g: v[int(rng.integers(len(v)))] for g, v in port.groups}))
    return np.stack(rows) if rows else np.zeros((0, port.width), np.float32)


def parse_seeds(text: str) -> list[int]:
    """'0-15' (inclusive), '1,5,9', or a mix ('0-3,10'); in order, no repeats."""
    seeds: list[int] = []
    for item in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", item)
        if not match:
            raise ConversionError(f"--seeds {text!r}: {item.strip()!r} is not a seed or a range a-b")
        first, last = int(match[1]), int(match[2] if match[2] is not None else match[1])
        if first > last:
            raise ConversionError(f"--seeds {text!r}: range {first}-{last} runs backwards")
        if last > MAX_SEED:
            raise ConversionError(f"--seeds {text!r}: seeds go up to {MAX_SEED}")
        if len(seeds) + last - first + 1 > MAX_SEEDS:
            raise ConversionError(f"--seeds {text!r} asks for more than {MAX_SEEDS} images")
        seeds.extend(range(first, last + 1))
    seen: set[int] = set()
    for seed in seeds:
        if seed in seen:
            raise ConversionError(f"--seeds {text!r} lists seed {seed} more than once")
        seen.add(seed)
    return seeds


def parse_tags(items: Sequence[str]) -> dict[str, str]:
    """['hair=aqua', 'eye=blue'] → {'hair': 'aqua', 'eye': 'blue'}; names are checked against the model later."""
    tags: dict[str, str] = {}
    for item in items:
        group, sep, value = item.partition("=")
        group, value = group.strip(), value.strip()
        if not sep or not group or not value:
            raise ConversionError(f"--tag {item!r} is not GROUP=VALUE")
        if group in tags:
            raise ConversionError(f"--tag gives group {group!r} twice")
        tags[group] = value
    return tags


# -- grids ----------------------------------------------------------------------------------------------------------
def near_square(count: int) -> tuple[int, int]:
    """(rows, cols) for `count` cells: cols = ⌈√count⌉, as few rows as fit."""
    cols = max(1, int(np.ceil(np.sqrt(count))))
    return max(1, -(-count // cols)), cols


def make_grid(images: Sequence[np.ndarray] | np.ndarray, rows: int, cols: int,
              row_labels: Sequence[str] | None = None, col_labels: Sequence[str] | None = None,
              gutter: int = 2) -> np.ndarray:
    """Equal-size uint8 [H, W, 3] images, row by row, in a rows × cols grid with white gutters (and border) of
    `gutter` pixels; cells past the last image stay white. Labels are drawn in black with Pillow's default font in
    a left (row) or top (column) margin. Deterministic: same inputs, same pixels."""
    images = list(images)
    if rows < 1 or cols < 1:
        raise ConversionError(f"grid {rows}x{cols} needs at least one row and one column")
    if len(images) > rows * cols:
        raise ConversionError(f"{len(images)} images do not fit a {rows}x{cols} grid")
    if not images or any(im.shape != images[0].shape for im in images) or images[0].ndim != 3:
        raise ConversionError("a grid needs one or more images of one shape [H, W, 3]")
    for labels, count, what in ((row_labels, rows, "row"), (col_labels, cols, "column")):
        if labels is not None and len(labels) != count:
            raise ConversionError(f"{len(labels)} {what} labels for {count} {what}s")
    height, width = images[0].shape[:2]
    font = ImageFont.load_default()
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def size(text: str) -> tuple[int, int]:
        """Extent from the drawing origin (the font's own offsets included), so nothing is clipped."""
        _, _, right, bottom = measure.textbbox((0, 0), str(text), font=font)
        return right, bottom

    pad = 2 * gutter
    left = max((size(t)[0] for t in row_labels), default=0) + pad if row_labels is not None else 0
    top = max((size(t)[1] for t in col_labels), default=0) + pad if col_labels is not None else 0
    canvas = np.full((top + gutter + rows * (height + gutter), left + gutter + cols * (width + gutter), 3), 255,
                     np.uint8)
    for index, image in enumerate(images):
        y = top + gutter + (index // cols) * (height + gutter)
        x = left + gutter + (index % cols) * (width + gutter)
        canvas[y:y + height, x:x + width] = image
    if row_labels is None and col_labels is None:
        return canvas
    picture = Image.fromarray(canvas)
    draw = ImageDraw.Draw(picture)
    for r, text in enumerate(row_labels or ()):
        w, h = size(text)
        draw.text((gutter, top + gutter + r * (height + gutter) + (height - h) // 2), str(text), fill=(0, 0, 0),
                  font=font)
    for c, text in enumerate(col_labels or ()):
        w, h = size(text)
        draw.text((left + gutter + c * (width + gutter) + (width - w) // 2, gutter), str(text), fill=(0, 0, 0),
                  font=font)
    return np.asarray(picture)


# -- grid plans: which latent and tags go in each cell (shared with MindSpore's mindspore_impl/generate.py) --------
SIGMA_KEY = "sample_sigma"  # interface metadata: the noise scale a model is meant to be sampled at (ACGAN: 0.9)
INTERPOLATION_STEPS = 10  # images between the two ends, as the study's test.py (`samples = 10`)
FIX_HAIR_EYE_COUNT = 64  # the study's generate_by_attributes draws 64 faces


def default_sigma(metadata: Mapping[str, str] | None) -> float:
    """The model's sampling scale of z from its metadata (`sample_sigma`), else 1.0 (NVlabs' and StyleGAN2's)."""
    text = (metadata or {}).get(SIGMA_KEY)
    if text is None:
        return 1.0
    try:
        sigma = float(text)
    except ValueError:
        raise ConversionError(f"model metadata {SIGMA_KEY}={text!r} is not a number") from None
    if not (np.isfinite(sigma) and sigma >= 0):
        raise ConversionError(f"model metadata {SIGMA_KEY}={text!r} must be a finite number >= 0")
    return sigma


@dataclass(frozen=True)
class GridPlan:
    """What to sample and how to lay it out: cell i (row-major) gets z[i] and tags[i]."""

    mode: str
    z: np.ndarray  # float32 [N, z_dim]
    tags: np.ndarray | None  # float32 [N, K], or None for models without tags
    rows: int
    cols: int
    row_labels: tuple[str, ...] | None = None
    col_labels: tuple[str, ...] | None = None


def _ports(interface: Interface) -> tuple[Port, Port | None]:
    noise = interface.inputs_of("noise")
    if len(noise) != 1:
        raise ConversionError("a sampling model has one noise input")
    return noise[0], (interface.inputs_of("onehot") or [None])[0]


def sampling_modes(interface: Interface) -> list[str]:
    """The grid modes a model supports: `interpolate` always; with tags also `fix_noise`, the fixed-tags mode
    (`fix_hair_eye` for the ACGAN's hair and eye groups, generally `fix_<group>_<group>...`) and one
    `change_<group>` per tag group."""
    _, tags = _ports(interface)
    if tags is None:
        return ["interpolate"]
    groups = [g for g, _ in tags.groups]
    return ["fix_noise", "fix_" + "_".join(groups)] + [f"change_{g}" for g in groups] + ["interpolate"]


def _row(port: Port, chosen: Mapping[str, str], seed: int) -> np.ndarray:
    """One tag row: the chosen values, the other groups drawn from `seed` (as seeded_tags draws them)."""
    rng = np.random.default_rng([int(seed), 1])
    values = {g: v[int(rng.integers(len(v)))] for g, v in port.groups}
    values.update(chosen)
    return encode_tags(port, values)


def _with_value(port: Port, row: np.ndarray, group: str, value: str) -> np.ndarray:
    """`row` with `group`'s one-hot block set to `value`."""
    out, offset = row.copy(), 0
    for name, values in port.groups:
        if name == group:
            out[offset:offset + len(values)] = 0.0
            out[offset + values.index(value)] = 1.0
        offset += len(values)
    return out


def _tag_text(port: Port, row: np.ndarray, skip: str | None = None) -> str:
    parts, offset = [], 0
    for group, values in port.groups:
        if group != skip:
            parts.append(f"{group}={values[int(row[offset:offset + len(values)].argmax())]}")
        offset += len(values)
    return ", ".join(parts)


def _check_tags(port: Port | None, tags: Mapping[str, str], mode: str) -> None:
    if tags and port is None:
        raise ConversionError(f"mode {mode}: the model takes no tags")
    if port is not None:
        groups = dict(port.groups)
        for group, value in tags.items():
            if group not in groups:
                raise ConversionError(f"unknown tag group {group!r}; groups: {', '.join(groups)}")
            if value not in groups[group]:
                raise ConversionError(f"unknown {group} value {value!r}; one of {', '.join(groups[group])}")


def seeds_plan(interface: Interface, seeds: Sequence[int], rows: int, cols: int,
               tags: Mapping[str, str] | None = None, sigma: float = 1.0) -> GridPlan:
    """The plain grid: one cell per seed (z from the seed); tags as given for every cell, or drawn per seed."""
    noise, port = _ports(interface)
    tags = dict(tags or {})
    _check_tags(port, tags, "seeds")
    z = latents(noise.width, seeds, sigma)
    rows_of_tags = None
    if port is not None:
        rows_of_tags = (np.tile(encode_tags(port, tags), (len(seeds), 1)) if tags
                        else seeded_tags(port, seeds))
    return GridPlan("seeds", z, rows_of_tags, rows, cols)


def grid_plan(mode: str, interface: Interface, seed: int = 0, n: int | None = None,
              tags: Mapping[str, str] | None = None, sigma: float = 1.0) -> GridPlan:
    """The study's `test.py` grids (`-t fix_noise|fix_hair_eye|change_hair|change_eye|interpolate`), for any
    sampling model: latents come from seeds `seed`, `seed + 1`, ... by the NVlabs rule, scaled by `sigma`.

    - fix_noise: one latent (seed), every combination of the first two tag groups (columns: the first group's
      values, rows: the second's; one row for a single group);
    - fix_<groups> (fix_hair_eye): one tag set (`tags`, missing groups drawn from `seed`), `n` latents (default
      64, the study's), near-square;
    - change_<group>: `n` rows (default 1), each one latent and the other groups fixed (`tags`, or drawn from that
      row's seed), the group's values across;
    - interpolate: `n` rows (default 1), each from seed a = seed + 2r to b = a + 1 in INTERPOLATION_STEPS + 1
      equal steps of z; the tags are `tags` throughout, groups not given go from a's drawn tags to b's linearly
      (the study interpolates the class vector too).
    Unknown modes, groups and values are ConversionErrors listing the valid ones.
    """
    noise, port = _ports(interface)
    modes = sampling_modes(interface)
    if mode not in modes:
        if port is None and mode != "interpolate":
            raise ConversionError(f"mode {mode} needs a model with tags; this one takes only z (modes: "
                                  f"{', '.join(modes)})")
        raise ConversionError(f"unknown mode {mode!r}; this model's modes: {', '.join(modes)}")
    tags = dict(tags or {})
    _check_tags(port, tags, mode)
    if n is not None and n < 1:
        raise ConversionError(f"--n must be >= 1, got {n}")
    if not 0 <= int(seed) <= MAX_SEED:
        raise ConversionError(f"seed {seed} is outside 0..{MAX_SEED}")

    if mode == "fix_noise":
        (g0, v0), *rest = port.groups
        g1, v1 = rest[0] if rest else (None, ("",))
        fixed = {g: v for g, v in tags.items() if g not in (g0, g1)}
        cells = [_row(port, {**fixed, g0: a, **({g1: b} if g1 else {})}, seed) for b in v1 for a in v0]
        z = np.repeat(latents(noise.width, [seed], sigma), len(cells), axis=0)
        return GridPlan(mode, z, np.stack(cells), len(v1), len(v0),
                        tuple(f"{g1} {b}" for b in v1) if g1 else None, tuple(v0))
    if mode.startswith("fix_"):
        count = FIX_HAIR_EYE_COUNT if n is None else n
        seeds = [seed + i for i in range(count)]
        row = _row(port, tags, seed)
        rows, cols = near_square(count)
        text = _tag_text(port, row)
        return GridPlan(mode, latents(noise.width, seeds, sigma), np.tile(row, (count, 1)), rows, cols,
                        tuple(f"{text}, seed {seeds[r * cols]}" for r in range(rows)))
    if mode.startswith("change_"):
        group = mode[len("change_"):]
        values = dict(port.groups)[group]
        count = 1 if n is None else n
        fixed = {g: v for g, v in tags.items() if g != group}
        cells, labels = [], []
        for r in range(count):
            base = _row(port, fixed, seed + r)
            cells += [_with_value(port, base, group, v) for v in values]
            others = _tag_text(port, base, skip=group)
            labels.append(f"seed {seed + r}" + (f", {others}" if others else ""))
        z = np.repeat(latents(noise.width, [seed + r for r in range(count)], sigma), len(values), axis=0)
        return GridPlan(mode, z, np.stack(cells), count, len(values), tuple(labels), tuple(values))
    # interpolate
    count = 1 if n is None else n
    steps = INTERPOLATION_STEPS + 1
    t = (np.arange(steps + 1, dtype=np.float64) / steps)[:, None]
    z_rows, tag_rows, labels = [], [], []
    for r in range(count):
        a, b = seed + 2 * r, seed + 2 * r + 1
        za, zb = latents(noise.width, [a, b], sigma).astype(np.float64)
        z_rows.append(za + t * (zb - za))
        if port is not None:
            ca, cb = _row(port, tags, a).astype(np.float64), _row(port, tags, b).astype(np.float64)
            tag_rows.append(ca + t * (cb - ca))
        labels.append(f"seed {a} -> {b}")
    return GridPlan(mode, np.concatenate(z_rows).astype(np.float32),
                    np.concatenate(tag_rows).astype(np.float32) if port is not None else None, count, steps + 1,
                    tuple(labels), tuple(f"{v:.2f}" for v in t[:, 0]))
