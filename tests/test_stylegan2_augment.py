"""ADA (mindspore_impl/augment.py): the graph-side pipeline against a torch formulation of NVlabs'
`AugmentPipe.forward` execution (per-batch margin, reflect pad, wavelet ↑2, affine_grid + grid_sample, wavelet ↓2,
colour matrix) for the same matrices; the host-side draws (identity at p = 0, each op's effect, its probability);
the p update rule; gradients through the pipeline (R1 needs them twice)."""
import mindspore as ms
import numpy as np
import pytest
from mindspore import Tensor, ops

from mindspore_impl import augment as A


@pytest.fixture(autouse=True)
def pynative():
    ms.set_context(mode=ms.PYNATIVE_MODE)


def run_pipe(pipe, images, draws):
    args = {k: Tensor(v) for k, v in draws.arrays().items()}
    return pipe(Tensor(images), args.get("geom"), args.get("masks"), args.get("color")).asnumpy()


def torch_nvlabs_execute(images, g_inv, c_mat):
    """NVlabs AugmentPipe.forward after the parameter draws, in torch (float32), for given G_inv and C."""
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    def upfirdn(x, f, up=1, down=1, pad=(0, 0, 0, 0), flip=False, gain=1.0):
        n, c, h, w = x.shape
        if up > 1:
            x = x.reshape(n, c, h, 1, w, 1)
            x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
        x = F.pad(x, [max(pad[0], 0), max(pad[1], 0), max(pad[2], 0), max(pad[3], 0)])
        x = x[:, :, max(-pad[2], 0):x.shape[2] - max(-pad[3], 0), max(-pad[0], 0):x.shape[3] - max(-pad[1], 0)]
        f = f * (gain ** (f.ndim / 2))
        if not flip:
            f = f.flip(list(range(f.ndim)))
        f = f[None, None].repeat([c, 1, 1])
        x = F.conv2d(x, f.unsqueeze(2), groups=c)
        x = F.conv2d(x, f.unsqueeze(3), groups=c)
        return x[:, :, ::down, ::down]

    x = torch.tensor(images)
    n, c, h, w = x.shape
    if g_inv is not None:
        hz = torch.tensor(A.SYM6, dtype=torch.float32)
        hz = hz / hz.sum()
        g = torch.tensor(g_inv, dtype=torch.float32)
        cx, cy = (w - 1) / 2, (h - 1) / 2
        cp = torch.tensor([[-cx, -cy, 1], [cx, -cy, 1], [cx, cy, 1], [-cx, cy, 1]], dtype=torch.float32)
        cp = g @ cp.t()
        pad = len(A.SYM6) // 4
        margin = cp[:, :2, :].permute(1, 0, 2).flatten(1)
        margin = torch.cat([-margin, margin]).max(dim=1).values
        margin = margin + torch.tensor([pad * 2 - cx, pad * 2 - cy] * 2)
        margin = margin.max(torch.tensor([0, 0] * 2)).min(torch.tensor([w - 1, h - 1] * 2, dtype=torch.float32))
        mx0, my0, mx1, my1 = margin.ceil().to(torch.int32)

        def mat(rows):
            return torch.tensor(rows, dtype=torch.float32)

        x = F.pad(x, [int(mx0), int(mx1), int(my0), int(my1)], mode="reflect")
        g = mat([[1, 0, (mx0 - mx1) / 2], [0, 1, (my0 - my1) / 2], [0, 0, 1]]) @ g
        x = upfirdn(x, hz, up=2, pad=(6, 5, 6, 5), gain=4)
        g = mat([[2, 0, 0], [0, 2, 0], [0, 0, 1]]) @ g @ mat([[0.5, 0, 0], [0, 0.5, 0], [0, 0, 1]])
        g = mat([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]]) @ g @ mat([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
        shape = [n, c, (h + pad * 2) * 2, (w + pad * 2) * 2]
        g = (mat([[2 / x.shape[3], 0, 0], [0, 2 / x.shape[2], 0], [0, 0, 1]]) @ g
             @ mat([[shape[3] / 2, 0, 0], [0, shape[2] / 2, 0], [0, 0, 1]]))
        grid = F.affine_grid(theta=g[:, :2, :], size=shape, align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        x = upfirdn(x, hz, down=2, pad=(-1, -1, -1, -1), flip=True)
    if c_mat is not None:
        cm = torch.tensor(c_mat, dtype=torch.float32)
        x = x.reshape(n, c, h * w)
        if c == 3:
            x = cm[:, :3, :3] @ x + cm[:, :3, 3:]
        else:
            cm = cm[:, :3, :].mean(dim=1, keepdims=True)
            x = x * cm[:, :, :3].sum(dim=2, keepdims=True) + cm[:, :, 3:]
        x = x.reshape(n, c, h, w)
    return x.numpy()


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


def test_gradients_through_the_pipeline_are_exact_twice():
    """R1 differentiates D(augment(x)) w.r.t. x and then again: check the second derivative numerically."""
    spec = A.AugmentSpec.pipeline("bgc")
    rng = np.random.default_rng(5)
    pipe = A.AugmentPipe(spec, 3, 8, 8)
    draws = A.draw(spec, rng, 2, 1.0, 3, 8, 8)
    geom, masks, color = (Tensor(v) for v in (draws.geom, draws.masks, draws.color))
    probe = Tensor(rng.standard_normal((2, 3, 8, 8)).astype(np.float32))

    def d_of(x):  # a smooth, non-linear stand-in for D
        return ops.sin(pipe(x, geom, masks, color) * probe).sum()

    def penalty(x):
        return ops.square(ms.grad(d_of)(x)).sum()

    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    grad = ms.jit(ms.grad(penalty))(Tensor(x)).asnumpy()
    direction = rng.standard_normal(x.shape).astype(np.float32)
    eps, value = 1e-2, ms.jit(penalty)
    numeric = (float(value(Tensor(x + eps * direction)).asnumpy())
               - float(value(Tensor(x - eps * direction)).asnumpy())) / (2 * eps)
    assert float((grad * direction).sum()) == pytest.approx(numeric, rel=2e-2)
