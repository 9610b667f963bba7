"""AnimeGANv2-specific losses vs NumPy formulations of the official TF code, and hand-worked values."""
import mindspore as ms
import numpy as np
import pytest

from mindspore_impl.losses import animegan as L

RTOL, ATOL = 1e-5, 1e-6
# tf.image.rgb_to_yuv kernel as printed in TensorFlow's image_ops_impl.py (rows R, G, B; columns Y, U, V).
TF_YUV = np.array([[0.299, -0.14714119, 0.61497538],
                   [0.587, -0.28886916, -0.51496512],
                   [0.114, 0.43601035, -0.10001026]])


@pytest.fixture(autouse=True)
def pynative():
    ms.set_context(mode=ms.PYNATIVE_MODE)


def rand(rng, *shape, scale=1.0):
    return (rng.uniform(-1, 1, shape) * scale).astype(np.float32)


def t(x):
    return ms.Tensor(x)


# --- NumPy formulations written from the TF code (NHWC there; the axes are translated to NCHW) ---------------

def np_gram(x):  # TF: reshape NHWC to (B, HW, C), x^T x / (H W C)
    b, c, h, w = x.shape
    f = x.astype(np.float64).transpose(0, 2, 3, 1).reshape(b, h * w, c)
    return np.einsum("bki,bkj->bij", f, f) / (h * w * c)


def np_yuv(x):
    rgb = (x.astype(np.float64) + 1) / 2
    return np.einsum("bchw,cd->bdhw", rgb, TF_YUV)


def np_huber(a, b, delta=1.0):
    d = np.abs(a - b)
    return np.mean(np.where(d <= delta, 0.5 * d ** 2, delta * (d - 0.5 * delta)))


def np_color(p, f):
    a, b = np_yuv(p), np_yuv(f)
    return np.mean(np.abs(a[:, 0] - b[:, 0])) + np_huber(a[:, 1], b[:, 1]) + np_huber(a[:, 2], b[:, 2])


def np_tv(x):
    x = x.astype(np.float64)
    dh = x[:, :, :-1] - x[:, :, 1:]
    dw = x[:, :, :, :-1] - x[:, :, :, 1:]
    return np.sum(dh ** 2) / 2 / dh.size + np.sum(dw ** 2) / 2 / dw.size  # tf.nn.l2_loss / tf.size


def close(actual, expected):
    np.testing.assert_allclose(np.asarray(actual.asnumpy() if hasattr(actual, "asnumpy") else actual, np.float64),
                               expected, rtol=RTOL, atol=ATOL)


def test_four_term_discriminator_loss_matches_numpy():
    rng = np.random.default_rng(0)
    real, fake, gray, smooth = (rand(rng, 3, 1, 8, 8, scale=2) for _ in range(4))
    w = (1.7, 1.7, 1.7, 1.0)
    expected = (w[0] * np.mean((real.astype(np.float64) - 1) ** 2) + w[1] * np.mean(fake.astype(np.float64) ** 2)
                + w[2] * np.mean(gray.astype(np.float64) ** 2) + w[3] * np.mean(smooth.astype(np.float64) ** 2))
    close(L.animegan_d_loss(t(real), t(fake), t(gray), t(smooth), *w), expected)
    # Weights matter individually: zeroing the smooth weight removes exactly its term.
    without = L.animegan_d_loss(t(real), t(fake), t(gray), t(smooth), *w[:3], 0.0)
    close(without, expected - w[3] * np.mean(smooth.astype(np.float64) ** 2))


def test_content_style_color_tv_match_numpy():
    rng = np.random.default_rng(1)
    a, b = rand(rng, 2, 5, 6, 7, scale=3), rand(rng, 2, 5, 6, 7, scale=3)
    close(L.content_loss(t(a), t(b)), np.mean(np.abs(a.astype(np.float64) - b)))
    close(L.gram(t(a)), np_gram(a))
    close(L.style_loss(t(a), t(b)), np.mean(np.abs(np_gram(a) - np_gram(b))))
    p, f = rand(rng, 2, 3, 9, 11), rand(rng, 2, 3, 9, 11)
    close(L.rgb_to_yuv(t(p)), np_yuv(p))
    close(L.color_loss(t(p), t(f)), np_color(p, f))
    close(L.tv_loss(t(f)), np_tv(f))


def test_huber_uses_both_branches():
    # |d| = 0.5 (quadratic: 0.125) and |d| = 3 (linear: 3 - 0.5 = 2.5): mean = 1.3125.
    a = np.array([0.5, -3.0], np.float32)
    close(L.huber_loss(t(a), t(np.zeros(2, np.float32))), 1.3125)


def test_gram_of_known_tensor():
    # One sample, C=2, H=W=2: channel 0 = [1, 2, 3, 4], channel 1 = [1, 0, -1, 0].
    x = np.array([[[[1, 2], [3, 4]], [[1, 0], [-1, 0]]]], np.float32)
    # <c0,c0> = 30, <c0,c1> = 1 - 3 = -2, <c1,c1> = 2; divided by H*W*C = 8.
    close(L.gram(t(x)), np.array([[[30, -2], [-2, 2]]]) / 8)
    # Per sample: a second, different sample does not change the first one's Gram matrix.
    two = np.concatenate([x, 5 * x], axis=0)
    g = L.gram(t(two)).asnumpy()
    close(g[0], np.array([[30, -2], [-2, 2]]) / 8)
    close(g[1], 25 * np.array([[30, -2], [-2, 2]]) / 8)


def test_yuv_of_primaries_is_tf_matrix():
    # Pure red, green, blue in [-1, 1] (1 on one channel, -1 on the others) -> rows of TF's kernel;
    # white -> Y=1, U=V=0 up to the kernel's rounding.
    prim = -np.ones((4, 3, 1, 1), np.float32)
    for i in range(3):
        prim[i, i] = 1
    prim[3] = 1
    yuv = L.rgb_to_yuv(t(prim)).asnumpy()[:, :, 0, 0]
    close(yuv[:3], TF_YUV)
    np.testing.assert_allclose(yuv[3], [1.0, 0.0, 0.0], atol=1e-6)


def test_tv_of_ramp():
    # Vertical ramp x[h, w] = 0.1 h on 4x5: dh = -0.1 everywhere, dw = 0 -> 0.5 * 0.01 = 0.005.
    x = np.tile((0.1 * np.arange(4, dtype=np.float32))[:, None], (1, 5))[None, None]
    close(L.tv_loss(t(x)), 0.005)
    close(L.tv_loss(t(np.swapaxes(x, 2, 3).copy())), 0.005)  # same ramp horizontally
    close(L.tv_loss(t(np.full((1, 3, 4, 4), 0.7, np.float32))), 0.0)


def test_losses_compile_in_graph_mode():
    """One jit'd function using every loss: they must be graph-mode safe and give the PyNative values."""
    rng = np.random.default_rng(2)
    p, f = t(rand(rng, 2, 3, 8, 8)), t(rand(rng, 2, 3, 8, 8))

    def all_losses(p, f):
        return (L.animegan_d_loss(p, f, p, f, 1.2, 1.2, 1.2, 0.8), L.content_loss(p, f),
                L.style_loss(p, f), L.color_loss(p, f), L.tv_loss(f))

    eager = [x.asnumpy() for x in all_losses(p, f)]
    graph = [x.asnumpy() for x in ms.jit(all_losses)(p, f)]
    for e, g in zip(eager, graph):
        np.testing.assert_allclose(g, e, rtol=RTOL, atol=ATOL)
