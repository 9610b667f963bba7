"""The study's three config.json files, read and validated in one place.

* manga folder (`data/manga/<title>/<volume>/config.json`): `start`, `end`, `exclude`, `crop`.
* anime folder (`preprocess/anime/<title>/config.json`): per episode (key = video file stem)
  `{exclude: [[a, b], ...], manga: "glt/vol1", pages: [i, j], include: true}`, plus `intro`/`outro` blocks
  `{image, left, right}` and an optional `stride`.
* root (`config.json` where label.py runs): `anime_path`, `manga_path`.

Every bad value becomes a ManganimeError naming the file and the key, so a typo never silently changes data.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from datasets.manganime.atomic import read_json, write_json_atomic
from datasets.manganime.errors import ManganimeError

CONFIG_NAME = "config.json"
REFERENCE_KINDS = ("intro", "outro")


def _int(value, where: str, minimum: int = 0) -> int:
    """`value` as an int >= minimum (bools rejected: JSON `true` is not a frame count)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ManganimeError(f"{where} must be an integer, got {value!r}")
    if value < minimum:
        raise ManganimeError(f"{where} must be >= {minimum}, got {value}")
    return value


def _check_keys(block: dict, allowed, where: str) -> None:
    """Reject unknown keys, which are almost always typos (`exlude`) that would otherwise be ignored."""
    if not isinstance(block, dict):
        raise ManganimeError(f"{where} must be a JSON object, got {type(block).__name__}")
    unknown = sorted(set(block) - set(allowed))
    if unknown:
        raise ManganimeError(f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")


def _read_object(path: Path, what: str) -> dict:
    data = read_json(path, what)
    if not isinstance(data, dict):
        raise ManganimeError(f"{path}: {what} must hold a JSON object, got {type(data).__name__}")
    return data


# ---------------------------------------------------------------------------------------------------------
# manga folder

@dataclass(frozen=True)
class MangaConfig:
    """Which scanned pages to keep and how much border to cut from each (pixels: top, bottom, left, right)."""
    start: int = 0
    end: int = 0
    exclude: tuple[int, ...] = ()
    crop: tuple[int, int, int, int] = (0, 0, 0, 0)

    def kept_indices(self, n_pages: int, where: str = "manga config") -> list[int]:
        """Indices of the source pages that survive start/end/exclude, in order (checked against n_pages)."""
        if self.start + self.end >= n_pages:
            raise ManganimeError(f"{where}: start={self.start} and end={self.end} leave no pages of {n_pages}")
        outside = [i for i in self.exclude if i >= n_pages]
        if outside:
            raise ManganimeError(f"{where}: exclude lists page(s) {outside} but the folder has {n_pages} pages")
        dropped = set(self.exclude)
        return [i for i in range(self.start, n_pages - self.end) if i not in dropped]


def load_manga_config(folder) -> MangaConfig:
    """Read `<folder>/config.json`; a folder without one keeps every page uncropped."""
    path = Path(folder) / CONFIG_NAME
    if not path.exists():
        return MangaConfig()
    data = _read_object(path, "manga config")
    _check_keys(data, ("start", "end", "exclude", "crop"), str(path))
    exclude = data.get("exclude", [])
    if not isinstance(exclude, list):
        raise ManganimeError(f"{path}: 'exclude' must be a list of page indices, got {exclude!r}")
    crop = data.get("crop", [0, 0, 0, 0])
    if not isinstance(crop, list) or len(crop) != 4:
        raise ManganimeError(f"{path}: 'crop' must be a list [top, bottom, left, right], got {crop!r}")
    return MangaConfig(
        start=_int(data.get("start", 0), f"{path}: 'start'"),
        end=_int(data.get("end", 0), f"{path}: 'end'"),
        exclude=tuple(_int(v, f"{path}: 'exclude' entry") for v in exclude),
        crop=tuple(_int(v, f"{path}: 'crop' entry") for v in crop),
    )


# ---------------------------------------------------------------------------------------------------------
# anime folder

@dataclass(frozen=True)
class EpisodeConfig:
    """One episode's entry of the anime folder's config.json (ranges are inclusive, in raw video frames)."""
    name: str
    manga: str | None = None
    pages: tuple[int, int] | None = None
    exclude: tuple[tuple[int, int], ...] = ()
    include: bool = True


@dataclass(frozen=True)
class ReferenceConfig:
    """An intro/outro block: the representative frame and how far around it to exclude."""
    image: Path
    left: int
    right: int


@dataclass
class AnimeConfig:
    """The anime folder's config.json, validated lazily per episode (other episodes' typos don't block one)."""
    path: Path
    data: dict = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        return self.path.parent

    def stride(self) -> int:
        """The frame stride for training data (study: `stride`, default 1)."""
        return _int(self.data.get("stride", 1), f"{self.path}: 'stride'", minimum=1)

    def episode(self, name: str) -> EpisodeConfig:
        """The validated entry for episode `name` (an absent entry means: no excludes, no manga yet)."""
        block = self.data.get(name, {})
        where = f"{self.path}: episode {name!r}"
        _check_keys(block, ("exclude", "manga", "pages", "include"), where)
        manga = block.get("manga")
        if manga is not None and (not isinstance(manga, str) or not manga):
            raise ManganimeError(f"{where}: 'manga' must be a folder name such as \"glt/vol1\", got {manga!r}")
        include = block.get("include", True)
        if not isinstance(include, bool):
            raise ManganimeError(f"{where}: 'include' must be true or false, got {include!r}")
        pages = block.get("pages")
        if pages is not None:
            pages = _inclusive_range(pages, f"{where}: 'pages'")
        exclude = block.get("exclude", [])
        if not isinstance(exclude, list):
            raise ManganimeError(f"{where}: 'exclude' must be a list of [first, last] ranges, got {exclude!r}")
        return EpisodeConfig(name=name, manga=manga, pages=pages, include=include,
                             exclude=tuple(_inclusive_range(r, f"{where}: 'exclude' range") for r in exclude))

    def reference(self, kind: str) -> ReferenceConfig:
        """The validated `intro`/`outro` block; `image` defaults to `<kind>.png` beside the config."""
        block = self.data.get(kind)
        where = f"{self.path}: '{kind}'"
        if block is None:
            raise ManganimeError(f"{self.path}: no '{kind}' block; add "
                                 f'"{kind}": {{"image": "{kind}.png", "left": 0, "right": 0}}')
        _check_keys(block, ("image", "left", "right"), where)
        for key in ("left", "right"):
            if key not in block:
                raise ManganimeError(f"{where}: missing '{key}' (frames to exclude before/after the match)")
        image = block.get("image", f"{kind}.png")
        if not isinstance(image, str) or not image:
            raise ManganimeError(f"{where}: 'image' must be a file name, got {image!r}")
        return ReferenceConfig(image=self.folder / image, left=_int(block["left"], f"{where} 'left'"),
                               right=_int(block["right"], f"{where} 'right'"))


def _inclusive_range(value, where: str) -> tuple[int, int]:
    if not isinstance(value, list) or len(value) != 2:
        raise ManganimeError(f"{where} must be [first, last], got {value!r}")
    first, last = (_int(v, where) for v in value)
    if first > last:
        raise ManganimeError(f"{where} has first > last: {value!r}")
    return first, last


def load_anime_config(folder, required: bool = False) -> AnimeConfig:
    """Read `<folder>/config.json` (an empty config when absent, unless `required`)."""
    path = Path(folder) / CONFIG_NAME
    if not path.exists():
        if required:
            raise ManganimeError(f"{path}: anime config not found (it names each episode's manga and pages)")
        return AnimeConfig(path, {})
    return AnimeConfig(path, _read_object(path, "anime config"))


def add_exclude_range(folder, episode: str, first: int, last: int) -> bool:
    """Append [first, last] to the episode's exclude list in `<folder>/config.json`, keeping every other key.

    Read-modify-write with an atomic replace; an identical range already present is not added twice (so a
    repeated search run is harmless). Returns True when the file changed.
    """
    config = load_anime_config(folder, required=True)
    config.episode(episode)  # validate the entry before touching it
    block = config.data.setdefault(episode, {})
    ranges = block.setdefault("exclude", [])
    if [first, last] in ranges:
        return False
    ranges.append([first, last])
    write_json_atomic(config.path, config.data)
    return True


# ---------------------------------------------------------------------------------------------------------
# root

def load_root_paths(path) -> tuple[Path | None, Path | None]:
    """`anime_path` and `manga_path` from a root config.json, relative paths taken from the file's folder."""
    path = Path(path)
    data = _read_object(path, "root config")
    where = str(path)
    result = []
    for key in ("anime_path", "manga_path"):
        value = data.get(key)
        if value is None:
            result.append(None)
            continue
        if not isinstance(value, str) or not value:
            raise ManganimeError(f"{where}: '{key}' must be a folder path, got {value!r}")
        result.append((path.parent / value).resolve())
    return result[0], result[1]


def resolve_data_paths(anime, manga, config_path=None) -> tuple[Path | None, Path | None]:
    """The anime and manga folders: explicit arguments win, the rest come from the root config.json.

    `config_path` None means `./config.json` when it exists (where the study's label.py looks).
    """
    if config_path is None and Path(CONFIG_NAME).is_file():
        config_path = Path(CONFIG_NAME)
    from_file = load_root_paths(config_path) if config_path is not None else (None, None)
    return (Path(anime) if anime else from_file[0]), (Path(manga) if manga else from_file[1])
