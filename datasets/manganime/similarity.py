"""The two frame-similarity measures of the study, on raw 0–255 pixel values flattened to vectors."""
from __future__ import annotations

import numpy as np


def _vector(image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64).ravel()


def cosine_similarity(a, b) -> float:
    """cos(a, b) of two equally shaped images; 1.0 when both are all-black, 0.0 when exactly one is.

    Used for scene cuts (adjacent frames below 0.8 start a new chunk). Note that on non-negative pixels a pure
    brightness change keeps the cosine at 1: cuts between scenes of the same hue mix are not detected.
    """
    va, vb = _vector(a), _vector(b)
    if va.shape != vb.shape:
        raise ValueError(f"cannot compare images of shapes {np.shape(a)} and {np.shape(b)}")
    na, nb = np.linalg.norm(va), np.linalg.norm(vb)
    if na == 0 or nb == 0:
        return 1.0 if na == nb else 0.0
    return float(va @ vb / (na * nb))


def generalized_cosine(reference, frame) -> float:
    """The study's "generalized cosine similarity" Σ(reference·frame)/‖frame‖ (0 for an all-black frame).

    It omits ‖reference‖, a constant during a search, so its argmax over frames equals the cosine's; divide
    by ‖reference‖ to report the true cosine.
    """
    vr, vf = _vector(reference), _vector(frame)
    if vr.shape != vf.shape:
        raise ValueError(f"cannot compare images of shapes {np.shape(reference)} and {np.shape(frame)}")
    norm = np.linalg.norm(vf)
    return 0.0 if norm == 0 else float(vr @ vf / norm)


def centered_cosine(a, b) -> float:
    """Cosine of the mean-subtracted images (Pearson correlation of the pixels).

    Unlike the raw cosine it sees cuts between shots with similar overall colour (a cat, then a cup of
    coffee: raw cosine 0.81, centred 0.37), at the price of reacting more to fast motion. Two flat images
    count as similar only when they are equal.
    """
    va, vb = _vector(a), _vector(b)
    if va.shape != vb.shape:
        raise ValueError(f"cannot compare images of shapes {np.shape(a)} and {np.shape(b)}")
    va, vb = va - va.mean(), vb - vb.mean()
    na, nb = np.linalg.norm(va), np.linalg.norm(vb)
    if na == 0 or nb == 0:
        return 1.0 if np.array_equal(_vector(a), _vector(b)) else 0.0
    return float(va @ vb / (na * nb))


# Frame-to-frame measures for scene cuts, by the name the CLIs accept.
SIMILARITY_MEASURES = {"cosine": cosine_similarity, "centered": centered_cosine}
