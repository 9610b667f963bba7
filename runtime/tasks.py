"""Which command runs which model: the one table from a model's task (runtime/interface.py) to the runner class and
the CLIs that fit it. The runners check a model against it as soon as the file is open, before any work."""
from __future__ import annotations

from dataclasses import dataclass

from runtime.errors import ConversionError

IMAGE_COMMANDS = ("runtime/photo2anime.py", "runtime/video2anime.py")
SAMPLE_COMMAND = "runtime/sample.py"
COLORIZE_COMMAND = "runtime/colorize.py"
PREDICT_COMMAND = "runtime/manga2anime.py"


@dataclass(frozen=True)
class Route:
    what: str                   # how an error names such a model
    runner: str                 # "image" (session.Generator), "sample" (sampler.Sampler), "predict" (predictor)
    commands: tuple[str, ...]   # the CLIs that run it


ROUTES = {
    "stylize": Route("an image-to-image model", "image", IMAGE_COMMANDS),
    # Colorization models: runtime/colorize.py (pages, luma kept at full resolution). They are image-to-image too
    # (grey in, colour out), so the photo and video CLIs still run them (e.g. to colour a black-and-white video).
    "colorize": Route("a colorization model", "image", (COLORIZE_COMMAND, *IMAGE_COMMANDS)),
    "sample": Route("a sampling model", "sample", (SAMPLE_COMMAND,)),
    "predict": Route("a future-frame predictor", "predict", (PREDICT_COMMAND,)),
}


def check_task(model_name: str, task: str, runner: str) -> None:
    """Raise a one-line ConversionError naming the fitting command when `runner` does not run `task`."""
    route = ROUTES[task]
    if route.runner != runner:
        raise ConversionError(f"{model_name} is {route.what} (task {task}); use {' or '.join(route.commands)}")
