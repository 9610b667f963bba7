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


SYM6 = (0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633,
        0.4910559419267466, 0.787641141030194, 0.3379294217276218, -0.07263752278646252,
        -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036, -0.007800708325034148)


def nvlabs_augment(x, g_inv, c_mat):
    """NVlabs AugmentPipe.forward after its parameter draws, in torch (float32, differentiable in x), for given
    G_inv [N, 3, 3] and C [N, 4, 4] (NumPy or None): per-batch margin, reflect pad, sym6 ↑2, affine_grid +
    grid_sample (bilinear, zeros), sym6 ↓2, colour matrix."""

    def upfirdn(x, f, up=1, down=1, pad=(0, 0, 0, 0), flip=False, gain=1.0):
        n, c, h, w = x.shape
        if up > 1:
            x = x.reshape(n, c, h, 1, w, 1)
            x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
        x = F.pad(x, [max(pad[0], 0), max(pad[1], 0), max(pad[2], 0), max(pad[3], 0)])
        x = x[:, :, max(-pad[2], 0):x.shape[2] - max(-pad[3], 0), max(-pad[0], 0):x.shape[3] - max(-pad[1], 0)]
        f = f * (gain ** (f.ndim / 2))
        if not flip:
            f = f.flip(list(range(f.ndim)))
        f = f[None, None].repeat([c, 1, 1])
        x = F.conv2d(x, f.unsqueeze(2), groups=c)
        x = F.conv2d(x, f.unsqueeze(3), groups=c)
        return x[:, :, ::down, ::down]

    n, c, h, w = x.shape
    if g_inv is not None:
        hz = torch.tensor(SYM6, dtype=torch.float32)
        hz = hz / hz.sum()
        g = torch.tensor(g_inv, dtype=torch.float32)
        cx, cy = (w - 1) / 2, (h - 1) / 2
        cp = torch.tensor([[-cx, -cy, 1], [cx, -cy, 1], [cx, cy, 1], [-cx, cy, 1]], dtype=torch.float32)
        cp = g @ cp.t()
        pad = len(SYM6) // 4
        margin = cp[:, :2, :].permute(1, 0, 2).flatten(1)
        margin = torch.cat([-margin, margin]).max(dim=1).values
        margin = margin + torch.tensor([pad * 2 - cx, pad * 2 - cy] * 2)
        margin = margin.max(torch.tensor([0, 0] * 2)).min(torch.tensor([w - 1, h - 1] * 2, dtype=torch.float32))
        mx0, my0, mx1, my1 = margin.ceil().to(torch.int32)

        def mat(rows):
            return torch.tensor(rows, dtype=torch.float32)

        x = F.pad(x, [int(mx0), int(mx1), int(my0), int(my1)], mode="reflect")
        g = mat([[1, 0, (mx0 - mx1) / 2], [0, 1, (my0 - my1) / 2], [0, 0, 1]]) @ g
        x = upfirdn(x, hz, up=2, pad=(6, 5, 6, 5), gain=4)
        g = mat([[2, 0, 0], [0, 2, 0], [0, 0, 1]]) @ g @ mat([[0.5, 0, 0], [0, 0.5, 0], [0, 0, 1]])
        g = mat([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]]) @ g @ mat([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
        shape = [n, c, (h + pad * 2) * 2, (w + pad * 2) * 2]
        g = (mat([[2 / x.shape[3], 0, 0], [0, 2 / x.shape[2], 0], [0, 0, 1]]) @ g
             @ mat([[shape[3] / 2, 0, 0], [0, shape[2] / 2, 0], [0, 0, 1]]))
        grid = F.affine_grid(theta=g[:, :2, :], size=shape, align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        x = upfirdn(x, hz, down=2, pad=(-1, -1, -1, -1), flip=True)
    if c_mat is not None:
        cm = torch.tensor(c_mat, dtype=torch.float32)
        x = x.reshape(n, c, h * w)
        if c == 3:
            x = cm[:, :3, :3] @ x + cm[:, :3, 3:]
        else:
            cm = cm[:, :3, :].mean(dim=1, keepdims=True)
            x = x * cm[:, :, :3].sum(dim=2, keepdims=True) + cm[:, :, 3:]
        x = x.reshape(n, c, h, w)
    return x


