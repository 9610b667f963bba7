"""Layer-by-layer numerical checks of the shared vocabulary against NumPy formulations (fp32, atol 1e-5)."""
import numpy as np
import pytest
import mindspore as ms
from mindspore import nn, ops

from mindspore_impl.layers import (Conv2d, ConvNormAct, InstanceNorm2d, LayerNorm2d, LeakyReLU, Pad2d, SNConv2d,
                                   SpectralNormUpdate, Upsample, same_padding)

ms.set_context(mode=ms.PYNATIVE_MODE)
RNG = np.random.default_rng(0)


def _x(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("mode,np_mode", [("reflect", "reflect"), ("zero", "constant"), ("replicate", "edge")])
@pytest.mark.parametrize("padding", [(1, 1, 1, 1), (0, 1, 0, 1), (3, 3, 3, 3), (1, 0, 2, 0)])
def test_pad_matches_numpy(mode, np_mode, padding):
    x = _x(2, 3, 7, 9)
    left, right, top, bottom = padding
    want = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), mode=np_mode)
    got = Pad2d(padding, mode)(ms.Tensor(x)).asnumpy()
    np.testing.assert_array_equal(got, want)


def test_same_padding_is_tf_same():
    assert same_padding(3, 2) == (0, 1)  # the official stride-2 convs pad bottom/right only
    assert same_padding(7, 1) == (3, 3)
    assert same_padding(3, 1) == (1, 1)
    assert same_padding(1, 1) == (0, 0)


def _np_norm(x, axes, eps, gamma, beta):
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma[None, :, None, None] + beta[None, :, None, None]


@pytest.mark.parametrize("eps", [1e-12, 1e-5])
def test_layer_norm_over_chw_with_per_channel_affine(eps):
    x = _x(3, 5, 6, 7) * 3 + 1
    ln = LayerNorm2d(5, eps=eps)
    gamma, beta = _x(5), _x(5)
    ln.gamma.set_data(ms.Tensor(gamma))
    ln.beta.set_data(ms.Tensor(beta))
    want = _np_norm(x.astype(np.float64), (1, 2, 3), eps, gamma, beta)
    np.testing.assert_allclose(ln(ms.Tensor(x)).asnumpy(), want, atol=1e-5, rtol=1e-5)


def test_instance_norm_over_hw():
    x = _x(2, 4, 5, 6) * 2 - 1
    norm = InstanceNorm2d(4, eps=1e-5)
    gamma, beta = _x(4), _x(4)
    norm.gamma.set_data(ms.Tensor(gamma))
    norm.beta.set_data(ms.Tensor(beta))
    want = _np_norm(x.astype(np.float64), (2, 3), 1e-5, gamma, beta)
    np.testing.assert_allclose(norm(ms.Tensor(x)).asnumpy(), want, atol=1e-5, rtol=1e-5)


def _np_resize(x, scale, mode):
    """Reference resize by coordinate mapping (the ONNX Resize definitions)."""
    n, c, h, w = x.shape
    H, W = h * scale, w * scale

    def src(i, size_in, size_out):
        if mode == "asymmetric" or mode == "nearest":
            return i * size_in / size_out
        if mode == "align_corners":
            return i * (size_in - 1) / (size_out - 1)
        return max((i + 0.5) * size_in / size_out - 0.5, 0.0)  # half_pixel, clamped as TF/PyTorch

    out = np.zeros((n, c, H, W), np.float64)
    for i in range(H):
        sy = src(i, h, H)
        for j in range(W):
            sx = src(j, w, W)
            if mode == "nearest":
                out[:, :, i, j] = x[:, :, min(int(np.floor(sy)), h - 1), min(int(np.floor(sx)), w - 1)]
                continue
            y0, x0 = int(np.floor(sy)), int(np.floor(sx))
            y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
            fy, fx = sy - y0, sx - x0
            out[:, :, i, j] = (x[:, :, y0, x0] * (1 - fy) * (1 - fx) + x[:, :, y0, x1] * (1 - fy) * fx
                               + x[:, :, y1, x0] * fy * (1 - fx) + x[:, :, y1, x1] * fy * fx)
    return out


@pytest.mark.parametrize("mode", ["asymmetric", "align_corners", "half_pixel", "nearest"])
def test_upsample_modes_match_coordinate_maps(mode):
    x = _x(2, 3, 5, 7)
    got = Upsample(2, mode)(ms.Tensor(x)).asnumpy()
    np.testing.assert_allclose(got, _np_resize(x.astype(np.float64), 2, mode), atol=1e-5)


def test_upsample_modes_really_differ():
    x = ms.Tensor(_x(1, 1, 4, 4))
    a = Upsample(2, "asymmetric")(x).asnumpy()
    b = Upsample(2, "align_corners")(x).asnumpy()
    assert np.abs(a - b).max() > 1e-2


def test_conv_matches_numpy_including_depthwise_bias():
    x = _x(1, 4, 6, 6)
    conv = Conv2d(4, 4, 3, groups=4, bias=True)
    w, b = _x(4, 1, 3, 3), _x(4)
    conv.weight.set_data(ms.Tensor(w))
    conv.bias.set_data(ms.Tensor(b))
    want = np.zeros((1, 4, 4, 4))
    for c in range(4):
        for i in range(4):
            for j in range(4):
                want[0, c, i, j] = (x[0, c, i:i + 3, j:j + 3] * w[c, 0]).sum() + b[c]
    np.testing.assert_allclose(conv(ms.Tensor(x)).asnumpy(), want, atol=1e-5)


def test_leaky_relu():
    x = _x(10)
    np.testing.assert_allclose(LeakyReLU(0.2)(ms.Tensor(x)).asnumpy(), np.where(x > 0, x, 0.2 * x), atol=1e-7)


def test_spectral_norm_converges_to_largest_singular_value():
    conv = SNConv2d(6, 5, 3)
    update = SpectralNormUpdate(conv)
    for _ in range(60):  # the stored u follows one power iteration per training step
        update()
    w = conv.weight.asnumpy().reshape(5, -1)
    sigma_max = np.linalg.svd(w, compute_uv=False)[0]
    w_sn = conv.effective_weight().asnumpy().reshape(5, -1)
    assert abs(np.linalg.svd(w_sn, compute_uv=False)[0] - 1.0) < 1e-3
    np.testing.assert_allclose(conv.weight.asnumpy() / w_sn.reshape(conv.weight.shape), sigma_max, rtol=1e-3)


def test_forward_has_no_side_effect_on_u():
    conv = SNConv2d(3, 4, 3)
    conv.set_train(True)
    before = conv.u.asnumpy().copy()
    conv(ms.Tensor(_x(1, 3, 8, 8)))
    np.testing.assert_array_equal(conv.u.asnumpy(), before)


@pytest.mark.parametrize("mode", ["zero", "reflect", "replicate"])
def test_jit_gradients_through_padding_stay_correct_on_repeated_calls(mode):
    """Regression guard: on MindSpore 2.8.0 `ops.pad(mode='constant')` gives wrong gradients inside ms.jit from
    the second call on; Pad2d avoids it. Compare jit and PyNative gradients at the same weights, three times."""
    ms.set_seed(0)
    net = nn.SequentialCell([ConvNormAct(3, 4, padding=1, pad=mode, norm="layer", init="normal002"),
                             ConvNormAct(4, 1, padding=(1, 0, 1, 0), pad=mode, norm="none", act="none",
                                         init="normal002")])
    opt = nn.Adam(net.trainable_params(), learning_rate=1e-2)

    def loss_fn(x):
        return ops.mean(ops.square(net(x) - 1.0))

    grad_fn = ms.value_and_grad(loss_fn, None, opt.parameters)

    def train_step(x):
        loss, grads = grad_fn(x)
        opt(grads)
        return loss

    jit_grads, jit_step = ms.jit(grad_fn), ms.jit(train_step)
    x = ms.Tensor(_x(2, 3, 12, 12))
    for _ in range(3):
        _, g_eager = grad_fn(x)
        _, g_jit = jit_grads(x)
        for a, b in zip(g_eager, g_jit):
            np.testing.assert_allclose(b.asnumpy(), a.asnumpy(), rtol=1e-4, atol=1e-6)
        jit_step(x)
