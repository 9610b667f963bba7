"""VGG19 feature extractors for the AnimeGANv2 losses: conv1_1 .. conv4_4, output conv4_4 *before* its ReLU; with
`relu5_1=True` also conv5_1, returning relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 (pix2pixHD's VGGLoss slices).

Two variants (`loss.vgg_variant`, LOSS_VGGS): "caffe" (VGG19Features, below, the official one) and
"mindspore_port" (PortVGG19BN, the MindSpore port's batch-normalised VGG19 from its `vgg.ckpt`, no front-end).

It reproduces the official TF loss network (`tools/vgg19.py`, machrisaa/tensorflow-vgg with the Caffe
`vgg19.npy` weights): input NCHW RGB in [-1, 1] -> 0..255 -> BGR -> minus the Caffe channel means, no std
division; 3x3 convs with zero padding 1 and biases; 2x2/2 max-pools with TF 'SAME' padding after conv1_2, conv2_2
and conv3_4. The front-end lives inside `construct` so callers feed generator-range images directly.

Weights come from a MindSpore checkpoint written by `mindspore_impl/vgg19_convert.py` (from `vgg19.npy` or from a
torchvision state dict); `random_vgg19_checkpoint` writes a random one for tests, since real weights cannot be
downloaded here.
"""
from __future__ import annotations

from pathlib import Path

import mindspore as ms
import numpy as np
from mindspore import nn, ops

from mindspore_impl.checkpoint_io import save_checkpoint_atomic
from runtime.errors import UserError

# Caffe VGG channel means in B, G, R order (tools/vgg19.py VGG_MEAN).
VGG_MEAN_BGR = (103.939, 116.779, 123.68)

# (name, in_channels, out_channels) in network order.
VGG19_CONV_LAYERS = (
    ("conv1_1", 3, 64), ("conv1_2", 64, 64),
    ("conv2_1", 64, 128), ("conv2_2", 128, 128),
    ("conv3_1", 128, 256), ("conv3_2", 256, 256), ("conv3_3", 256, 256), ("conv3_4", 256, 256),
    ("conv4_1", 256, 512), ("conv4_2", 512, 512), ("conv4_3", 512, 512), ("conv4_4", 512, 512),
)
# pix2pixHD's VGGLoss reads relu5_1 too (torchvision `features[21:30]`: conv4_2..conv4_4, the 4th pool, conv5_1).
VGG19_CONV5_1 = ("conv5_1", 512, 512)
# Max-pools follow conv1_2, conv2_2 and conv3_4 (see construct). With with_taps=True the ReLU outputs of
# these layers are returned too (Gatys style layers):
TAP_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1")


class VGGWeightsError(UserError):
    """A VGG19 checkpoint is missing, unreadable, or does not match the network (names the key)."""


def vgg19_param_shapes(conv5_1: bool = False) -> dict[str, tuple[int, ...]]:
    """Expected checkpoint keys and shapes: `convX_Y.weight` (out, in, 3, 3) and `convX_Y.bias` (out,);
    conv5_1 too when asked (the relu5_1 network)."""
    shapes = {}
    for name, cin, cout in VGG19_CONV_LAYERS + ((VGG19_CONV5_1,) if conv5_1 else ()):
        shapes[f"{name}.weight"] = (cout, cin, 3, 3)
        shapes[f"{name}.bias"] = (cout,)
    return shapes


class VGG19Features(nn.Cell):
    """VGG19 conv1_1..conv4_4 with the Caffe front-end; returns conv4_4 pre-ReLU, NCHW.

    With `with_taps=True`, construct returns (conv4_4 pre-ReLU, (relu1_1, relu2_1, relu3_1, relu4_1)) instead;
    with `relu5_1=True` it returns (relu1_1, relu2_1, relu3_1, relu4_1, relu5_1) (the network then has conv5_1);
    the default output is unchanged. Input: NCHW RGB in [-1, 1].
    """

    def __init__(self, with_taps: bool = False, relu5_1: bool = False):
        super().__init__()
        self.with_taps, self.relu5_1 = with_taps, relu5_1
        for name, cin, cout in VGG19_CONV_LAYERS + ((VGG19_CONV5_1,) if relu5_1 else ()):
            setattr(self, name, nn.Conv2d(cin, cout, 3, stride=1, pad_mode="pad", padding=1, has_bias=True,
                                          weight_init="zeros", bias_init="zeros"))
        self.relu = nn.ReLU()
        # TF maxpool 'SAME' (tools/vgg19.py); identical to 'valid' on even sizes, pads bottom/right on odd ones.
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2, pad_mode="same")
        self.mean_bgr = ms.Tensor(np.array(VGG_MEAN_BGR, np.float32).reshape(1, 3, 1, 1))

    def caffe_input(self, x):
        """[-1, 1] RGB -> 0..255 BGR minus the Caffe means (the network's real input)."""
        x = (x + 1.0) * 127.5
        bgr = ops.concat((x[:, 2:3], x[:, 1:2], x[:, 0:1]), axis=1)
        return bgr - self.mean_bgr

    def construct(self, x):
        relu, pool = self.relu, self.pool
        h = relu(self.conv1_1(self.caffe_input(x)))
        relu1_1 = h
        h = pool(relu(self.conv1_2(h)))
        h = relu(self.conv2_1(h))
        relu2_1 = h
        h = pool(relu(self.conv2_2(h)))
        h = relu(self.conv3_1(h))
        relu3_1 = h
        h = relu(self.conv3_2(h))
        h = relu(self.conv3_3(h))
        h = pool(relu(self.conv3_4(h)))
        h = relu(self.conv4_1(h))
        relu4_1 = h
        h = relu(self.conv4_2(h))
        h = relu(self.conv4_3(h))
        conv4_4 = self.conv4_4(h)  # no ReLU: the official loss uses conv4_4_no_activation
        if self.relu5_1:  # Python constants: resolved when the graph is compiled
            return relu1_1, relu2_1, relu3_1, relu4_1, relu(self.conv5_1(pool(relu(conv4_4))))
        if self.with_taps:  # a Python constant: resolved when the graph is compiled
            return conv4_4, (relu1_1, relu2_1, relu3_1, relu4_1)
        return conv4_4


def freeze(net: nn.Cell) -> nn.Cell:
    """Make a network a constant feature extractor: no trainable parameters, inference mode."""
    for p in net.get_parameters():
        p.requires_grad = False
    net.set_train(False)
    return net


def read_checkpoint(path) -> dict:
    """Load a MindSpore checkpoint as {name: numpy array}; VGGWeightsError on a missing or unreadable file."""
    path = Path(path)
    if not path.is_file():
        raise VGGWeightsError(f"{path}: VGG19 checkpoint not found (create one with mindspore_impl/vgg19_convert.py)")
    try:
        params = ms.load_checkpoint(str(path))
    except Exception as exc:  # MindSpore raises ValueError/RuntimeError/TypeError for damaged files
        msg = " ".join(str(exc).split())[:200]
        raise VGGWeightsError(f"{path}: cannot read checkpoint ({type(exc).__name__}: {msg})") from None
    return {k: v.asnumpy() for k, v in params.items()}


def check_vgg19_params(params: dict, source: str, conv5_1: bool = False) -> None:
    """Raise VGGWeightsError naming the first missing, unexpected or wrongly shaped key."""
    expected = vgg19_param_shapes(conv5_1)
    for key, shape in expected.items():
        if key not in params:
            raise VGGWeightsError(f"{source}: missing key {key!r} (shape {shape})")
        if tuple(params[key].shape) != shape:
            raise VGGWeightsError(f"{source}: key {key!r} has shape {tuple(params[key].shape)}, expected {shape}")
    for key in params:
        if key not in expected:
            raise VGGWeightsError(f"{source}: unexpected key {key!r}")


def load_vgg19(ckpt_path, with_taps: bool = False, relu5_1: bool = False) -> VGG19Features:
    """Build a frozen VGG19Features from a checkpoint of exactly the keys/shapes of `vgg19_param_shapes()`
    (with conv5_1 for `relu5_1`; a checkpoint holding conv5_1 also serves the network without it)."""
    params = read_checkpoint(ckpt_path)
    if not relu5_1:
        params = {k: v for k, v in params.items() if not k.startswith(VGG19_CONV5_1[0] + ".")}
    check_vgg19_params(params, str(ckpt_path), conv5_1=relu5_1)
    net = VGG19Features(with_taps=with_taps, relu5_1=relu5_1)
    not_loaded, _ = ms.load_param_into_net(
        net, {k: ms.Parameter(ms.Tensor(v.astype(np.float32)), name=k) for k, v in params.items()})
    if not_loaded:
        raise VGGWeightsError(f"{ckpt_path}: parameters not loaded: {', '.join(not_loaded)}")
    return freeze(net)


class PortVGG19BN(nn.Cell):
    """The MindSpore AnimeGANv2 port's loss network (its `losses/vgg19.py`, weights `vgg.ckpt`): a batch-normalised
    VGG19 truncated after conv4_4's BatchNorm (no ReLU there), 3×3 convs without bias ('same' = padding 1), 2×2/2
    max-pools. Its front-end is none: the port feeds generator-range RGB in [-1, 1] as it is.

    `layers` keeps the port's SequentialCell indices (`layers.0.weight`, `layers.1.gamma`, ...), so `vgg.ckpt`
    loads by name. BatchNorm runs on its stored moving statistics: a frozen loss network. (The port's training
    wrapper left its VGG in training mode, so its BatchNorms normalised each batch by that batch's statistics.)
    """

    def __init__(self):
        super().__init__()
        from mindspore_impl.weights.animeganv2_mindspore_port import PORT_VGG_CONFIG

        cells, cin = [], 3
        for n, v in enumerate(PORT_VGG_CONFIG):
            if v == "M":
                cells.append(nn.MaxPool2d(kernel_size=2, stride=2))
                continue
            cells += [nn.Conv2d(cin, v, 3, stride=1, pad_mode="pad", padding=1, has_bias=False, weight_init="zeros"),
                      nn.BatchNorm2d(v)]
            if n < len(PORT_VGG_CONFIG) - 1:
                cells.append(nn.ReLU())
            cin = v
        self.layers = nn.SequentialCell(cells)

    def construct(self, x):
        return self.layers(x)


def load_port_vgg19(ckpt_path) -> PortVGG19BN:
    """The port's `vgg.ckpt` as a frozen PortVGG19BN, through its checked rename table (every parameter filled, the
    deeper layers and the classifier of a full VGG19-BN dropped by name, anything else refused naming its key)."""
    from mindspore_impl.weights.animeganv2_mindspore_port import PORT_VGG_TABLE
    from mindspore_impl.weights.base import WeightImportError, apply_table

    if not Path(ckpt_path).is_file():
        raise VGGWeightsError(f"{ckpt_path}: VGG19 checkpoint not found (loss.vgg_variant mindspore_port reads the "
                              "port's own vgg.ckpt)")
    params = read_checkpoint(ckpt_path)
    net = PortVGG19BN()
    shapes = {name: tuple(p.shape) for name, p in net.parameters_and_names()}
    try:
        renamed = apply_table(params, PORT_VGG_TABLE, shapes, str(ckpt_path))
    except WeightImportError as exc:
        raise VGGWeightsError(str(exc)) from None
    graph_names = {name: p.name for name, p in net.parameters_and_names()}
    not_loaded, _ = ms.load_param_into_net(
        net, {graph_names[k]: ms.Parameter(ms.Tensor(v), name=graph_names[k]) for k, v in renamed.items()})
    if not_loaded:
        raise VGGWeightsError(f"{ckpt_path}: parameters not loaded: {', '.join(not_loaded)}")
    return freeze(net)


# loss.vgg_variant -> loader of the loss network (network and front-end) from loss.vgg_ckpt.
LOSS_VGGS = {"caffe": load_vgg19, "mindspore_port": load_port_vgg19}


def load_loss_vgg(variant: str, ckpt_path) -> nn.Cell:
    """The perceptual-loss network `variant` (a key of LOSS_VGGS) with the weights of `ckpt_path`."""
    if variant not in LOSS_VGGS:
        raise VGGWeightsError(f"unknown VGG variant '{variant}'; choose from {sorted(LOSS_VGGS)}")
    return LOSS_VGGS[variant](ckpt_path)


def save_vgg19_checkpoint(params: dict, path) -> None:
    """Check {name: array} against the VGG19 layout and write it as a MindSpore checkpoint, atomically."""
    conv5_1 = f"{VGG19_CONV5_1[0]}.weight" in params
    check_vgg19_params(params, "converted weights", conv5_1)
    path = Path(path)
    if path.suffix != ".ckpt":
        raise VGGWeightsError(f"{path}: output file name must end in .ckpt")
    entries = [{"name": k, "data": ms.Tensor(np.ascontiguousarray(params[k], dtype=np.float32))}
               for k in vgg19_param_shapes(conv5_1)]
    save_checkpoint_atomic(entries, path, make_parents=False)


def random_vgg19_params(seed: int = 0, conv5_1: bool = False) -> dict:
    """Random He-initialised VGG19 weights in checkpoint layout (OIHW), small random biases.

    He scaling keeps activations from exploding or vanishing through 12 layers, so losses built on these
    features behave like real ones numerically (though the features mean nothing).
    """
    rng = np.random.default_rng(seed)
    params = {}
    for name, cin, cout in VGG19_CONV_LAYERS + ((VGG19_CONV5_1,) if conv5_1 else ()):
        std = np.sqrt(2.0 / (9 * cin))
        params[f"{name}.weight"] = (rng.standard_normal((cout, cin, 3, 3)) * std).astype(np.float32)
        params[f"{name}.bias"] = (rng.standard_normal(cout) * 0.01).astype(np.float32)
    return params


def random_vgg19_checkpoint(path, seed: int = 0, conv5_1: bool = False) -> Path:
    """Write a random-weight VGG19 checkpoint (for tests and smoke runs: no real weights here); returns path."""
    save_vgg19_checkpoint(random_vgg19_params(seed, conv5_1), path)
    return Path(path)
