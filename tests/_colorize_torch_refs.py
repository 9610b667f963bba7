"""PyTorch builds of the reference networks, module for module as the reference code defines them (so their state
dicts have the reference key names), written for the tests from reading:
- junyanz/pytorch-CycleGAN-and-pix2pix `models/networks.py` (upstream, as in 15bonte's fork at 9f8f61e5):
  UnetGenerator/UnetSkipConnectionBlock, ResnetGenerator/ResnetBlock, NLayerDiscriminator, get_norm_layer;
- functorial/BerserkMangaColoring `cyclegan/cyclegan_train_test.ipynb`: conv/deconv, ResidualBlock, CycleGenerator,
  Discriminator;
- NVIDIA/pix2pixHD `models/networks.py`: GlobalGenerator, LocalEnhancer, ResnetBlock, MultiscaleDiscriminator,
  NLayerDiscriminator.
Imported only by tests that `pytest.importorskip("torch")` first.
"""
from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def junyanz_norm(kind: str):
    if kind == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if kind == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    return lambda c: nn.Identity()


def _uses_bias(norm_layer) -> bool:
    func = norm_layer.func if isinstance(norm_layer, functools.partial) else norm_layer
    return func == nn.InstanceNorm2d


# ------------------------------------------------------------------------------------------------ junyanz

class UnetSkipConnectionBlock(nn.Module):
    def __init__(self, outer_nc, inner_nc, input_nc=None, submodule=None, outermost=False, innermost=False,
                 norm_layer=nn.BatchNorm2d, use_dropout=False):
        super().__init__()
        self.outermost = outermost
        use_bias = _uses_bias(norm_layer)
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
        downrelu = nn.LeakyReLU(0.2, True)
        downnorm = norm_layer(inner_nc)
        uprelu = nn.ReLU(True)
        upnorm = norm_layer(outer_nc)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            model = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
            model = [downrelu, downconv, uprelu, upconv, upnorm]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
            model = [downrelu, downconv, downnorm, submodule, uprelu, upconv, upnorm]
            if use_dropout:
                model = model + [nn.Dropout(0.5)]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    def __init__(self, input_nc, output_nc, num_downs, ngf=64, norm_layer=nn.BatchNorm2d, use_dropout=False):
        super().__init__()
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=None, norm_layer=norm_layer, innermost=True)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=block, norm_layer=norm_layer,
                                            use_dropout=use_dropout)
        block = UnetSkipConnectionBlock(ngf * 4, ngf * 8, submodule=block, norm_layer=norm_layer)
        block = UnetSkipConnectionBlock(ngf * 2, ngf * 4, submodule=block, norm_layer=norm_layer)
        block = UnetSkipConnectionBlock(ngf, ngf * 2, submodule=block, norm_layer=norm_layer)
        self.model = UnetSkipConnectionBlock(output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True,
                                             norm_layer=norm_layer)

    def forward(self, x):
        return self.model(x)


class ResnetBlock(nn.Module):
    """junyanz's; pix2pixHD's is the same layer list (its `activation` is ReLU, use_bias True)."""

    def __init__(self, dim, padding_type, norm_layer, use_dropout, use_bias):
        super().__init__()
        block, p = [], 0
        pads = {"reflect": nn.ReflectionPad2d, "replicate": nn.ReplicationPad2d}
        if padding_type in pads:
            block += [pads[padding_type](1)]
        else:
            p = 1
        block += [nn.Conv2d(dim, dim, kernel_size=3, padding=p, bias=use_bias), norm_layer(dim), nn.ReLU(True)]
        if use_dropout:
            block += [nn.Dropout(0.5)]
        if padding_type in pads:
            block += [pads[padding_type](1)]
        block += [nn.Conv2d(dim, dim, kernel_size=3, padding=p, bias=use_bias), norm_layer(dim)]
        self.conv_block = nn.Sequential(*block)

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """junyanz ResnetGenerator; with n_downsampling=4 and always_bias=True it is pix2pixHD's GlobalGenerator."""

    def __init__(self, input_nc, output_nc, ngf=64, norm_layer=nn.BatchNorm2d, use_dropout=False, n_blocks=6,
                 padding_type="reflect", n_downsampling=2, always_bias=False, with_tail=True):
        super().__init__()
        use_bias = always_bias or _uses_bias(norm_layer)
        model = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, kernel_size=7, padding=0, bias=use_bias),
                 norm_layer(ngf), nn.ReLU(True)]
        for i in range(n_downsampling):
            mult = 2 ** i
            model += [nn.Conv2d(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1, bias=use_bias),
                      norm_layer(ngf * mult * 2), nn.ReLU(True)]
        mult = 2 ** n_downsampling
        for _ in range(n_blocks):
            model += [ResnetBlock(ngf * mult, padding_type, norm_layer, use_dropout, use_bias)]
        for i in range(n_downsampling):
            mult = 2 ** (n_downsampling - i)
            model += [nn.ConvTranspose2d(ngf * mult, int(ngf * mult / 2), kernel_size=3, stride=2, padding=1,
                                         output_padding=1, bias=use_bias),
                      norm_layer(int(ngf * mult / 2)), nn.ReLU(True)]
        if with_tail:
            model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, kernel_size=7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    """junyanz (padw 1, width ndf·min(2^n, 8), biases only with instance norm) or, with hd=True, pix2pixHD's
    (padw 2, width min(nf·2, 512), biases everywhere, getIntermFeat: one Sequential `model{n}` per stage)."""

    def __init__(self, input_nc, ndf=64, n_layers=3, norm_layer=nn.BatchNorm2d, hd=False):
        super().__init__()
        use_bias = True if hd else _uses_bias(norm_layer)
        kw, padw = 4, (2 if hd else 1)
        stages = [[nn.Conv2d(input_nc, ndf, kernel_size=kw, stride=2, padding=padw), nn.LeakyReLU(0.2, True)]]
        widths = [min(ndf * 2 ** n, 512 if hd else 8 * ndf) for n in range(n_layers + 1)]
        for n in range(1, n_layers + 1):
            stride = 2 if n < n_layers else 1
            stages += [[nn.Conv2d(widths[n - 1], widths[n], kernel_size=kw, stride=stride, padding=padw,
                                  bias=use_bias), norm_layer(widths[n]), nn.LeakyReLU(0.2, True)]]
        stages += [[nn.Conv2d(widths[n_layers], 1, kernel_size=kw, stride=1, padding=padw)]]
        self.hd = hd
        if hd:
            for n, stage in enumerate(stages):
                setattr(self, f"model{n}", nn.Sequential(*stage))
            self.n_stages = len(stages)
        else:
            self.model = nn.Sequential(*[m for stage in stages for m in stage])

    def forward(self, x):
        if not self.hd:
            return self.model(x)
        out = [x]
        for n in range(self.n_stages):
            out.append(getattr(self, f"model{n}")(out[-1]))
        return out[1:]


# ------------------------------------------------------------------------------------------------ BerserkMangaColoring

def seed_conv(in_channels, out_channels, kernel_size, stride=2, padding=1, batch_norm=True):
    layers = [nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*layers)


def seed_deconv(in_channels, out_channels, kernel_size, stride=2, padding=1, batch_norm=True):
    layers = [nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*layers)


class SeedResidualBlock(nn.Module):
    def __init__(self, conv_dim):
        super().__init__()
        self.cv = seed_conv(conv_dim, conv_dim, 3, stride=1, padding=1, batch_norm=True)

    def forward(self, x):
        out_1 = F.leaky_relu(self.cv(x), negative_slope=0.2)
        return x + self.cv(out_1)


class SeedCycleGenerator(nn.Module):
    def __init__(self, conv_dim=64, n_res_blocks=9):
        super().__init__()
        self.cv1 = seed_conv(3, conv_dim, kernel_size=7, stride=1, padding=1)
        self.cv2 = seed_conv(conv_dim, conv_dim * 2, kernel_size=3, stride=2, padding=1)
        self.cv3 = seed_conv(conv_dim * 2, conv_dim * 4, kernel_size=3, stride=2, padding=1)
        self.res = nn.Sequential(*[SeedResidualBlock(conv_dim * 4) for _ in range(n_res_blocks)])
        self.dcv3 = seed_deconv(conv_dim * 4, conv_dim * 2, kernel_size=3, stride=2, padding=1)
        self.dcv4 = seed_deconv(conv_dim * 2, conv_dim, kernel_size=3, stride=2, padding=1)
        self.dcv5 = seed_deconv(conv_dim, 3, kernel_size=7, stride=1, padding=1, batch_norm=False)
        self.asym_pad = nn.ZeroPad2d((0, 1, 0, 1))

    def forward(self, x):
        x = F.leaky_relu(self.cv1(x), negative_slope=0.2)
        x = F.leaky_relu(self.cv2(x), negative_slope=0.2)
        x = F.leaky_relu(self.cv3(x), negative_slope=0.2)
        res2 = x.detach().clone()
        x = self.res(x)
        x += res2
        x = F.leaky_relu(self.dcv3(x), negative_slope=0.2)
        x = self.asym_pad(x)
        x = F.leaky_relu(self.dcv4(x), negative_slope=0.2)
        x = self.asym_pad(x)
        return torch.tanh(self.dcv5(x))


class SeedDiscriminator(nn.Module):
    def __init__(self, conv_dim=64):
        super().__init__()
        self.cv1 = seed_conv(3, conv_dim, 3, batch_norm=False)
        self.cv2 = seed_conv(conv_dim, conv_dim * 2, 4)
        self.cv3 = seed_conv(conv_dim * 2, conv_dim * 4, 4)
        self.cv4 = seed_conv(conv_dim * 4, conv_dim * 8, 4)
        self.cv5 = seed_conv(conv_dim * 8, conv_dim * 8, 4)
        self.cv6 = seed_conv(conv_dim * 8, 1, 4, batch_norm=False)

    def forward(self, x):
        for cv in (self.cv1, self.cv2, self.cv3, self.cv4, self.cv5):
            x = F.relu(cv(x))
        return self.cv6(x)


# ------------------------------------------------------------------------------------------------ pix2pixHD

class LocalEnhancer(nn.Module):
    def __init__(self, input_nc, output_nc, ngf=32, n_downsample_global=3, n_blocks_global=9, n_local_enhancers=1,
                 n_blocks_local=3, norm_layer=nn.BatchNorm2d, padding_type="reflect"):
        super().__init__()
        self.n_local_enhancers = n_local_enhancers
        ngf_global = ngf * (2 ** n_local_enhancers)
        model_global = ResnetGenerator(input_nc, output_nc, ngf_global, norm_layer, False, n_blocks_global,
                                       padding_type, n_downsample_global, always_bias=True).model
        self.model = nn.Sequential(*[model_global[i] for i in range(len(model_global) - 3)])
        for n in range(1, n_local_enhancers + 1):
            ngf_global = ngf * (2 ** (n_local_enhancers - n))
            down = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf_global, kernel_size=7, padding=0),
                    norm_layer(ngf_global), nn.ReLU(True),
                    nn.Conv2d(ngf_global, ngf_global * 2, kernel_size=3, stride=2, padding=1),
                    norm_layer(ngf_global * 2), nn.ReLU(True)]
            up = [ResnetBlock(ngf_global * 2, padding_type, norm_layer, False, True) for _ in range(n_blocks_local)]
            up += [nn.ConvTranspose2d(ngf_global * 2, ngf_global, kernel_size=3, stride=2, padding=1,
                                      output_padding=1), norm_layer(ngf_global), nn.ReLU(True)]
            if n == n_local_enhancers:
                up += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, kernel_size=7, padding=0), nn.Tanh()]
            setattr(self, f"model{n}_1", nn.Sequential(*down))
            setattr(self, f"model{n}_2", nn.Sequential(*up))
        self.downsample = nn.AvgPool2d(3, stride=2, padding=[1, 1], count_include_pad=False)

    def forward(self, x):
        pyramid = [x]
        for _ in range(self.n_local_enhancers):
            pyramid.append(self.downsample(pyramid[-1]))
        out = self.model(pyramid[-1])
        for n in range(1, self.n_local_enhancers + 1):
            out = getattr(self, f"model{n}_2")(getattr(self, f"model{n}_1")(pyramid[self.n_local_enhancers - n]) + out)
        return out


class MultiscaleDiscriminator(nn.Module):
    def __init__(self, input_nc, ndf=64, n_layers=3, norm_layer=nn.BatchNorm2d, num_D=3):
        super().__init__()
        self.num_D, self.n_layers = num_D, n_layers
        for i in range(num_D):
            net = NLayerDiscriminator(input_nc, ndf, n_layers, norm_layer, hd=True)
            for j in range(n_layers + 2):
                setattr(self, f"scale{i}_layer{j}", getattr(net, f"model{j}"))
        self.downsample = nn.AvgPool2d(3, stride=2, padding=[1, 1], count_include_pad=False)

    def forward(self, x):
        result = []
        for i in range(self.num_D):
            layers = [getattr(self, f"scale{self.num_D - 1 - i}_layer{j}") for j in range(self.n_layers + 2)]
            out = [x]
            for layer in layers:
                out.append(layer(out[-1]))
            result.append(out[1:])
            if i != self.num_D - 1:
                x = self.downsample(x)
        return result


# ------------------------------------------------------------------------------------------------ helpers

def randomize(module: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights everywhere, BatchNorm statistics too (so the import of every tensor is exercised)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if not tensor.is_floating_point():
                continue
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=gen) * 1.5 + 0.5)
            elif name.endswith(("running_mean", "bias")):
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.2)
            elif tensor.ndim == 1:  # BatchNorm weight
                tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
            else:
                fan_in = int(np.prod(tensor.shape[1:]))
                tensor.copy_(torch.randn(tensor.shape, generator=gen) / np.sqrt(fan_in))
    return module


def run(module: nn.Module, x: np.ndarray, train: bool = False) -> np.ndarray:
    """The module's output as NumPy (nested lists of outputs, as multi-scale discriminators return, flattened)."""
    module.train(train)
    with torch.no_grad():
        out = module(torch.from_numpy(x))
    return out.numpy() if isinstance(out, torch.Tensor) else [t.numpy() for t in _flatten(out)]


def _flatten(items):
    for item in items:
        if isinstance(item, (list, tuple)):
            yield from _flatten(item)
        else:
            yield item
