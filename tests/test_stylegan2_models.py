"""StyleGAN2 networks: full-size parameter counts pinned to NVlabs', mapping/synthesis/discriminator shapes.

The pinned counts were measured by building NVlabs stylegan2-ada-pytorch's own modules (`training/networks.py`,
commit d72cc7d) with torch 2.13 CPU and summing `p.numel()` over `parameters()`, with the arguments `train.py`
gives for `--cfg=auto` at 256² on one GPU (map=2, fmaps=0.5 → channel_base 16384, mbstd 4) and `--cfg=paper256`
(map=8, channel_base 16384, mbstd 8); conv_clamp 256 and num_fp16_res 4 add no parameters. The test also derives
the same numbers from NVlabs' layer definitions (`nvlabs_counts`, below) so a change of either side is caught.
"""
import math
from pathlib import Path

import mindspore as ms
import numpy as np
import pytest
from mindspore import Tensor

from mindspore_impl.config import load_config
from mindspore_impl.families.stylegan2 import StyleGAN2Family
from mindspore_impl.layers import count_params
from mindspore_impl.registry import build_network
from mindspore_impl.models.stylegan2 import num_ws_for, stylegan2_discriminator, stylegan2_generator

# (G, G.mapping, G.synthesis, D) parameters of the NVlabs modules, measured as the module docstring says.
NVLABS_COUNTS = {
    "anime256": (23_191_522, 525_312, 22_666_210, 24_001_089),   # --cfg=auto, 256², 1 GPU (the study)
    "paper256": (24_767_458, 2_101_248, 22_666_210, 24_001_089),  # --cfg=paper256
}
PRESETS = {"anime256": dict(mapping_layers=2, mbstd=4), "paper256": dict(mapping_layers=8, mbstd=8)}
ROOT = Path(__file__).resolve().parents[1]


def nvlabs_counts(res=256, z_dim=512, w_dim=512, base=16384, cmax=512, mapping_layers=8, img_channels=3):
    """Parameter counts from NVlabs' layer definitions: FullyConnectedLayer in·out + out; SynthesisLayer affine
    (w·in + in), weight out·in·9, noise_strength, bias out; ToRGBLayer affine, weight 3·in, bias 3; the 4×4 const;
    Conv2dLayer out·in·k² (+ out); the epilogue conv, fc (in·16 → in) and out (→ 1)."""
    ch = lambda r: min(base // r, cmax)  # noqa: E731
    fc = lambda i, o: i * o + o  # noqa: E731
    mapping = fc(z_dim, w_dim) + (mapping_layers - 1) * fc(w_dim, w_dim)
    layer = lambda i, o: fc(w_dim, i) + o * i * 9 + 1 + o  # noqa: E731
    torgb = lambda i: fc(w_dim, i) + img_channels * i + img_channels  # noqa: E731
    synthesis = ch(4) * 16 + layer(ch(4), ch(4)) + torgb(ch(4))
    for r in (2 ** k for k in range(3, int(math.log2(res)) + 1)):
        synthesis += layer(ch(r // 2), ch(r)) + layer(ch(r), ch(r)) + torgb(ch(r))
    d = img_channels * ch(res) + ch(res)  # fromrgb
    for r in (2 ** k for k in range(int(math.log2(res)), 2, -1)):
        c, o = ch(r), ch(r // 2)
        d += (c * c * 9 + c) + (c * o * 9 + o) + c * o  # conv0, conv1, skip (no bias)
    c4 = ch(4)
    d += ((c4 + 1) * c4 * 9 + c4) + fc(c4 * 16, c4) + fc(c4, 1)
    return mapping + synthesis, mapping, synthesis, d


@pytest.fixture(autouse=True)
def pynative():
    ms.set_context(mode=ms.PYNATIVE_MODE)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_full_size_parameter_counts_equal_nvlabs(preset):
    """Built from configs/stylegan2/<preset>.yaml, the config the docs give for NVlabs' --cfg."""
    spec = PRESETS[preset]
    cfg = load_config(ROOT / f"configs/stylegan2/{preset}.yaml")
    StyleGAN2Family.check_config(cfg)
    assert cfg["generator"]["mapping_layers"] == spec["mapping_layers"]
    assert cfg["discriminator"]["mbstd_group_size"] == spec["mbstd"]
    G, D = build_network(cfg, "generator"), build_network(cfg, "discriminator")
    ours = (count_params(G), count_params(G.mapping), count_params(G.synthesis), count_params(D))
    assert ours == NVLABS_COUNTS[preset]
    assert nvlabs_counts(mapping_layers=spec["mapping_layers"]) == NVLABS_COUNTS[preset]
    assert G.num_ws == num_ws_for(256) == 14
    # buffers beyond the trainable parameters: w_avg and one noise_const per synthesis conv (13 at 256²)
    buffers = [n for n, p in G.parameters_and_names() if not p.requires_grad]
    assert sorted(buffers)[-1] == "synthesis.b8.conv1.noise_const" and len(buffers) == 14


def test_shapes_of_mapping_synthesis_and_discriminator():
    G = stylegan2_generator(z_dim=8, w_dim=6, img_resolution=16, mapping_layers=2, channel_base=64, channel_max=8)
    D = stylegan2_discriminator(img_resolution=16, channel_base=64, channel_max=8, mbstd_group_size=2)
    z = Tensor(np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32))
    ws = G.mapping(z)
    assert ws.shape == (3, num_ws_for(16), 6) == (3, 6, 6)
    assert np.all(ws.asnumpy() == ws.asnumpy()[:, :1])  # one w broadcast to every layer
    img = G.synthesis(ws)
    assert img.shape == (3, 3, 16, 16)
    noise = Tensor(np.zeros((3, G.synthesis.noise_size), np.float32))
    assert G.synthesis.noise_size == 16 + 2 * 64 + 2 * 256  # one map per conv: 4², 8² ×2, 16² ×2
    assert G.synthesis(ws, noise).shape == (3, 3, 16, 16)
    assert D(img[:2]).shape == (2, 1)
    assert D(Tensor(np.zeros((4, 3, 16, 16), np.float32))).shape == (4, 1)
    psi = Tensor(np.array(0.5, np.float32))
    assert G(z, psi).shape == (3, 3, 16, 16)
    # truncation pulls every w halfway towards w_avg
    G.mapping.w_avg.set_data(Tensor(np.ones(6, np.float32)))
    w = G.mapping(z).asnumpy()
    np.testing.assert_allclose(G.mapping(z, None, psi).asnumpy(), 1 + 0.5 * (w - 1), atol=1e-6)


def test_unsupported_architectures_are_refused():
    with pytest.raises(ValueError, match="synthesis architecture 'resnet' is not supported"):
        stylegan2_generator(img_resolution=8, channel_base=32, channel_max=4, architecture="resnet")
    with pytest.raises(ValueError, match="discriminator architecture 'skip' is not supported"):
        stylegan2_discriminator(img_resolution=8, channel_base=32, channel_max=4, architecture="skip")
    with pytest.raises(ValueError, match="power of two"):
        stylegan2_generator(img_resolution=24)
