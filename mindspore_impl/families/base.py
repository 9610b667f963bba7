"""The small protocol every training family implements, and the sample-grid helpers they share."""
from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np
from mindspore import nn


class Family:
    """What the shared Trainer needs from a model family.

    Attributes a family sets: `generator` (the network that gets exported), `data` (with
    `steps_per_epoch(global_batch)` and `batch(epoch, step, batch_size) -> dict of NCHW float32 arrays`).
    """

    generator: nn.Cell
    data = None

    def networks(self) -> Dict[str, nn.Cell]:
        """Networks saved in checkpoints, by short name (their parameters are prefixed `name/`)."""
        raise NotImplementedError

    def optimizers(self) -> Dict[str, nn.Optimizer]:
        raise NotImplementedError

    def phases(self) -> list:
        """The schedule: a list of trainer.Phase."""
        raise NotImplementedError

    def sample_grid(self) -> np.ndarray:
        """An HxWx3 uint8 picture of what the model does now (e.g. input | output rows)."""
        raise NotImplementedError

    def set_train(self, mode: bool = True) -> None:
        for net in self.networks().values():
            net.set_train(mode)


def to_uint8(chw: np.ndarray) -> np.ndarray:
    """CHW float in [-1, 1] → HWC uint8 (greyscale replicated to RGB)."""
    x = np.clip((np.asarray(chw, np.float32) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    x = np.transpose(x, (1, 2, 0))
    if x.shape[2] == 1:
        x = np.repeat(x, 3, axis=2)
    return x


def image_grid(rows: Sequence[Sequence[np.ndarray]], pad: int = 2) -> np.ndarray:
    """Tile equally sized HWC uint8 images row by row with a white gutter."""
    h, w = rows[0][0].shape[:2]
    ncol = max(len(r) for r in rows)
    grid = np.full((len(rows) * (h + pad) + pad, ncol * (w + pad) + pad, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            y, x = pad + i * (h + pad), pad + j * (w + pad)
            grid[y:y + h, x:x + w] = img
    return grid
