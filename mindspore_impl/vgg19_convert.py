"""Convert VGG19 weights to the MindSpore checkpoint that `mindspore_impl.models.vgg19.load_vgg19` reads.

    python mindspore_impl/vgg19_convert.py --from caffe-npy   --input vgg19.npy      --output vgg19.ckpt
    python mindspore_impl/vgg19_convert.py --from torchvision --input vgg19-dcbb9e9d.pth --output vgg19.ckpt

Sources:
- `caffe-npy`: the Caffe VGG_ILSVRC_19 weights as pickled by machrisaa/tensorflow-vgg and used by the official
  AnimeGANv2 code: {layer: [W (3, 3, in, out) HWIO, b (out,)]}. Weights are transposed HWIO -> OIHW; nothing else
  changes, because the network's built-in Caffe front-end (0..255 BGR minus means) is what they were trained on.
- `torchvision`: torchvision's `vgg19` state dict (`features.{0,2,5,...,25}.{weight,bias}` for conv1_1..conv4_4).
  torchvision feeds RGB (x/255 - mean) / std, so that front-end is folded into conv1_1
  (see `fold_torchvision_front_end`) and the checkpoint works with the same Caffe front-end.

Each source has a rename table: every expected tensor must be present with the expected shape, tensors the
loss network does not use (conv5_*, classifier) are listed explicitly, and any other tensor is an error.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __name__ == "__main__":  # run as `python mindspore_impl/vgg19_convert.py` from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from mindspore_impl.models.vgg19 import VGG19_CONV_LAYERS, VGG_MEAN_BGR, save_vgg19_checkpoint, vgg19_param_shapes
from runtime.errors import UserError, run_main

# torchvision's ImageNet normalisation (RGB order).
TORCHVISION_MEAN_RGB = (0.485, 0.456, 0.406)
TORCHVISION_STD_RGB = (0.229, 0.224, 0.225)
# Indices of the conv layers in torchvision's `vgg19().features` (ReLU / MaxPool modules sit in between).
TORCHVISION_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25)
TORCHVISION_UNUSED_CONV_INDICES = (28, 30, 32, 34)  # conv5_1..conv5_4
CAFFE_UNUSED_LAYERS = ("conv5_1", "conv5_2", "conv5_3", "conv5_4", "fc6", "fc7", "fc8")


class ConversionError(UserError):
    """The input weights cannot be converted (unreadable, missing/unknown tensors, wrong shapes)."""


# --------------------------------------------------------------------------------------------------------------
# Reading the sources
# --------------------------------------------------------------------------------------------------------------

def read_caffe_npy(path) -> dict[str, np.ndarray]:
    """Flatten the `vgg19.npy` dict into {'conv1_1/weights': W, 'conv1_1/biases': b, ...} (TF-vgg naming)."""
    try:
        raw = np.load(str(path), encoding="latin1", allow_pickle=True).item()
    except FileNotFoundError:
        raise ConversionError(f"{path}: file not found") from None
    except Exception as exc:  # pickle/zip/ValueError variety for damaged or non-npy files
        raise ConversionError(f"{path}: not a readable vgg19.npy dict ({type(exc).__name__}: {exc})") from None
    if not isinstance(raw, dict):
        raise ConversionError(f"{path}: expected a pickled dict {{layer: [W, b]}}, got {type(raw).__name__}")
    flat = {}
    for layer, value in raw.items():
        if not (isinstance(value, (list, tuple)) and len(value) == 2):
            raise ConversionError(f"{path}: entry {layer!r} is not a [weights, biases] pair")
        flat[f"{layer}/weights"] = np.asarray(value[0])
        flat[f"{layer}/biases"] = np.asarray(value[1])
    return flat


def read_torch_state_dict(path) -> dict[str, np.ndarray]:
    """Read a torchvision state dict (.pth) with torch (optional dependency) as {key: numpy array}."""
    try:
        import torch
    except ImportError:
        raise ConversionError("reading a torchvision state dict needs PyTorch: pip install torch "
                              "(CPU wheel is enough)") from None
    if not Path(path).is_file():
        raise ConversionError(f"{path}: file not found")
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConversionError(f"{path}: not a readable PyTorch state dict ({type(exc).__name__}: {exc})") from None
    if hasattr(state, "state_dict") and not isinstance(state, dict):
        state = state.state_dict()
    if not isinstance(state, dict):
        raise ConversionError(f"{path}: expected a state dict, got {type(state).__name__}")
    return {k: v.detach().cpu().numpy() for k, v in state.items() if hasattr(v, "detach")}


# --------------------------------------------------------------------------------------------------------------
# Rename tables
# --------------------------------------------------------------------------------------------------------------

def caffe_rename_table() -> dict[str, tuple[str, callable]]:
    """{source key: (checkpoint key, transform)} for the Caffe/TF-vgg dict."""
    table = {}
    for name, _, _ in VGG19_CONV_LAYERS:
        table[f"{name}/weights"] = (f"{name}.weight", lambda w: np.transpose(w, (3, 2, 0, 1)))  # HWIO -> OIHW
        table[f"{name}/biases"] = (f"{name}.bias", lambda b: b)
    return table


def caffe_unused_keys() -> set[str]:
    return {f"{layer}/{kind}" for layer in CAFFE_UNUSED_LAYERS for kind in ("weights", "biases")}


def torchvision_rename_table() -> dict[str, tuple[str, callable]]:
    """{source key: (checkpoint key, transform)} for torchvision vgg19 (layouts already OIHW)."""
    table = {}
    for (name, _, _), idx in zip(VGG19_CONV_LAYERS, TORCHVISION_CONV_INDICES):
        table[f"features.{idx}.weight"] = (f"{name}.weight", lambda w: w)
        table[f"features.{idx}.bias"] = (f"{name}.bias", lambda b: b)
    return table


def torchvision_unused_keys() -> set[str]:
    keys = {f"features.{i}.{k}" for i in TORCHVISION_UNUSED_CONV_INDICES for k in ("weight", "bias")}
    keys |= {f"classifier.{i}.{k}" for i in (0, 3, 6) for k in ("weight", "bias")}
    return keys


def apply_rename_table(source: dict, table: dict, unused: set, origin: str) -> dict[str, np.ndarray]:
    """Rename and transform tensors; every table entry must be used and match its shape, nothing unknown left."""
    shapes = vgg19_param_shapes()
    missing = [k for k in table if k not in source]
    if missing:
        raise ConversionError(f"{origin}: missing tensor {missing[0]!r} ({len(missing)} missing in all)")
    unknown = [k for k in source if k not in table and k not in unused]
    if unknown:
        raise ConversionError(f"{origin}: unexpected tensor {unknown[0]!r} ({len(unknown)} unexpected in all)")
    out = {}
    for src_key, (dst_key, transform) in table.items():
        value = np.asarray(transform(np.asarray(source[src_key])), dtype=np.float64)
        if value.shape != shapes[dst_key]:
            raise ConversionError(f"{origin}: tensor {src_key!r} -> {dst_key!r} has shape {value.shape} after "
                                  f"conversion, expected {shapes[dst_key]}")
        out[dst_key] = value
    assert set(out) == set(shapes), "rename table does not cover every VGG19 parameter"
    return out


# --------------------------------------------------------------------------------------------------------------
# Front-end folding
# --------------------------------------------------------------------------------------------------------------

def fold_torchvision_front_end(weight: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rewrite torchvision's conv1_1 so it takes the Caffe input (0..255 BGR minus VGG_MEAN) instead of its own.

    torchvision sees t_c = (p_c / 255 - m_c) / s_c for RGB pixel values p_c; the Caffe input is
    q_k = p_bgr_k - M_k, i.e. p_c = q_(2-c) + M_(2-c). Substituting,
    t_c = q_(2-c) / (255 s_c) + (M_(2-c) - 255 m_c) / (255 s_c), so the weights flip input channels to BGR and
    scale by 1 / (255 s_c), and the constant term, summed over the 3x3 taps, moves into the bias.

    Interior pixels are therefore exact up to float rounding. At the image border the zero padding adds no
    constant term where the folded bias assumes one: a padded zero means the Caffe-mean grey pixel here and the
    torchvision-mean grey pixel in torchvision. The two greys differ by (0.005, 0.499, 0.409) levels in RGB,
    i.e. at most 0.0087 in torchvision's normalised units, so border outputs still agree closely (the deviation
    grows with depth only through the receptive field's border ring).
    """
    mean = np.asarray(TORCHVISION_MEAN_RGB, np.float64)
    std = np.asarray(TORCHVISION_STD_RGB, np.float64)
    caffe_mean_rgb = np.asarray(VGG_MEAN_BGR, np.float64)[::-1]
    w = np.asarray(weight, np.float64)
    scaled = w / (255.0 * std)[None, :, None, None]            # still RGB input order
    offset = (caffe_mean_rgb - 255.0 * mean) / (255.0 * std)   # per RGB channel, in torchvision units
    new_bias = np.asarray(bias, np.float64) + np.einsum("oihw,i->o", w, offset)
    return scaled[:, ::-1].copy(), new_bias                     # RGB -> BGR input channels


# --------------------------------------------------------------------------------------------------------------
# Converter registry
# --------------------------------------------------------------------------------------------------------------

def convert_caffe_npy(path) -> dict[str, np.ndarray]:
    """Caffe `vgg19.npy` -> checkpoint dict (OIHW), nothing else to change."""
    return apply_rename_table(read_caffe_npy(path), caffe_rename_table(), caffe_unused_keys(), str(path))


def convert_torchvision(path) -> dict[str, np.ndarray]:
    """torchvision vgg19 state dict -> checkpoint dict with the torchvision front-end folded into conv1_1."""
    params = apply_rename_table(read_torch_state_dict(path), torchvision_rename_table(), torchvision_unused_keys(),
                                str(path))
    params["conv1_1.weight"], params["conv1_1.bias"] = fold_torchvision_front_end(params["conv1_1.weight"],
                                                                                  params["conv1_1.bias"])
    return params


CONVERTERS = {"caffe-npy": convert_caffe_npy, "torchvision": convert_torchvision}


def convert(source_format: str, input_path, output_path) -> None:
    """Convert `input_path` of `source_format` (a CONVERTERS key) into the checkpoint `output_path`."""
    if source_format not in CONVERTERS:
        raise ConversionError(f"unknown source format {source_format!r}; choose from {', '.join(CONVERTERS)}")
    params = CONVERTERS[source_format](input_path)
    output_path = Path(output_path)
    if not output_path.parent.is_dir():
        raise ConversionError(f"{output_path}: output directory does not exist")
    save_vgg19_checkpoint({k: v.astype(np.float32) for k, v in params.items()}, output_path)


def main(argv=None) -> int:
    """CLI entry point (run through runtime.errors.run_main); problems raise UserErrors."""
    parser = argparse.ArgumentParser(description="Convert VGG19 weights to the MindSpore loss-network checkpoint.")
    parser.add_argument("--from", dest="source_format", required=True, choices=sorted(CONVERTERS),
                        help="input format")
    parser.add_argument("--input", required=True, help="vgg19.npy (caffe-npy) or a torchvision .pth state dict")
    parser.add_argument("--output", required=True, help="output MindSpore checkpoint (.ckpt)")
    args = parser.parse_args(argv)
    if Path(args.input).resolve() == Path(args.output).resolve():
        raise ConversionError("--output must differ from --input")
    convert(args.source_format, args.input, args.output)
    print(f"wrote {args.output} ({len(vgg19_param_shapes())} tensors, VGG19 conv1_1..conv4_4)")
    return 0


if __name__ == "__main__":
    run_main(main)
