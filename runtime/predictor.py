"""Future-frame predictors (task `predict`): the current frame, its manga page and optionally the frames before it
→ the next frame, rolled out autoregressively into a clip.

Ports, read from the model's `interface` metadata (runtime/interface.py), in this order:
- `frame`: [N, 3, H, W] in the port's range, the current frame; H and W multiples of the interface's size multiple;
- `page`: [N, C, P, Q] with C = 1 (grey) or 3, the manga page of that frame; a fixed P×Q when the network reads the
  whole page into one code (ours), else fed at the frame's size;
- `previous_1` … `previous_k` (optional): [N, 3, H, W], the frames 1 … k steps before `frame`;
- output: the next frame, [N, 3, H, W].

The input preparation here is also what training uses (datasets/manganime/triples.py), so a model sees at run time
exactly the kind of values it was trained on: frames are RGB scaled to the port's range; pages are made grey with
Pillow's 'L' luma (`runtime.imaging.luma8`) and resized with Lanczos (`runtime.imaging.resize`).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
from tqdm import tqdm

from runtime.errors import ConversionError
from runtime.imaging import luma8, resize
from runtime.interface import Port
from runtime.session import OnnxModel, _first_line, to_pixels

FRAME, PAGE, PREVIOUS = "frame", "page", "previous_{}"

# step(frame, page, previous) → next frame; float32 NCHW arrays in the model's range, previous[0] the most recent.
Step = Callable[[np.ndarray, np.ndarray, Sequence[np.ndarray]], np.ndarray]


def previous_names(context: int) -> list[str]:
    """The port names of the k earlier frames: previous_1 (one step back) … previous_k."""
    return [PREVIOUS.format(i) for i in range(1, context + 1)]


def scale_pixels(images: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """uint8 → float32 in `value_range` (0 → low, 255 → high); inverse of `session.to_pixels` up to rounding."""
    lo, hi = value_range
    return images.astype(np.float32) * np.float32((hi - lo) / 255.0) + np.float32(lo)


def frame_input(rgb: np.ndarray, value_range: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """RGB uint8 [H, W, 3] (or [N, H, W, 3]) → float32 [N, 3, H, W] in `value_range`."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.shape[-1] != 3 or rgb.ndim not in (3, 4):
        raise ConversionError(f"a frame must be RGB uint8 [H, W, 3], got {rgb.dtype} {list(rgb.shape)}")
    batch = rgb[None] if rgb.ndim == 3 else rgb
    return np.ascontiguousarray(scale_pixels(batch, value_range).transpose(0, 3, 1, 2))


def grey_page(image: np.ndarray) -> np.ndarray:
    """A page as uint8 [H, W] grey: 2-D as given, RGB through Pillow's 'L' luma (what the manga preprocessing
    stores), [H, W, 1] squeezed."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3)):
        raise ConversionError(f"a page must be a grey or RGB uint8 image, got {image.dtype} {list(image.shape)}")
    if image.ndim == 2:
        return image
    return image[..., 0] if image.shape[2] == 1 else luma8(image)


def page_input(image: np.ndarray, height: int, width: int, channels: int = 1,
               value_range: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """A page (grey or RGB uint8) → float32 [1, channels, height, width] in `value_range`: grey (replicated when
    the port takes 3 channels), Lanczos-resized to height × width."""
    grey = grey_page(image)
    if grey.shape != (height, width):
        grey = resize(grey, height, width)
    x = scale_pixels(grey, value_range)[None, None]
    return np.ascontiguousarray(np.repeat(x, channels, axis=1) if channels > 1 else x)


def fit_to_multiple(rgb: np.ndarray, multiple: int) -> np.ndarray:
    """Resize (Lanczos) so both sides are multiples of `multiple`: each side rounded to the nearest multiple, at
    least one multiple; unchanged when they already are."""
    h, w = rgb.shape[:2]
    th, tw = (max(multiple, int(round(s / multiple)) * multiple) for s in (h, w))
    return rgb if (th, tw) == (h, w) else resize(rgb, th, tw)


def rollout(step: Step, first: np.ndarray, page: np.ndarray, count: int, context: int = 0) -> Iterator[np.ndarray]:
    """Yield `count` frames (float32 [1, C, H, W]): `first`, then count - 1 predictions, each made from the one
    before it. The model's own float output is fed back (no rounding to 8 bits between steps). A model with k
    earlier-frame inputs starts with `first` repeated in all of them: a still history, as the training samples at
    the start of a shot have (datasets/manganime/triples.py repeats the earliest frame there too)."""
    if count < 1:
        raise ConversionError(f"a clip needs at least 1 frame, got {count}")
    current, history = first, [first] * context
    yield current
    for _ in range(count - 1):
        following = step(current, page, history)
        if context:
            history = [current] + history[:-1]
        current = following
        yield current


def to_frames(x: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """float32 [N, 3, H, W] in `value_range` → RGB uint8 [N, H, W, 3]."""
    return to_pixels(np.asarray(x).transpose(0, 2, 3, 1), value_range)


class FramePredictor(OnnxModel):
    """A `task: predict` ONNX model: `step(frame, page, previous)` on float arrays, `clip(first, page, frames)` on
    uint8 images."""

    runner = "predict"

    def __init__(self, path: str | Path, provider: str = "auto", threads: int = 0, spin: bool = True):
        super().__init__(path, provider, threads, spin)
        if self.interface is None:
            raise ConversionError(f"{self.path.name} says task predict but has no `interface` metadata naming its "
                                  "inputs; re-export it")
        inputs = self.interface.inputs
        expected = [FRAME, PAGE] + previous_names(len(inputs) - 2)
        if [p.name for p in inputs] != expected or any(p.kind != "image" for p in inputs):
            raise ConversionError(f"{self.path.name}: a frame predictor takes the image inputs "
                                  f"{', '.join(expected)} in this order (it has "
                                  f"{', '.join(f'{p.name} ({p.kind})' for p in inputs)})")
        self.frame: Port = inputs[0]
        self.page: Port = inputs[1]
        self.output: Port = self.interface.outputs[0]
        self.context = len(inputs) - 2
        if self.frame.channels != 3 or self.output.channels != 3 or any(p.channels != 3 for p in inputs[2:]):
            raise ConversionError(f"{self.path.name}: frames must be RGB (3 channels) in and out")
        sides = self.page.shape[2:]
        self.page_sides = tuple(sides) if all(isinstance(s, int) for s in sides) else None

    @property
    def size_multiple(self) -> int:
        return self.interface.size_multiple

    def describe(self) -> str:
        page = f"page {self.page_sides[0]}x{self.page_sides[1]}" if self.page_sides else "page at frame size"
        history = f", {self.context} earlier frame(s)" if self.context else ""
        return (f"{self.path.name}: {self.task}, {page}{history}, size multiple {self.size_multiple}, "
                f"{self.active_provider}")

    def page_tensor(self, image: np.ndarray, height: int, width: int) -> np.ndarray:
        """The page input for frames of height × width."""
        h, w = self.page_sides or (height, width)
        return page_input(image, h, w, self.page.channels, self.page.range)

    def step(self, frame: np.ndarray, page: np.ndarray, previous: Sequence[np.ndarray] = ()) -> np.ndarray:
        """The next frame (float32 [N, 3, H, W]) for float inputs already in the model's ranges."""
        if len(previous) != self.context:
            raise ConversionError(f"{self.path.name} takes {self.context} earlier frame(s), got {len(previous)}")
        feed = {FRAME: frame, PAGE: page, **dict(zip(previous_names(self.context), previous))}
        try:
            (out,) = self.session.run([self.output.name], feed)
        except Exception as exc:
            raise ConversionError(f"model {self.path.name} failed on frame {list(frame.shape)}: {_first_line(exc)}") \
                from None
        if out.shape != frame.shape:
            raise ConversionError(f"model {self.path.name} returned shape {list(out.shape)} for frame "
                                  f"{list(frame.shape)}; its interface says the next frame has the frame's shape")
        return out

    def clip(self, first_frame: np.ndarray, page: np.ndarray, frames: int, progress: bool = False
             ) -> Iterator[np.ndarray]:
        """Yield `frames` RGB uint8 frames: `first_frame` (resized to the size multiple when needed), then
        frames - 1 predictions conditioned on `page`."""
        first = fit_to_multiple(np.asarray(first_frame), self.size_multiple)
        x = frame_input(first, self.frame.range)
        page_x = self.page_tensor(page, *first.shape[:2])
        steps = rollout(self.step, x, page_x, frames, self.context)
        for x in tqdm(steps, total=frames, unit="frame", desc="predict", disable=not progress, file=sys.stderr):
            yield to_frames(x, self.output.range)[0]
