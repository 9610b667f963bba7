"""Exact topology checks: parameter counts of the official networks and size behaviour."""
import numpy as np
import pytest
import mindspore as ms

from mindspore_impl.layers import count_params
from mindspore_impl.registry import MODELS, RegistryError, create_model

ms.set_context(mode=ms.PYNATIVE_MODE)


def test_generator_has_the_official_parameter_count():
    g = create_model("animeganv2_generator")
    assert count_params(g) == 2_143_552  # TF G_net / the PyTorch port: 77 tensors
    assert len(g.trainable_params()) == 77


def test_discriminator_parameter_count():
    d = create_model("animeganv2_discriminator")
    assert count_params(d) == 1_128_800  # D_net(ch=64, n_dis=3): 7 bias-free convs + 3 layer norms


def test_generator_parameter_names_follow_the_port_layout():
    names = [n for n, _ in create_model("animeganv2_generator").parameters_and_names()]
    assert names[0] == "block_a.0.conv.weight"
    assert "block_c.1.layers.1.conv.bias" in names  # the depthwise conv is the only one with a bias
    assert "block_c.4.layers.3.gamma" in names
    assert names[-1] == "out_layer.0.weight"
    assert sum(n.endswith(".bias") and ".conv." in n for n in names) == 4


def test_full_size_generator_keeps_256_squared():
    g = create_model("animeganv2_generator")
    y = g(ms.Tensor(np.zeros((1, 3, 256, 256), np.float32))).asnumpy()
    assert y.shape == (1, 3, 256, 256)


@pytest.mark.parametrize("hw", [(32, 32), (36, 44), (64, 40)])
def test_any_multiple_of_four_keeps_its_size_and_range(hw):
    ms.set_seed(0)
    g = create_model("animeganv2_generator", width=0.125)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3) + hw).astype(np.float32)
    y = g(ms.Tensor(x)).asnumpy()
    assert y.shape == x.shape
    assert np.abs(y).max() <= 1.0 + 1e-5  # tanh; MindSpore's CPU tanh may overshoot 1 by a few ulp


def test_discriminator_is_a_quarter_resolution_patchgan():
    d = create_model("animeganv2_discriminator", ch=16)
    assert d(ms.Tensor(np.zeros((2, 3, 32, 48), np.float32))).shape == (2, 1, 8, 12)


def test_width_multiplier_scales_channels():
    assert count_params(create_model("animeganv2_generator", width=0.5)) < 2_143_552 / 3


def test_unknown_model_names_the_registered_ones():
    with pytest.raises(RegistryError, match="animeganv2_generator"):
        MODELS.get("animegan_v9")


def test_unknown_upsample_mode_is_rejected():
    with pytest.raises(ValueError, match="upsample mode"):
        create_model("animeganv2_generator", upsample="bicubic")
