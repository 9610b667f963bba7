"""StyleGAN2 leaves (mindspore_impl/models/stylegan2.py): MindSpore against the NumPy formulations of NVlabs' ops
in tests/_stylegan2_reference.py, and the ONNX converters against MindSpore.

Tolerances: MindSpore float32 vs the float64 NumPy reference within 2e-5 relative to the output's magnitude (sums
of a few hundred products); onnxruntime vs MindSpore within 2e-5 of the output's magnitude (assert_parity)."""
import mindspore as ms
import numpy as np
import pytest
from mindspore import Parameter, Tensor, nn

from mindspore_impl.models import stylegan2 as sg2
from tests import _stylegan2_reference as ref
from tests._export_helpers import assert_parity, op_types


@pytest.fixture(autouse=True)
def pynative():
    ms.set_context(mode=ms.PYNATIVE_MODE)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def close(got, want, rel=2e-5):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=0, atol=rel * max(1.0, float(np.abs(want).max())))


class WithParams(nn.Cell):
    """A parameter-free leaf called with parameters it does not own (as the StyleGAN2 layers call them)."""

    def __init__(self, leaf, *arrays):
        super().__init__()
        self.leaf = leaf
        self.params = tuple(Parameter(Tensor(a.astype(np.float32)), name=f"p{i}") for i, a in enumerate(arrays))
        for i, p in enumerate(self.params):
            setattr(self, f"p{i}", p)

    def construct(self, x, *extra):
        return self.leaf(x, *self.params, *extra)


# ------------------------------------------------------------------------------------------------ FIR resampling

@pytest.mark.parametrize("taps, up, down, padding, gain, flip", [
    ((1, 3, 3, 1), 2, 1, (2, 1, 2, 1), 4.0, False),       # upsample2d: the skip image ↑2
    ((1, 3, 3, 1), 1, 1, (2, 2, 2, 2), 1.0, False),       # before a stride-2 conv (D conv1)
    ((1, 3, 3, 1), 1, 2, (1, 1, 1, 1), 1.0, False),       # ↓2 before a 1×1 conv (D skip)
    ((1, 3, 3, 1), 1, 1, (1, 1, 1, 1), 4.0, False),       # after the transposed conv of an upsampling layer
    ((1, 2, 4, 2, 1, 3, 1, 2, 5, 1, 2, 1), 2, 1, (6, 5, 6, 5), 4.0, False),  # 12 taps: separable (ADA's size)
    ((1, 2, 4, 2, 1, 3, 1, 2, 5, 1, 2, 1), 1, 2, (-6, -6, -6, -6), 1.0, True),  # crop + flip_filter, ↓2
])
def test_upfirdn2d_matches_numpy_and_exports(rng, taps, up, down, padding, gain, flip):
    cell = sg2.Upfirdn2d(taps, up=up, down=down, padding=padding, gain=gain, flip_filter=flip)
    x = rng.standard_normal((2, 3, 32, 36)).astype(np.float32)
    got = cell(Tensor(x)).asnumpy()
    close(got, ref.upfirdn2d(x, ref.setup_filter(taps), up, down, padding, flip, gain))
    assert got.shape[2:] == (cell.output_size(32, 0), cell.output_size(36, 1))
    model = assert_parity(cell, x)
    assert "Conv" in op_types(model)


def test_upsample2d_keeps_a_constant_image_constant():
    # the [1,3,3,1] filter is normalised: DC gain 1 after the ×4 gain of the zero insertion
    up = sg2.upsample2d()
    y = up(Tensor(np.ones((1, 1, 8, 8), np.float32))).asnumpy()
    assert y.shape == (1, 1, 16, 16)
    np.testing.assert_allclose(y[0, 0, 2:-2, 2:-2], 1.0, atol=1e-6)


# ------------------------------------------------------------------------------------------------ modulated conv

@pytest.mark.parametrize("kernel, up, demodulate", [(3, 1, True), (3, 2, True), (1, 1, False)])
def test_modulated_conv_matches_the_fused_numpy_formula(rng, kernel, up, demodulate):
    weight = rng.standard_normal((5, 4, kernel, kernel)).astype(np.float32)
    styles = rng.uniform(0.5, 1.5, (3, 4)).astype(np.float32)
    x = rng.standard_normal((3, 4, 8, 8)).astype(np.float32)
    cell = sg2.ModulatedConv2d(4, 5, kernel, up=up, demodulate=demodulate)
    got = cell(Tensor(x), Tensor(weight), Tensor(styles)).asnumpy()
    close(got, ref.modulated_conv2d(x, weight, styles, up=up, demodulate=demodulate))
    assert got.shape == (3, 5, 8 * up, 8 * up)


@pytest.mark.parametrize("up", [1, 2])
def test_modulated_conv_exports_with_a_dynamic_batch(rng, up):
    weight = rng.standard_normal((5, 4, 3, 3))
    net = WithParams(sg2.ModulatedConv2d(4, 5, 3, up=up), weight)
    for n in (1, 4):
        x = rng.standard_normal((n, 4, 8, 8)).astype(np.float32)
        styles = rng.uniform(0.5, 1.5, (n, 4)).astype(np.float32)
        model = assert_parity(net, x, styles)
        assert [d.dim_param for d in model.graph.input[0].type.tensor_type.shape.dim][0] != "1"
        conv = next(node for node in model.graph.node if node.op_type in ("Conv", "ConvTranspose"))
        assert {a.name: a.i for a in conv.attribute}.get("group", 1) == 1  # one shared-weight conv, no groups


def test_demodulation_keeps_unit_output_variance(rng):
    # unit-variance input, any weights and styles: each output channel has variance 1 (away from the zero border)
    weight = (rng.standard_normal((6, 8, 3, 3)) * rng.uniform(0.1, 3, (6, 1, 1, 1))).astype(np.float32)
    styles = rng.uniform(0.2, 4.0, (16, 8)).astype(np.float32)
    x = rng.standard_normal((16, 8, 32, 32)).astype(np.float32)
    y = sg2.ModulatedConv2d(8, 6, 3)(Tensor(x), Tensor(weight), Tensor(styles)).asnumpy()[:, :, 1:-1, 1:-1]
    variance = y.var(axis=(0, 2, 3))
    np.testing.assert_allclose(variance, 1.0, atol=0.05)
    plain = sg2.ModulatedConv2d(8, 6, 3, demodulate=False)(Tensor(x), Tensor(weight), Tensor(styles)).asnumpy()
    assert plain[:, :, 1:-1, 1:-1].var(axis=(0, 2, 3)).min() > 2.0  # without demodulation it is not


# ------------------------------------------------------------------------------------------------ small leaves

@pytest.mark.parametrize("activation, gain, clamp", [("lrelu", None, None), ("lrelu", 1.0, 0.5),
                                                     ("linear", 0.7, None), ("linear", None, 0.3)])
def test_bias_act(rng, activation, gain, clamp):
    x = rng.standard_normal((2, 4, 5, 5)).astype(np.float32)
    bias = rng.standard_normal(4)
    cell = sg2.BiasAct(activation, gain=gain, clamp=clamp)
    close(cell(Tensor(x), Tensor(bias.astype(np.float32))).asnumpy(), ref.bias_act(x, bias, activation, gain, clamp))
    assert_parity(WithParams(cell, bias), x)


@pytest.mark.parametrize("activation, lr_multiplier, bias_init", [("lrelu", 0.01, 0.0), ("linear", 1.0, 1.0)])
def test_fully_connected(rng, activation, lr_multiplier, bias_init):
    fc = sg2.FullyConnected(6, 5, activation=activation, lr_multiplier=lr_multiplier, bias_init=bias_init)
    assert np.all(fc.bias.asnumpy() == bias_init)
    fc.weight.set_data(Tensor(rng.standard_normal((5, 6)).astype(np.float32) / lr_multiplier))
    fc.bias.set_data(Tensor(rng.standard_normal(5).astype(np.float32)))
    x = rng.standard_normal((3, 6)).astype(np.float32)
    want = ref.fully_connected(x, fc.weight.asnumpy(), fc.bias.asnumpy(), activation, lr_multiplier)
    close(fc(Tensor(x)).asnumpy(), want)
    assert op_types(assert_parity(fc, x))[0] == "Gemm"


def test_normalize_2nd_moment(rng):
    x = (rng.standard_normal((4, 7)) * 3).astype(np.float32)
    y = sg2.Normalize2ndMoment()(Tensor(x)).asnumpy()
    close(y, ref.normalize_2nd_moment(x))
    np.testing.assert_allclose(np.square(y).mean(axis=1), 1.0, rtol=1e-5)
    assert_parity(sg2.Normalize2ndMoment(), x)


@pytest.mark.parametrize("group_size, n", [(4, 8), (4, 2), (2, 6), (None, 3)])
def test_minibatch_std(rng, group_size, n):
    x = rng.standard_normal((n, 6, 4, 4)).astype(np.float32)
    cell = sg2.MinibatchStd(group_size, num_channels=2)
    assert sg2.MinibatchStd.mixes_samples
    close(cell(Tensor(x)).asnumpy(), ref.minibatch_std(x, group_size, 2))
    assert_parity(cell, x)


def test_const_input_broadcasts_to_the_batch(rng):
    const = rng.standard_normal((3, 4, 4))
    for n in (1, 4):
        ws = rng.standard_normal((n, 6, 2)).astype(np.float32)
        out = sg2.ConstInput()(Tensor(const.astype(np.float32)), Tensor(ws)).asnumpy()
        assert out.shape == (n, 3, 4, 4) and np.allclose(out, const[None])

    class Holder(nn.Cell):
        def __init__(self):
            super().__init__()
            self.const = Parameter(Tensor(const.astype(np.float32)), name="const")
            self.leaf = sg2.ConstInput()

        def construct(self, like):
            return self.leaf(self.const, like)

    for n in (1, 4):
        assert_parity(Holder(), rng.standard_normal((n, 6, 2)).astype(np.float32))


def test_repeat_and_select_w(rng):
    w = rng.standard_normal((3, 5)).astype(np.float32)
    ws = sg2.RepeatW(4)(Tensor(w)).asnumpy()
    assert ws.shape == (3, 4, 5) and np.all(ws == w[:, None])
    mixed = rng.standard_normal((3, 4, 5)).astype(np.float32)
    assert np.all(sg2.SelectW(2)(Tensor(mixed)).asnumpy() == mixed[:, 2])
    assert_parity(sg2.RepeatW(4), w)
    assert_parity(sg2.SelectW(2), mixed)


def test_noise_injection_random_and_const(rng):
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    noise = rng.standard_normal((2, 1, 4, 4)).astype(np.float32)
    strength = np.float32(0.3)
    got = sg2.NoiseInjection()(Tensor(x), Tensor(noise), Tensor(strength)).asnumpy()
    close(got, x + noise * strength)
    const = rng.standard_normal((4, 4))
    net = WithParams(sg2.NoiseInjection(), const, np.array(0.7))
    close(net(Tensor(x)).asnumpy(), x + const * 0.7)
    assert_parity(net, x)

    class RandomNoise(nn.Cell):
        def __init__(self):
            super().__init__()
            self.strength = Parameter(Tensor(np.float32(0.3)), name="strength")
            self.leaf = sg2.NoiseInjection()

        def construct(self, x, noise):
            return self.leaf(x, noise, self.strength)

    assert_parity(RandomNoise(), x, noise)


def test_label_projection(rng):
    x, cmap = rng.standard_normal((3, 8)).astype(np.float32), rng.standard_normal((3, 8)).astype(np.float32)
    got = sg2.LabelProjection(8)(Tensor(x), Tensor(cmap)).asnumpy()
    close(got, (x * cmap).sum(axis=1, keepdims=True) / np.sqrt(8))
    assert_parity(sg2.LabelProjection(8), x, cmap)


@pytest.mark.parametrize("kernel, down, bias, gain", [(3, 1, True, 1.0), (3, 2, True, 0.5 ** 0.5),
                                                      (1, 2, False, 0.5 ** 0.5), (1, 1, True, 1.0)])
def test_discriminator_conv_layer(rng, kernel, down, bias, gain):
    layer = sg2.Conv2dLayer(4, 5, kernel, bias=bias, activation="lrelu" if bias else "linear", down=down,
                            conv_clamp=256 if bias else None, gain=gain)
    w = rng.standard_normal((5, 4, kernel, kernel)).astype(np.float32)
    layer.weight.set_data(Tensor(w))
    b = rng.standard_normal(5).astype(np.float32)
    if bias:
        layer.bias.set_data(Tensor(b))
    x = rng.standard_normal((2, 4, 8, 8)).astype(np.float32)
    # NVlabs conv2d_resample: down=2 pads the FIR by (k//2 + 1, k//2 + 1) for k=3 and (1, 1) for k=1
    f = ref.setup_filter((1, 3, 3, 1))
    wg = w / np.sqrt(4 * kernel * kernel)
    if down == 1:
        y = ref.conv2d(x, wg, padding=kernel // 2)
    elif kernel == 3:
        y = ref.conv2d(ref.upfirdn2d(x, f, padding=(2, 2, 2, 2)), wg, stride=2)
    else:
        y = ref.conv2d(ref.upfirdn2d(x, f, down=2, padding=(1, 1, 1, 1)), wg)
    act = "lrelu" if bias else "linear"
    want = ref.bias_act(y, b if bias else None, act, gain=(np.sqrt(2) if bias else 1.0) * gain,
                        clamp=256 * gain if bias else None)
    close(layer(Tensor(x)).asnumpy(), want)
    assert_parity(layer, x)


@pytest.mark.parametrize("up", [1, 2])
def test_modulated_conv_gradients_match_torch(rng, up):
    """In ≠ out channels and the transposed conv's own gradient (MindSpore's Conv2DTranspose needs the right
    out_channel for it), under jit as the training graphs run."""
    torch = pytest.importorskip("torch")
    from tests._stylegan2_torch import TorchStyleGAN2

    weight = rng.standard_normal((3, 5, 3, 3)).astype(np.float32)
    styles = rng.uniform(0.5, 1.5, (2, 5)).astype(np.float32)
    x = rng.standard_normal((2, 5, 4, 4)).astype(np.float32)
    probe = rng.standard_normal((2, 3, 4 * up, 4 * up)).astype(np.float32)
    cell = sg2.ModulatedConv2d(5, 3, 3, up=up)

    def loss(x, w, s):
        return (cell(x, w, s) * Tensor(probe)).sum()

    got = ms.jit(ms.grad(loss, grad_position=(0, 1, 2)))(Tensor(x), Tensor(weight), Tensor(styles))
    xs = [torch.tensor(a, requires_grad=True) for a in (x, weight, styles)]
    (TorchStyleGAN2({}, 1, 1, 4).modconv(*xs, up=up) * torch.tensor(probe)).sum().backward()
    for g, t in zip(got, xs):
        close(g.asnumpy(), t.grad.numpy(), rel=1e-4)
