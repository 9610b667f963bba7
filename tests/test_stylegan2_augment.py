"""ADA (mindspore_impl/augment.py): the graph-side pipeline against a torch formulation of NVlabs'
`AugmentPipe.forward` execution (per-batch margin, reflect pad, wavelet ↑2, affine_grid + grid_sample, wavelet ↓2,
colour matrix) for the same matrices; the host-side draws (identity at p = 0, each op's effect, its probability);
the p update rule. (Second-order gradients through the pipeline: R1 in tests/test_stylegan2_losses.py.)"""
import mindspore as ms
import numpy as np
import pytest
from mindspore import Tensor

from mindspore_impl import augment as A


@pytest.fixture(autouse=True)
def pynative():
    ms.set_context(mode=ms.PYNATIVE_MODE)


def run_pipe(pipe, images, draws):
    args = {k: Tensor(v) for k, v in draws.arrays().items()}
    return pipe(Tensor(images), args.get("geom"), args.get("masks"), args.get("color")).asnumpy()


def torch_nvlabs_execute(images, g_inv, c_mat):
    torch = pytest.importorskip("torch")
    from tests._stylegan2_torch import nvlabs_augment

    return nvlabs_augment(torch.tensor(images), g_inv, c_mat).numpy()


@pytest.mark.parametrize("pipeline, channels, size", [("bgc", 3, 16), ("bg", 3, 12), ("bgc", 1, 16),
                                                      ("color", 3, 8), ("blit", 3, 16)])
def test_pipeline_matches_torch_formulation_of_nvlabs(pipeline, channels, size):
    spec = A.AugmentSpec.pipeline(pipeline)
    rng = np.random.default_rng(3)
    images = rng.uniform(-1, 1, (6, channels, size, size)).astype(np.float32)
    draws = A.draw(spec, rng, 6, p=1.0, channels=channels, height=size, width=size)
    got = run_pipe(A.AugmentPipe(spec, channels, size, size), images, draws)
    want = torch_nvlabs_execute(images, draws.g_inv, draws.c_mat)
    assert got.shape == images.shape
    np.testing.assert_allclose(got, want, atol=2e-4)  # float32 coordinates on a 2x canvas of up to 92 px
    assert np.abs(got - images).max() > 0.3  # something happened


def test_p_zero_is_the_identity():
    spec = A.AugmentSpec.pipeline("bgc")
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (2, 3, 16, 16)).astype(np.float32)
    draws = A.draw(spec, rng, 2, p=0.0, channels=3, height=16, width=16)
    np.testing.assert_array_equal(draws.g_inv, np.broadcast_to(np.eye(3), (2, 3, 3)))
    np.testing.assert_array_equal(draws.c_mat, np.broadcast_to(np.eye(4), (2, 4, 4)))
    got = run_pipe(A.AugmentPipe(spec, 3, 16, 16), images, draws)
    np.testing.assert_allclose(got, torch_nvlabs_execute(images, draws.g_inv, draws.c_mat), atol=2e-5)
    # NVlabs runs the geometric stage at p = 0 too; the orthogonal wavelet's round trip with reflect padding
    # reconstructs the image to float32 rounding
    np.testing.assert_allclose(got, images, atol=1e-5)


def test_each_op_does_what_its_name_says():
    rng = np.random.default_rng(0)
    img = rng.uniform(-1, 1, (1, 3, 16, 16)).astype(np.float32)

    def only(op, **extra):
        return A.AugmentSpec(**{op: 1.0}, **extra)

    def apply(spec, seed=0):
        draws = A.draw(spec, np.random.default_rng(seed), 1, 1.0, 3, 16, 16)
        return run_pipe(A.AugmentPipe(spec, 3, 16, 16), img, draws), draws

    def corr(a, b):
        return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])

    # geometric ops go through NVlabs' wavelet resampling, which is exact only up to a fraction of a pixel on
    # flipped or rotated content: compare by correlation
    flips = next(s for s in range(50) if A.draw(only("xflip"), np.random.default_rng(s), 1, 1.0, 3, 16, 16)
                 .g_inv[0, 0, 0] < 0)
    out, _ = apply(only("xflip"), flips)
    assert corr(out, img[:, :, :, ::-1]) > 0.95 and corr(out, img) < 0.2
    spec = only("rotate90")
    draws = A.draw(spec, np.random.default_rng(0), 16, 1.0, 3, 16, 16)
    out = run_pipe(A.AugmentPipe(spec, 3, 16, 16), np.repeat(img, 16, axis=0), draws)
    turns = {}
    for g, o in zip(draws.g_inv, out):
        k = int(round(np.arctan2(g[1, 0], g[0, 0]) / (np.pi / 2))) % 4
        turns[k] = max(range(4), key=lambda r: corr(o, np.rot90(img[0], r, axes=(1, 2))))
    assert len(turns) == 4 and len(set(turns.values())) == 4  # each drawn quarter turn is a distinct rotation
    out, draws = apply(only("brightness"))
    shift = draws.c_mat[0, 0, 3]
    np.testing.assert_allclose(out, img + shift, atol=1e-5)
    out, draws = apply(only("contrast"))
    np.testing.assert_allclose(out, img * draws.c_mat[0, 0, 0], atol=1e-5)
    out, draws = apply(only("saturation"))
    luma = img.mean(axis=1, keepdims=True)
    s = (draws.c_mat[0, 0, 0] - 1 / 3) / (2 / 3)
    np.testing.assert_allclose(out, luma + (img - luma) * s, atol=1e-5)
    out, draws = apply(only("hue"))
    np.testing.assert_allclose(out.mean(axis=1), img.mean(axis=1), atol=1e-5)  # a rotation about the grey axis
    assert np.abs(out - img).max() > 0.05
    for op in ("scale", "rotate", "xint", "aniso", "xfrac"):
        draws = A.draw(only(op), np.random.default_rng(1), 64, 1.0, 3, 16, 16)
        assert np.mean([not np.allclose(g, np.eye(3)) for g in draws.g_inv]) > 0.5, op


def test_probabilities_follow_p():
    spec = A.AugmentSpec.pipeline("bgc")
    rng = np.random.default_rng(0)
    draws = A.draw(spec, rng, 4000, p=0.3, channels=3, height=16, width=16)
    brightness_applied = np.mean(draws.c_mat[:, 0, 3] != 0)
    assert abs(brightness_applied - 0.3) < 0.03
    # rotation: pre- or post-rotation with total probability p (NVlabs p_rot = 1 - sqrt(1 - p))
    only_rot = A.draw(A.AugmentSpec(rotate=1.0), rng, 4000, p=0.3, channels=3, height=16, width=16)
    rotated = np.mean(np.abs(only_rot.g_inv[:, 0, 1]) > 1e-12)
    assert abs(rotated - 0.3) < 0.03


def test_unsupported_pipelines_are_named():
    with pytest.raises(A.AugmentError, match="'bgcfnc' needs NVlabs' imgfilter/noise/cutout"):
        A.AugmentSpec.pipeline("bgcfnc")
    with pytest.raises(A.AugmentError, match="unknown augmentation pipeline 'bgx'; supported: blit, geom"):
        A.AugmentSpec.pipeline("bgx")


def test_ada_p_update_rule():
    ada = A.AdaptiveP(p=0.0, target=0.6, interval=4, kimg=500)
    adjust = 16 * 4 / (500 * 1000)
    for step in range(3):  # 0-based steps 0..2 only collect
        ada.observe(np.ones(16))
        assert ada.step(step, 16) is None and ada.p == 0.0
    ada.observe(np.ones(16))
    assert ada.step(3, 16) == 1.0 and ada.p == pytest.approx(adjust)  # overfitting D (all signs +1): p grows
    for step in range(4, 8):
        ada.observe(-np.ones(16))
        ada.step(step, 16)
    assert ada.p == 0.0  # signs below the target: p shrinks, clamped at 0
    ada.p = 0.5
    for step in range(8, 12):
        ada.observe(np.array([1, 1, 1, -1, 1]))  # mean 0.6 exactly: sign 0, no change
        ada.step(step, 16)
    assert ada.p == 0.5
    twin = A.AdaptiveP()
    ada.observe(np.ones(3))
    twin.load_state(ada.state())
    assert twin.state() == ada.state() == {"p": 0.5, "sign_sum": 3.0, "sign_count": 3}
    # data-parallel: the (sum, count) of every rank decides, so ranks keep one p
    ranked = A.AdaptiveP(p=0.1, interval=1)
    ranked.observe(np.ones(4))
    assert ranked.step(0, 8, reduce=lambda s, c: (s - 10.0, c + 4)) == pytest.approx(-0.75)
    assert ranked.p == pytest.approx(0.1 - 8 / (500 * 1000))
