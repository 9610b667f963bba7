"""The history of generated images a CycleGAN discriminator is trained on (junyanz `util/image_pool.py`).

Shrivastava et al. (2017): updating D with fakes from a buffer of earlier generators, not only the latest one,
reduces model oscillation. `query(fakes)` returns one image per input:
- pool_size 0: the inputs unchanged;
- while the pool holds fewer than pool_size images: each input is stored and returned;
- once full: with probability 0.5 the input is returned as is, otherwise a random stored image is returned and
  the input takes its place.
It runs on the host with its own NumPy generator; `state()`/`load_state()` make it part of a training checkpoint,
so a resumed run draws exactly what the uninterrupted one would.
"""
from __future__ import annotations

import numpy as np


class HistoryPool:
    def __init__(self, pool_size: int = 50, seed: int = 0):
        if pool_size < 0:
            raise ValueError(f"pool_size must be >= 0, got {pool_size}")
        self.pool_size = int(pool_size)
        self.images: list[np.ndarray] = []
        self.rng = np.random.default_rng(seed)

    def query(self, fakes: np.ndarray) -> np.ndarray:
        """fakes: [N, ...] float array → [N, ...], drawn as the class docstring says."""
        fakes = np.asarray(fakes)
        if self.pool_size == 0:
            return fakes
        out = []
        for image in fakes:
            if len(self.images) < self.pool_size:
                self.images.append(image.copy())
                out.append(image)
            elif self.rng.uniform(0, 1) > 0.5:
                slot = int(self.rng.integers(0, self.pool_size))  # junyanz: random.randint(0, pool_size - 1)
                out.append(self.images[slot])
                self.images[slot] = image.copy()
            else:
                out.append(image)
        return np.stack(out).astype(fakes.dtype, copy=False)

    def state(self) -> dict:
        return {"images": np.stack(self.images) if self.images else np.zeros((0,), np.float32),
                "rng": self.rng.bit_generator.state}

    def load_state(self, state: dict) -> None:
        images = state["images"]
        self.images = [np.array(x) for x in images] if len(images) and images.ndim > 1 else []
        if len(self.images) > self.pool_size:
            raise ValueError(f"saved pool holds {len(self.images)} images, more than pool_size {self.pool_size}")
        self.rng.bit_generator.state = state["rng"]
