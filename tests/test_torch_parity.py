"""Imported PyTorch-port weights reproduce the port's outputs (skipped where torch is not installed).

The PyTorch formulation below follows bryandlee/animegan2-pytorch `model.py` (see
/work/shared/reference/animeganv2.md §1.2): the reference is written independently of our network, gets random
weights (random GroupNorm γ/β too, so a swapped γ/β or a mis-routed norm would show), is saved as a `.pt`,
imported with the CLI and compared on random [-1, 1] inputs.
"""
import subprocess
import sys
from pathlib import Path

import mindspore as ms
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from mindspore_impl.config import load_config  # noqa: E402
from mindspore_impl.registry import create_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-4


# ---------------------------------------------------------------------------------------------------- the port
class ConvNormLReLU(nn.Sequential):
    def __init__(self, in_ch, out_ch, kernel_size=3, stride=1, padding=1, groups=1, bias=False):
        super().__init__(
            nn.ReflectionPad2d(padding),
            nn.Conv2d(in_ch, out_ch, kernel_size=kernel_size, stride=stride, padding=0, groups=groups, bias=bias),
            nn.GroupNorm(num_groups=1, num_channels=out_ch, affine=True),  # eps 1e-5 (PyTorch default)
            nn.LeakyReLU(0.2, inplace=True),
        )


class InvertedResBlock(nn.Module):
    def __init__(self, in_ch, out_ch, expansion_ratio=2):
        super().__init__()
        self.use_res_connect = in_ch == out_ch
        bottleneck = int(round(in_ch * expansion_ratio))
        self.layers = nn.Sequential(
            ConvNormLReLU(in_ch, bottleneck, kernel_size=1, padding=0),
            ConvNormLReLU(bottleneck, bottleneck, groups=bottleneck, bias=True),
            nn.Conv2d(bottleneck, out_ch, kernel_size=1, padding=0, bias=False),
            nn.GroupNorm(num_groups=1, num_channels=out_ch, affine=True),
        )

    def forward(self, x):
        out = self.layers(x)
        return x + out if self.use_res_connect else out


class PortGenerator(nn.Module):
    def __init__(self):
        super().__init__()
        self.block_a = nn.Sequential(ConvNormLReLU(3, 32, kernel_size=7, padding=3),
                                     ConvNormLReLU(32, 64, stride=2, padding=(0, 1, 0, 1)),
                                     ConvNormLReLU(64, 64))
        self.block_b = nn.Sequential(ConvNormLReLU(64, 128, stride=2, padding=(0, 1, 0, 1)),
                                     ConvNormLReLU(128, 128))
        self.block_c = nn.Sequential(ConvNormLReLU(128, 128), InvertedResBlock(128, 256, 2),
                                     InvertedResBlock(256, 256, 2), InvertedResBlock(256, 256, 2),
                                     InvertedResBlock(256, 256, 2), ConvNormLReLU(256, 128))
        self.block_d = nn.Sequential(ConvNormLReLU(128, 128), ConvNormLReLU(128, 128))
        self.block_e = nn.Sequential(ConvNormLReLU(128, 64), ConvNormLReLU(64, 64),
                                     ConvNormLReLU(64, 32, kernel_size=7, padding=3))
        self.out_layer = nn.Sequential(nn.Conv2d(32, 3, kernel_size=1, stride=1, padding=0, bias=False), nn.Tanh())

    def forward(self, input, align_corners=True):
        out = self.block_a(input)
        half_size = out.size()[-2:]
        out = self.block_b(out)
        out = self.block_c(out)
        out = F.interpolate(out, half_size, mode="bilinear", align_corners=align_corners)
        out = self.block_d(out)
        out = F.interpolate(out, input.size()[-2:], mode="bilinear", align_corners=align_corners)
        out = self.block_e(out)
        return self.out_layer(out)


def randomize(model: nn.Module, seed: int) -> nn.Module:
    """Random conv weights (PyTorch default init) and random GroupNorm γ/β and depthwise biases."""
    torch.manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.reset_parameters()
            if m.bias is not None:
                nn.init.normal_(m.bias, 0.0, 0.2)
        elif isinstance(m, nn.GroupNorm):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.normal_(m.bias, 0.0, 0.3)
    return model.eval()


# ---------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(autouse=True)
def pynative():
    ms.set_context(mode=ms.PYNATIVE_MODE)


@pytest.fixture(scope="module")
def port():
    return randomize(PortGenerator(), seed=0)


@pytest.fixture(scope="module")
def imported_ckpt(port, tmp_path_factory):
    """The port's state dict saved as .pt and imported with the CLI; returns (ckpt path, CLI stdout)."""
    folder = tmp_path_factory.mktemp("parity")
    pt = folder / "port.pt"
    torch.save(port.state_dict(), pt)
    out = folder / "G.ckpt"
    proc = subprocess.run([sys.executable, "mindspore_impl/import_weights.py", "--family", "animeganv2",
                           "--input", str(pt), "--output", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out, proc.stdout


def our_generator(config: str, ckpt: Path):
    cfg = load_config(ROOT / config)
    values = {k: v for k, v in cfg["generator"].items() if k != "name"}
    net = create_model(cfg["generator"]["name"], **values)
    not_loaded, _ = ms.load_param_into_net(net, ms.load_checkpoint(str(ckpt)), strict_load=True)
    assert not not_loaded
    net.set_train(False)
    return net


def run_both(port, net, shape, seed):
    x = np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)
    with torch.no_grad():
        ref = port(torch.from_numpy(x)).numpy()
    ours = net(ms.Tensor(x)).asnumpy()
    assert ours.shape == ref.shape == shape
    return ref, ours


# ---------------------------------------------------------------------------------------------------- tests
def test_port_has_the_documented_77_tensors(port):
    sd = port.state_dict()
    assert len(sd) == 77
    assert sum(v.numel() for v in sd.values()) == 2_143_552
    assert tuple(sd["block_c.1.layers.1.1.weight"].shape) == (256, 1, 3, 3)


def test_cli_reports_tensors_and_the_config_to_use(imported_ckpt):
    _, stdout = imported_ckpt
    assert "77 tensors" in stdout and "2,143,552 parameters" in stdout
    assert "configs/animeganv2/pytorch_port.yaml" in stdout


@pytest.mark.parametrize("shape", [(2, 3, 64, 64), (1, 3, 64, 96)])
def test_imported_weights_reproduce_the_port(port, imported_ckpt, shape):
    net = our_generator("configs/animeganv2/pytorch_port.yaml", imported_ckpt[0])
    ref, ours = run_both(port, net, shape, seed=shape[3])
    diff = float(np.abs(ref - ours).max())
    assert diff <= TOLERANCE, f"max abs diff {diff:.2e}"
    assert float(np.std(ref)) > 0.05  # a saturated or constant output would make the comparison meaningless


def test_tf_numerics_differ_measurably(port, imported_ckpt):
    """The TF config (eps 1e-12, asymmetric resize) must not pass the parity bound: the test can tell them apart."""
    net = our_generator("configs/animeganv2/hayao.yaml", imported_ckpt[0])
    ref, ours = run_both(port, net, (1, 3, 64, 64), seed=64)
    assert float(np.abs(ref - ours).max()) > 50 * TOLERANCE
