"""A torch formulation of NVlabs stylegan2-ada-pytorch's G and D (`training/networks.py` forward passes, reference
ops), written for the tests from the NVlabs source, with parameters in a flat {NVlabs state-dict name: tensor}
dict. It serves as the independent reference of the importer parity, of R1 / path-length second-order gradients
and of the optimiser claims; it shares no code with mindspore_impl. Needs torch."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

FILTER = (1, 3, 3, 1)


def setup_filter(taps=FILTER):
    f = torch.tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f) if f.numel() < 8 else f
    return f / f.sum()


def upfirdn2d(x, f, up=1, down=1, padding=(0, 0, 0, 0), gain=1.0):
    n, c, h, w = x.shape
    if up > 1:
        x = F.pad(x.reshape(n, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    x0, x1, y0, y1 = padding
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    x = x[:, :, max(-y0, 0):x.shape[2] - max(-y1, 0), max(-x0, 0):x.shape[3] - max(-x1, 0)]
    f = (f * gain ** (f.ndim / 2)).flip(list(range(f.ndim)))
    x = F.conv2d(x, f[None, None].repeat(c, 1, 1, 1), groups=c)
    return x[:, :, ::down, ::down]


def bias_act(x, b=None, act="linear", gain=None, clamp=None):
    if b is not None:
        x = x + b.reshape([-1 if i == 1 else 1 for i in range(x.ndim)])
    if act == "lrelu":
        x = F.leaky_relu(x, 0.2)
    gain = (math.sqrt(2) if act == "lrelu" else 1.0) if gain is None else gain
    if gain != 1:
        x = x * gain
    return x.clamp(-clamp, clamp) if clamp is not None else x


class TorchStyleGAN2:
    """G and D of one configuration over a parameter dict (`params`, NVlabs names, tensors that may require
    grad). `G(z, c, psi, noises=None)`: noises None = constant noise, else {layer name: [N, 1, r, r]}."""

    def __init__(self, params: dict, z_dim, w_dim, resolution, c_dim=0, mapping_layers=2, conv_clamp=None,
                 mbstd_group_size=4, img_channels=3, d_mapping_layers=8):
        self.p = params
        self.z_dim, self.w_dim, self.res, self.c_dim = z_dim, w_dim, resolution, c_dim
        self.mapping_layers, self.conv_clamp, self.mbstd = mapping_layers, conv_clamp, mbstd_group_size
        self.img_channels, self.d_mapping_layers = img_channels, d_mapping_layers
        self.f = setup_filter()
        self.g_res = [2 ** i for i in range(2, int(math.log2(resolution)) + 1)]
        self.d_res = [2 ** i for i in range(int(math.log2(resolution)), 2, -1)]

    # -- layers
    def fc(self, prefix, x, act="linear", lr_mul=1.0):
        w = self.p[prefix + ".weight"] * (lr_mul / math.sqrt(self.p[prefix + ".weight"].shape[1]))
        b = self.p.get(prefix + ".bias")
        b = b * lr_mul if b is not None else None
        if act == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act)

    @staticmethod
    def normalize(x):
        return x * (x.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()

    def mapping(self, z, c=None, psi=1.0, prefix="mapping", num_ws=None, layers=None):
        x = self.normalize(z) if z is not None else None
        if self.c_dim > 0:
            y = self.normalize(self.fc(prefix + ".embed", c))
            x = torch.cat([x, y], dim=1) if x is not None else y
        for i in range(self.mapping_layers if layers is None else layers):
            x = self.fc(f"{prefix}.fc{i}", x, "lrelu", 0.01)
        if num_ws is None:
            return x
        ws = x.unsqueeze(1).repeat([1, num_ws, 1])
        if psi != 1:
            ws = self.p[prefix + ".w_avg"].lerp(ws, psi)
        return ws

    def modconv(self, x, weight, styles, up=1, demodulate=True, padding=1):
        n = x.shape[0]
        w = weight.unsqueeze(0) * styles.reshape(n, 1, -1, 1, 1)
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt() if demodulate else None
        x = x * styles.reshape(n, -1, 1, 1)
        if up == 1:
            x = F.conv2d(x, weight, padding=padding)
        else:  # conv2d_resample(up=2): transposed conv, then the FIR with padding 1 and gain 4
            x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
            x = upfirdn2d(x, self.f, padding=(1, 1, 1, 1), gain=4)
        return x * dcoefs.reshape(n, -1, 1, 1) if demodulate else x

    def synthesis_layer(self, name, x, w, up, noise):
        p = self.p
        styles = self.fc(name + ".affine", w)
        x = self.modconv(x, p[name + ".weight"], styles, up=up)
        x = x + (p[name + ".noise_const"] if noise is None else noise) * p[name + ".noise_strength"]
        return bias_act(x, p[name + ".bias"], "lrelu", clamp=self.conv_clamp)

    def torgb(self, name, x, w):
        styles = self.fc(name + ".affine", w) * (1 / math.sqrt(x.shape[1]))
        x = self.modconv(x, self.p[name + ".weight"], styles, demodulate=False, padding=0)
        return bias_act(x, self.p[name + ".bias"], clamp=self.conv_clamp)

    # -- networks
    @property
    def num_ws(self):
        return 2 * len(self.g_res)

    def synthesis(self, ws, noises=None):
        x = img = None
        w_idx = 0
        for res in self.g_res:
            b = f"synthesis.b{res}"
            noise = (lambda layer: None if noises is None else noises[f"{b}.{layer}"])
            if res == 4:
                x = self.p[b + ".const"].unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
                x = self.synthesis_layer(b + ".conv1", x, ws[:, w_idx], 1, noise("conv1"))
                num_conv = 1
            else:
                x = self.synthesis_layer(b + ".conv0", x, ws[:, w_idx], 2, noise("conv0"))
                x = self.synthesis_layer(b + ".conv1", x, ws[:, w_idx + 1], 1, noise("conv1"))
                num_conv = 2
            y = self.torgb(b + ".torgb", x, ws[:, w_idx + num_conv])
            img = y if img is None else upfirdn2d(img, self.f, up=2, padding=(2, 1, 2, 1), gain=4) + y
            w_idx += num_conv
        return img

    def G(self, z, c=None, psi=1.0, noises=None):
        return self.synthesis(self.mapping(z, c, psi, num_ws=self.num_ws), noises)

    def conv_layer(self, name, x, act="lrelu", down=1, gain=1.0, clamp=True):
        w = self.p[name + ".weight"]
        k = w.shape[2]
        w = w * (1 / math.sqrt(w.shape[1] * k * k))
        if down == 1:
            x = F.conv2d(x, w, padding=k // 2)
        elif k == 1:
            x = F.conv2d(upfirdn2d(x, self.f, down=2, padding=(1, 1, 1, 1)), w)
        else:
            x = F.conv2d(upfirdn2d(x, self.f, padding=(2, 2, 2, 2)), w, stride=2)
        b = self.p.get(name + ".bias")
        clamp_value = self.conv_clamp * gain if (clamp and self.conv_clamp is not None) else None
        return bias_act(x, b, act, gain=(math.sqrt(2) if act == "lrelu" else 1.0) * gain, clamp=clamp_value)

    def minibatch_std(self, x):
        n, c, h, w = x.shape
        g = min(self.mbstd, n)
        y = x.reshape(g, -1, 1, c, h, w)
        y = ((y - y.mean(dim=0)).square().mean(dim=0) + 1e-8).sqrt().mean(dim=[2, 3, 4]).reshape(-1, 1, 1, 1)
        return torch.cat([x, y.repeat(g, 1, h, w)], dim=1)

    def D(self, img, c=None):
        x = None
        for res in self.d_res:
            b = f"b{res}"
            if x is None:
                x = self.conv_layer(b + ".fromrgb", img)
            y = self.conv_layer(b + ".skip", x, act="linear", down=2, gain=math.sqrt(0.5), clamp=False)
            x = self.conv_layer(b + ".conv0", x)
            x = self.conv_layer(b + ".conv1", x, down=2, gain=math.sqrt(0.5))
            x = y + x
        x = self.conv_layer("b4.conv", self.minibatch_std(x))
        x = self.fc("b4.out", self.fc("b4.fc", x.flatten(1), "lrelu"))
        if self.c_dim > 0:
            cmap = self.mapping(None, c, prefix="mapping", layers=self.d_mapping_layers)
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / np.sqrt(cmap.shape[1]))
        return x
