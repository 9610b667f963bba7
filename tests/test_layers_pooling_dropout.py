"""Pooling, dropout and the small plumbing leaves in MindSpore: NumPy references (fp32, atol 1e-6), torch's
nn.AvgPool2d / nn.MaxPool2d where torch imports (values and gradients, PyNative and ms.jit), and the contract of
the hashed Dropout (keep rate, scaling, replayable masks that compiled graphs follow, gradient, no structure)."""
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


@pytest.fixture
def seed_zero():
    """Tests that set the global dropout seed leave it at 0 again."""
    layers.set_dropout_seed(0)
    yield
    layers.set_dropout_seed(0)


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
    grad, jit_forward = ms.grad(_squared_sum(ours)), ms.jit(_forward(ours))
    jit_grad = ms.jit(ms.grad(_squared_sum(ours)))
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


# ------------------------------------------------------------------------------------------------ dropout

M32 = 1 << 32


def np_hash32(x):
    """The documented hash, in NumPy uint64 arithmetic (an independent spelling of layers._hash32)."""
    x = np.asarray(x, np.uint64)
    x = x ^ (x >> np.uint64(16))
    x = (x * np.uint64(0x21F0AAAD)) & np.uint64(M32 - 1)
    x = x ^ (x >> np.uint64(15))
    x = (x * np.uint64(0x735A2D97)) & np.uint64(M32 - 1)
    return x ^ (x >> np.uint64(16))


def np_keep_mask(shape, p, seed, salt):
    key = np_hash32(np.uint64(seed) ^ np_hash32(np.uint64(salt ^ 0x68E31DA4)))
    second = np_hash32(key ^ np.uint64(0x1B56C4E9))
    positions = np.arange(int(np.prod(shape)), dtype=np.uint64).reshape(shape)
    h = np_hash32(np_hash32(positions ^ key) ^ second)
    return (h >= np.uint64(round(p * M32))).astype(np.float32)


def _training(p=0.5, salt=0):
    d = layers.Dropout(p, salt=salt)
    d.set_train(True)
    return d


def _mask(d, x):
    return d.keep_mask(ms.Tensor(x)).asnumpy()


def _signed(rng, shape):
    """Inputs bounded away from 0, so a dropped element (exactly 0) is never confused with a kept one."""
    return (rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)).astype(np.float32)


def test_dropout_in_inference_and_at_p_zero_is_the_identity(rng):
    x = ms.Tensor(rng.standard_normal((2, 3, 8, 8)).astype(np.float32))
    inference = layers.Dropout(0.5, salt=1)
    inference.set_train(False)
    assert inference(x) is x and _training(0.0)(x) is x
    np.testing.assert_array_equal(ms.jit(_forward(inference))(x).asnumpy(), x.asnumpy())


@pytest.mark.parametrize("p", [0.5, 0.2])
def test_dropout_keeps_one_minus_p_scaled_and_zeroes_the_rest(rng, seed_zero, p):
    x = _signed(rng, (4, 8, 64, 64))  # 131072 elements: the keep fraction's standard error is ~0.0014
    d = _training(p, salt=5)
    layers.set_dropout_seed(17)
    y = d(ms.Tensor(x)).asnumpy()
    kept = y != 0
    assert abs(kept.mean() - (1 - p)) < 0.01
    np.testing.assert_allclose(y[kept], x[kept] / (1 - p), rtol=1e-6, atol=0)
    assert np.all(y[~kept] == 0.0)
    np.testing.assert_array_equal(kept, _mask(d, x) == 1.0)


def test_dropout_mask_is_the_documented_hash(rng, seed_zero):
    for seed, salt, p, shape in [(0, 0, 0.5, (2, 3, 5, 7)), (123456, 7, 0.2, (3, 40)), (M32 - 1, M32 - 1, 0.9, (64,))]:
        layers.set_dropout_seed(seed)
        np.testing.assert_array_equal(_mask(_training(p, salt), np.zeros(shape, np.float32)),
                                      np_keep_mask(shape, p, seed, salt))


def test_dropout_mask_depends_on_seed_and_salt_only(rng, seed_zero):
    shape = (2, 4, 16, 16)
    layers.set_dropout_seed(3)
    first = _mask(_training(0.5, salt=1), _signed(rng, shape))
    np.testing.assert_array_equal(_mask(_training(0.5, salt=1), _signed(rng, shape)), first)  # other x, new layer
    assert (_mask(_training(0.5, salt=2), _signed(rng, shape)) != first).mean() > 0.4
    layers.set_dropout_seed(4)
    assert (_mask(_training(0.5, salt=1), _signed(rng, shape)) != first).mean() > 0.4
    # seed and salt are not simply XOR-ed: (seed 1, salt 0) and (seed 0, salt 1) differ
    layers.set_dropout_seed(1)
    a = _mask(_training(0.5, salt=0), np.zeros(shape, np.float32))
    layers.set_dropout_seed(0)
    assert (_mask(_training(0.5, salt=1), np.zeros(shape, np.float32)) != a).mean() > 0.4


def test_compiled_graphs_follow_the_seed(rng, seed_zero):
    d = _training(0.5, salt=9)
    x = ms.Tensor(_signed(rng, (2, 3, 32, 32)))

    def forward(v):
        return d(v)

    step = ms.jit(forward)
    layers.set_dropout_seed(11)
    first = step(x).asnumpy()
    np.testing.assert_array_equal(d(x).asnumpy(), first)  # PyNative and graph agree
    layers.set_dropout_seed(12)
    assert layers.dropout_seed() == 12
    second = step(x).asnumpy()
    assert ((second == 0) != (first == 0)).mean() > 0.4
    layers.set_dropout_seed(11)
    np.testing.assert_array_equal(step(x).asnumpy(), first)  # bit-identical replay


def test_dropout_gradient_is_the_scaled_mask_in_jit(rng, seed_zero):
    p = 0.2
    d = _training(p, salt=4)
    x = _signed(rng, (2, 3, 16, 16))

    def total(v):
        return d(v).sum()

    layers.set_dropout_seed(21)
    grad = ms.jit(ms.grad(total))(ms.Tensor(x)).asnumpy()
    np.testing.assert_allclose(grad, _mask(d, x) / (1 - p), rtol=1e-6, atol=0)
    assert 0 < (grad == 0).mean() < 1


def test_dropout_mask_has_no_visible_structure(rng, seed_zero):
    shape = (4, 8, 64, 64)
    layers.set_dropout_seed(5)
    d = _training(0.5, salt=3)
    flat = _mask(d, np.zeros(shape, np.float32)).ravel().astype(np.float64)
    # neighbours along W, along H (lag W), across channels (lag H*W); |corr| of independent bits is ~0.003 here
    for lag in (1, 64, 64 * 64):
        corr = np.corrcoef(flat[:-lag], flat[lag:])[0, 1]
        assert abs(corr) < 0.02, (lag, corr)
    layers.set_dropout_seed(6)  # the next step's mask, same positions
    corr = np.corrcoef(flat, _mask(d, np.zeros(shape, np.float32)).ravel())[0, 1]
    assert abs(corr) < 0.02, corr


def test_dropout_seed_is_in_no_checkpoint():
    net = nn.SequentialCell([layers.Conv2d(3, 4, 3), layers.Dropout(0.5, salt=1), layers.Dropout(0.3, salt=2)])
    assert sorted(net.parameters_dict()) == ["0.weight"]
    assert list(layers.Dropout(0.5).get_parameters()) == []


@pytest.mark.parametrize("kwargs, pattern", [(dict(p=1.0), r"\[0, 1\)"), (dict(p=-0.1), r"\[0, 1\)"),
                                             (dict(salt=-1), "salt"), (dict(salt=M32), "salt"),
                                             (dict(salt=1.5), "salt")])
def test_dropout_arguments_are_validated(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        layers.Dropout(**kwargs)


@pytest.mark.parametrize("value", [-1, M32, 2.0, True, "1"])
def test_dropout_seed_is_validated(seed_zero, value):
    with pytest.raises(ValueError, match="dropout seed"):
        layers.set_dropout_seed(value)
    assert layers.dropout_seed() == 0


# ------------------------------------------------------------------------------------------------ plumbing

def test_identity_flatten_and_clamp_in_pynative_and_jit(rng):
    x = rng.standard_normal((3, 2, 4, 5)).astype(np.float32) * 3
    cases = [(layers.Identity(), x), (layers.Flatten(), x.reshape(3, 40))]
    for low, high in [(-1.0, 1.0), (None, 0.5), (-0.5, None)]:
        cases.append((layers.Clamp(low, high), np.clip(x, low, high)))
    for cell, want in cases:
        for fn in (cell, ms.jit(_forward(cell))):
            np.testing.assert_array_equal(fn(ms.Tensor(x)).asnumpy(), want)


@pytest.mark.parametrize("low, high, pattern", [(None, None, "low or a high"), (1.0, -1.0, "low <= high")])
def test_clamp_bounds_are_validated(low, high, pattern):
    with pytest.raises(ValueError, match=pattern):
        layers.Clamp(low, high)
