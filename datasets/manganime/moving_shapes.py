"""A synthetic manga → anime project whose manga pages determine the motion, run through the real data tooling.

    python datasets/manganime/moving_shapes.py --out data/moving_shapes [--episodes 8 --val 2 --size 32]

Why: the future-frame predictor must be shown to beat copying the last frame, and to read the page, without any
download. Each "episode" is a short video of shots; in a shot two flat shapes glide across a coloured background
with one velocity, and the shot's manga page says which: an arrow drawn on the page points in the direction of
motion and its number of heads gives the speed (one head: 1 unit per frame, two heads: 2 units; a unit is
`size // 32` pixels). Nothing in one frame shows where the shapes go next: only the page does.

The project is written exactly as the labelling workflow leaves a real one, and then exported by the real
`dataset_export`:
- `anime/<episode>.mp4` (H.264, through runtime/video.py's writer), `anime/config.json` (stride 1, each episode's
  manga folder, an excluded 3-frame title card at the start of every episode) and `anime/<episode>.json`, the
  labelling tool's tags: one entry per page holding that page's last kept frame;
- `manga/shapes/ep<e>/<n>.png`: greyscale pages with panel borders, screentone and a speech balloon; besides the
  arrow pages each episode has one untagged text-only page between two shots (it gets no frames, by the
  monotonicity rule) and ends with a shot whose page is untagged (frames after the last tag are unlabelled);
- `dataset/`: `triples.csv` etc. from `export_dataset(..., skip_cuts=True)`, the last `val` episodes held out.
  Consecutive shots have backgrounds of clearly different hues, so the frame pairs that straddle a shot change are
  scene cuts and are dropped.

`ground_truth.json` records every kept frame's shot, page and velocity, so tests can check the page lookup and the
motion against what was drawn.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as `python datasets/manganime/moving_shapes.py`

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from datasets.image_io import write_image_atomic  # noqa: E402
from datasets.manganime.atomic import write_json_atomic  # noqa: E402
from datasets.manganime.errors import ManganimeError  # noqa: E402

# The eight compass directions (x right, y down), as unit steps; a page's velocity is one of these times 1 or 2.
DIRECTIONS = ((1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1))
SPEEDS = (1, 2)
# Shot backgrounds cycle through three hues whose frame cosine is about 0.4-0.55, well below the scene-cut
# threshold 0.8, so `--skip-cuts` drops the pairs across a shot change (and only those: inside a shot the
# background dominates and neighbouring frames have cosine > 0.99).
BACKGROUNDS = ((200, 40, 40), (40, 190, 50), (40, 60, 210))
TITLE_FRAMES = 3  # per episode, excluded in config.json like an intro found by `preprocess.py search`
FPS = 12


@dataclass(frozen=True)
class ProjectSpec:
    """What to generate. `size`: frame side (even); `page_side`: page image side; `shot_frames`: frames per shot."""

    episodes: int = 8
    val_episodes: int = 2
    shots: int = 4
    shot_frames: int = 8
    size: int = 32
    page_side: int = 64
    seed: int = 0

    def __post_init__(self):
        if self.episodes < 2 or not 1 <= self.val_episodes < self.episodes:
            raise ManganimeError(f"need at least 2 episodes and 1..episodes-1 held out, got episodes="
                                 f"{self.episodes}, val_episodes={self.val_episodes}")
        if self.shots < 2 or self.shot_frames < 3:
            raise ManganimeError(f"need shots >= 2 and shot_frames >= 3, got {self.shots} and {self.shot_frames}")
        if self.size < 16 or self.size % 2:
            raise ManganimeError(f"size must be even and >= 16, got {self.size}")
        if self.page_side < 32:
            raise ManganimeError(f"page_side must be >= 32, got {self.page_side}")
        if self.travel >= self.size - self.shape_side - 2:
            raise ManganimeError(f"shots of {self.shot_frames} frames at {self.unit * max(SPEEDS)} px/frame leave "
                                 f"{self.size} px frames; use fewer shot_frames or a larger size")

    @property
    def unit(self) -> int:
        """Pixels per frame of speed 1."""
        return max(1, self.size // 32)

    @property
    def shape_side(self) -> int:
        return max(5, self.size // 5)

    @property
    def travel(self) -> int:
        """The most a shape moves along one axis in a shot."""
        return (self.shot_frames - 1) * self.unit * max(SPEEDS)

    def val_names(self) -> list[str]:
        return [str(e) for e in range(self.episodes - self.val_episodes, self.episodes)]


# ----------------------------------------------------------------------------------------------------- pages
def velocity_of(direction: int, speed: int, unit: int = 1) -> tuple[int, int]:
    dx, dy = DIRECTIONS[direction]
    return dx * speed * unit, dy * speed * unit


def _manga_frame(draw: ImageDraw.ImageDraw, side: int, rng: np.random.Generator) -> None:
    """Panel border, a screentone band and a speech balloon with 'text': what makes a page look like a page, and
    what a page reader must learn to ignore."""
    m = side // 16
    draw.rectangle([m, m, side - 1 - m, side - 1 - m], outline=0, width=max(1, side // 64))
    band_at_top = bool(rng.integers(2))
    band_top = 2 * m if band_at_top else side - 5 * m
    step = max(3, side // 16)
    for y in range(band_top, band_top + 3 * m, step):
        for x in range(2 * m, side - 2 * m, step):
            r = max(1, side // 96)
            draw.ellipse([x - r, y - r, x + r, y + r], fill=90)
    # the balloon goes in a corner of the other half, clear of the band and of the central arrow
    w, h = side // 4, side // 6
    x0 = 3 * m // 2 if rng.integers(2) else side - 3 * m // 2 - w
    y0 = side - 3 * m // 2 - h if band_at_top else 3 * m // 2
    draw.ellipse([x0, y0, x0 + w, y0 + h], fill=255, outline=0, width=max(1, side // 96))
    for line in range(2):
        y = y0 + h // 3 + line * h // 4
        draw.line([x0 + w // 4, y, x0 + 3 * w // 4 - line * w // 8, y], fill=40, width=max(1, side // 96))


def draw_page(direction: int, speed: int, side: int, rng: np.random.Generator) -> np.ndarray:
    """A greyscale page (uint8 [side, side]) whose central arrow points along DIRECTIONS[direction] and has
    `speed` heads."""
    page = Image.new("L", (side, side), 255)
    draw = ImageDraw.Draw(page)
    _manga_frame(draw, side, rng)
    d = np.asarray(DIRECTIONS[direction], np.float64)
    d /= np.linalg.norm(d)
    normal = np.array([-d[1], d[0]])
    centre = np.array([side / 2, side / 2])
    half = side * 0.22
    tail, tip = centre - d * half, centre + d * half
    draw.line([tuple(tail), tuple(tip - d * side * 0.05)], fill=0, width=max(2, side // 12))
    head = side * 0.13
    for k in range(speed):
        point = tip - d * k * head * 0.9
        base = point - d * head
        corners = [tuple(point), tuple(base + normal * head * 0.75), tuple(base - normal * head * 0.75)]
        draw.polygon(corners, fill=0)
    return np.asarray(page)


def draw_text_page(side: int, rng: np.random.Generator) -> np.ndarray:
    """A page with no arrow (dialogue only): the labeller tags no frame on it."""
    page = Image.new("L", (side, side), 255)
    draw = ImageDraw.Draw(page)
    _manga_frame(draw, side, rng)
    _manga_frame(draw, side, rng)
    return np.asarray(page)


# ----------------------------------------------------------------------------------------------------- frames
def _contrasting_colour(background, rng: np.random.Generator) -> np.ndarray:
    luma = np.dot(background, (0.299, 0.587, 0.114))
    level = rng.integers(200, 236) if luma < 128 else rng.integers(20, 56)
    tint = rng.integers(-20, 21, 3)
    return np.clip(level + tint, 16, 239)


def shot_frames(velocity: tuple[int, int], count: int, spec: ProjectSpec, background, rng: np.random.Generator
                ) -> list[np.ndarray]:
    """`count` frames of one shot: a square and a disc moving by `velocity` pixels per frame on a flat background,
    placed so that neither leaves the frame during the shot."""
    size, side = spec.size, spec.shape_side
    vx, vy = velocity
    shapes = []
    for kind in ("square", "disc"):
        low_x = 1 + max(0, -vx * (count - 1))
        high_x = size - side - 1 - max(0, vx * (count - 1))
        low_y = 1 + max(0, -vy * (count - 1))
        high_y = size - side - 1 - max(0, vy * (count - 1))
        start = (int(rng.integers(low_x, high_x + 1)), int(rng.integers(low_y, high_y + 1)))
        shapes.append((kind, start, _contrasting_colour(background, rng)))
    yy, xx = np.mgrid[0:side, 0:side]
    disc = (yy - (side - 1) / 2) ** 2 + (xx - (side - 1) / 2) ** 2 <= (side / 2) ** 2
    frames = []
    for t in range(count):
        frame = np.empty((size, size, 3), np.uint8)
        frame[:] = background
        for kind, (x0, y0), colour in shapes:
            x, y = x0 + vx * t, y0 + vy * t
            region = frame[y:y + side, x:x + side]
            if kind == "square":
                region[:] = colour
            else:
                region[disc] = colour
        frames.append(frame)
    return frames


def title_frame(size: int) -> np.ndarray:
    frame = np.full((size, size, 3), 128, np.uint8)
    frame[size // 2 - 2:size // 2 + 2, size // 4:3 * size // 4] = 250
    return frame


# ----------------------------------------------------------------------------------------------------- project
@dataclass
class EpisodeTruth:
    """What was drawn for one episode, in kept-frame numbers (title card removed)."""

    pages: list[str] = field(default_factory=list)            # page file names in order
    page_velocity: dict[int, list[int]] = field(default_factory=dict)  # arrow page → (vx, vy)
    tags: list[int] = field(default_factory=list)             # the tag file written
    frame_page: list[int | None] = field(default_factory=list)  # kept frame → its page (None: unlabelled)
    frame_shot: list[int] = field(default_factory=list)       # kept frame → shot index


def write_project(root: str | Path, spec: ProjectSpec = ProjectSpec()) -> dict[str, EpisodeTruth]:
    """Write `root/anime` and `root/manga` (see the module docstring) and `root/ground_truth.json`; returns the
    ground truth per episode name."""
    from runtime.video import write_frames

    root = Path(root)
    anime, manga = root / "anime", root / "manga"
    anime.mkdir(parents=True, exist_ok=True)
    config = {"stride": 1}
    truth: dict[str, EpisodeTruth] = {}
    for e in range(spec.episodes):
        rng = np.random.default_rng([spec.seed, e])
        name, folder = str(e), f"shapes/ep{e}"
        pages_dir = manga / folder
        pages_dir.mkdir(parents=True, exist_ok=True)
        frames = [title_frame(spec.size) for _ in range(TITLE_FRAMES)]
        info = EpisodeTruth()
        text_before = int(rng.integers(1, spec.shots))  # the dialogue page sits before this shot
        page_images: list[np.ndarray] = []
        for shot in range(spec.shots + 1):  # the last shot is the unlabelled tail
            if shot == text_before:
                page_images.append(draw_text_page(spec.page_side, rng))
                info.tags.append(-1)  # untagged: filled with the sentinel below
            direction, speed = int(rng.integers(len(DIRECTIONS))), int(rng.choice(SPEEDS))
            velocity = velocity_of(direction, speed, spec.unit)
            page_index = len(page_images)
            page_images.append(draw_page(direction, speed, spec.page_side, rng))
            info.page_velocity[page_index] = list(velocity)
            background = np.clip(np.asarray(BACKGROUNDS[(shot + e) % len(BACKGROUNDS)]) + rng.integers(-15, 16, 3),
                                 0, 255)
            first_kept = len(frames) - TITLE_FRAMES
            frames += shot_frames(velocity, spec.shot_frames, spec, background, rng)
            tail = shot == spec.shots
            info.tags.append(-1 if tail else len(frames) - TITLE_FRAMES - 1)
            count = len(frames) - TITLE_FRAMES - first_kept
            info.frame_page += [None if tail else page_index] * count
            info.frame_shot += [shot] * count
        kept = len(frames) - TITLE_FRAMES
        info.tags = [kept if t < 0 else t for t in info.tags]
        for index, image in enumerate(page_images):
            write_image_atomic(pages_dir / f"{index}.png", image)
            info.pages.append(f"{index}.png")
        write_frames(anime / f"{name}.mp4", frames, fps=FPS, crf=8, preset="fast")
        write_json_atomic(anime / f"{name}.json", info.tags)
        config[name] = {"manga": folder, "exclude": [[0, TITLE_FRAMES - 1]]}
        truth[name] = info
    write_json_atomic(anime / "config.json", config)
    write_json_atomic(root / "ground_truth.json", {"spec": spec.__dict__, "episodes": {
        name: info.__dict__ for name, info in truth.items()}})
    return truth


def build(root: str | Path, spec: ProjectSpec = ProjectSpec(), force: bool = False) -> dict:
    """The whole chain: write the project, then `export_dataset` it into `root/dataset` (stride 1, skipping scene
    cuts, the last `spec.val_episodes` episodes held out). Returns the export summary."""
    from datasets.manganime.dataset_export import export_dataset

    root = Path(root)
    if (root / "dataset" / "triples.csv").is_file() and not force:
        raise ManganimeError(f"{root / 'dataset'} already holds a dataset (use --force to rebuild it)")
    write_project(root, spec)
    return export_dataset(root / "anime", root / "manga", root / "dataset", stride=1, val_episodes=spec.val_names(),
                          stylegan="none", skip_cuts=True, force=True)


def load_ground_truth(root: str | Path) -> dict[str, EpisodeTruth]:
    data = json.loads((Path(root) / "ground_truth.json").read_text())
    out = {}
    for name, values in data["episodes"].items():
        values = dict(values)
        values["page_velocity"] = {int(k): v for k, v in values["page_velocity"].items()}
        out[name] = EpisodeTruth(**values)
    return out


def main(argv=None) -> int:
    defaults = ProjectSpec()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, type=Path, help="project folder (anime/, manga/, dataset/)")
    p.add_argument("--episodes", type=int, default=defaults.episodes)
    p.add_argument("--val", type=int, default=defaults.val_episodes, help="episodes held out (the last ones)")
    p.add_argument("--shots", type=int, default=defaults.shots, help="labelled shots per episode")
    p.add_argument("--shot-frames", type=int, default=defaults.shot_frames)
    p.add_argument("--size", type=int, default=defaults.size, help="frame side in pixels (even)")
    p.add_argument("--page-side", type=int, default=defaults.page_side)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--force", action="store_true", help="rebuild an existing dataset")
    args = p.parse_args(argv)
    spec = ProjectSpec(episodes=args.episodes, val_episodes=args.val, shots=args.shots,
                       shot_frames=args.shot_frames, size=args.size, page_side=args.page_side, seed=args.seed)
    summary = build(args.out, spec, force=args.force)
    print(f"wrote {args.out / 'dataset'}: {summary['triples']['train']} train and {summary['triples']['val']} "
          f"held-out triples")
    return 0


if __name__ == "__main__":
    from runtime.errors import run_main

    run_main(main)
