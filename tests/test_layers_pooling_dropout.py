"""Pooling in MindSpore: NumPy references (fp32, atol 1e-6) and torch's nn.AvgPool2d / nn.MaxPool2d where torch
imports (values and gradients, PyNative and ms.jit)."""
import numpy as np
import pytest
import mindspore as ms
from mindspore import nn
from numpy.lib.stride_tricks import sliding_window_view

from mindspore_impl import layers


@pytest.fixture(autouse=True)
def pynative():
    ms.set_context(mode=ms.PYNATIVE_MODE)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# ------------------------------------------------------------------------------------------------ pooling

def _pairs(kernel, stride, padding):
    def pair(v):
        return tuple(v) if isinstance(v, (tuple, list)) else (v, v)

    return pair(kernel), pair(kernel if stride is None else stride), pair(padding)


def _np_windows(x, kernel, stride, padding, fill):
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    return sliding_window_view(padded, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]  # [N, C, Ho, Wo, kh, kw]


def np_avg_pool(x, kernel, stride, padding, count_include_pad):
    kernel, stride, padding = _pairs(kernel, stride, padding)
    sums = _np_windows(x.astype(np.float64), kernel, stride, padding, 0.0).sum(axis=(4, 5))
    if count_include_pad:
        return sums / (kernel[0] * kernel[1])
    counts = _np_windows(np.ones_like(x, np.float64), kernel, stride, padding, 0.0).sum(axis=(4, 5))
    return sums / counts


def np_max_pool(x, kernel, stride, padding):
    kernel, stride, padding = _pairs(kernel, stride, padding)
    return _np_windows(x, kernel, stride, padding, -np.inf).max(axis=(4, 5))


# (kernel, stride, padding): pix2pixHD's downsampler, unpadded VGG pools, per-axis pairs, padding = kernel / 2
GEOMETRIES = [(3, 2, (1, 1)), (2, 2, 0), (3, 1, 1), (3, None, 0), ((3, 2), (2, 1), (1, 0)), (4, 2, (2, 1)),
              (5, 3, 2)]
SHAPES = [(2, 3, 7, 9), (1, 2, 8, 6)]  # odd and even sizes


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kernel, stride, padding", GEOMETRIES)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool_matches_numpy(rng, shape, kernel, stride, padding, count_include_pad):
    x = rng.standard_normal(shape).astype(np.float32)
    got = layers.AvgPool2d(kernel, stride, padding, count_include_pad)(ms.Tensor(x)).asnumpy()
    want = np_avg_pool(x, kernel, stride, padding, count_include_pad)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def test_avg_pool_count_include_pad_false_divides_border_windows_by_real_pixels():
    # On a constant image every window of the pix2pixHD downsampler averages to the constant; counting the
    # zero padding instead pulls the borders down (corner 4/9, edges 6/9 of the constant).
    x = np.full((1, 1, 6, 6), 3.0, np.float32)
    exclude = layers.AvgPool2d(3, stride=2, padding=[1, 1], count_include_pad=False)(ms.Tensor(x)).asnumpy()
    include = layers.AvgPool2d(3, stride=2, padding=[1, 1], count_include_pad=True)(ms.Tensor(x)).asnumpy()
    np.testing.assert_allclose(exclude, 3.0, rtol=0, atol=1e-6)
    np.testing.assert_allclose(include[0, 0, 0, :2], [3.0 * 4 / 9, 3.0 * 6 / 9], rtol=0, atol=1e-6)
    np.testing.assert_allclose(include[0, 0, 1:, 1:], 3.0, rtol=0, atol=1e-6)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kernel, stride, padding", GEOMETRIES)
def test_max_pool_matches_numpy_with_padding_as_minus_infinity(rng, shape, kernel, stride, padding):
    # All-negative input: a zero-valued padding would win every border window.
    x = (rng.uniform(0, 1, shape) - 2.0).astype(np.float32)
    got = layers.MaxPool2d(kernel, stride, padding)(ms.Tensor(x)).asnumpy()
    want = np_max_pool(x, kernel, stride, padding)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def _squared_sum(pool):
    def loss(x):
        y = pool(x)
        return (y * y).sum()

    return loss


def _forward(cell):
    def forward(x):
        return cell(x)

    return forward


@pytest.mark.parametrize("kernel, stride, padding", GEOMETRIES)
@pytest.mark.parametrize("pool", ["avg_include", "avg_exclude", "max"])
def test_pools_match_torch_values_and_gradients_in_pynative_and_jit(rng, kernel, stride, padding, pool):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    if pool == "max":
        ours = layers.MaxPool2d(kernel, stride, padding)
        theirs = torch.nn.MaxPool2d(kernel, stride, padding)
    else:
        include = pool == "avg_include"
        ours = layers.AvgPool2d(kernel, stride, padding, count_include_pad=include)
        theirs = torch.nn.AvgPool2d(kernel, stride, padding, count_include_pad=include)
    tx = torch.tensor(x, requires_grad=True)
    ty = theirs(tx)
    (ty * ty).sum().backward()
    grad, jit_grad, jit_forward = ms.grad(_squared_sum(ours)), ms.jit(ms.grad(_squared_sum(ours))), ms.jit(_forward(ours))
    for _ in range(2):  # the second call runs the already compiled graphs
        for y in (ours(ms.Tensor(x)), jit_forward(ms.Tensor(x))):
            np.testing.assert_allclose(y.asnumpy(), ty.detach().numpy(), rtol=0, atol=1e-6)
        for fn in (grad, jit_grad):
            np.testing.assert_allclose(fn(ms.Tensor(x)).asnumpy(), tx.grad.numpy(), rtol=0, atol=1e-5)


def test_max_pool_equals_the_mindspore_valid_pool_it_replaces(rng):
    x = ms.Tensor(rng.standard_normal((2, 4, 12, 10)).astype(np.float32))
    np.testing.assert_array_equal(layers.MaxPool2d(2, 2)(x).asnumpy(), nn.MaxPool2d(2, 2)(x).asnumpy())


@pytest.mark.parametrize("args, pattern", [((3, 2, 2), "at most half"), ((2, 0), ">= 1"), ((3, 1, -1), ">= 0"),
                                           (((3, 3, 3),), "pair"), ((2.5,), "pair"), ((True,), "pair")])
@pytest.mark.parametrize("cls", [layers.AvgPool2d, layers.MaxPool2d])
def test_pool_geometry_is_validated(cls, args, pattern):
    with pytest.raises(ValueError, match=pattern):
        cls(*args)

