"""Convert VGG19 weights to the MindSpore checkpoint that `mindspore_impl.models.vgg19.load_vgg19` reads.

    python mindspore_impl/vgg19_convert.py --from caffe-npy   --input vgg19.npy      --output vgg19.ckpt
    python mindspore_impl/vgg19_convert.py --from torchvision --input vgg19-dcbb9e9d.pth --output vgg19.ckpt
    python mindspore_impl/vgg19_convert.py --from torchvision-pix2pixhd --input vgg19-dcbb9e9d.pth --output vgg.ckpt

Sources:
- `caffe-npy`: the Caffe VGG_ILSVRC_19 weights as pickled by machrisaa/tensorflow-vgg and used by the official
  AnimeGANv2 code: {layer: [W (3, 3, in, out) HWIO, b (out,)]}. Weights are transposed HWIO -> OIHW; nothing else
  changes, because the network's built-in Caffe front-end (0..255 BGR minus means) is what they were trained on.
- `torchvision`: torchvision's `vgg19` state dict (`features.{0,2,5,...,25}.{weight,bias}` for conv1_1..conv4_4).
  torchvision feeds RGB (x/255 - mean) / std, so that front-end is folded into conv1_1
  (see `fold_torchvision_front_end`) and the checkpoint works with the same Caffe front-end.
- `torchvision-pix2pixhd`: the same file for pix2pixHD's VGGLoss, which feeds the generator's [-1, 1] images to
  torchvision's VGG19 without ImageNet normalisation, i.e. as if mean = std = 0.5: that is what is folded, and
  conv5_1 is kept (pix2pixHD reads relu5_1).

Each source has a rename table (`mindspore_impl/weights/base.RenameTable`, applied by `apply_table`): every
expected tensor must be present with the expected shape, tensors the loss network does not use (conv5_*,
classifier) are rules with target None, and any other tensor is an error. The `.npy` file is read by a
restricted unpickler (`weights/npy_io.py`), so a crafted file cannot run code.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __name__ == "__main__":  # run as `python mindspore_impl/vgg19_convert.py` from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from mindspore_impl.models.vgg19 import (VGG19_CONV5_1, VGG19_CONV_LAYERS, VGG_MEAN_BGR, save_vgg19_checkpoint,
                                         vgg19_param_shapes)
from mindspore_impl.weights.base import RenameTable, WeightImportError, apply_table
from mindspore_impl.weights.npy_io import load_pickled_npy
from mindspore_impl.weights.torch_io import read_torch_state_dict
from runtime.errors import run_main
from runtime.outputs import add_overwrite_argument, refuse_existing

# torchvision's ImageNet normalisation (RGB order).
TORCHVISION_MEAN_RGB = (0.485, 0.456, 0.406)
TORCHVISION_STD_RGB = (0.229, 0.224, 0.225)
# Indices of the conv layers in torchvision's `vgg19().features` (ReLU / MaxPool modules sit in between).
TORCHVISION_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25)
TORCHVISION_UNUSED_CONV_INDICES = (28, 30, 32, 34)  # conv5_1..conv5_4
# pix2pixHD's VGGLoss input: [-1, 1] straight into torchvision's VGG19, i.e. (p / 255 - 0.5) / 0.5.
PIX2PIXHD_MEAN_RGB = PIX2PIXHD_STD_RGB = (0.5, 0.5, 0.5)
TORCHVISION_CLASSIFIER_INDICES = (0, 3, 6)  # the Linear layers of `vgg19().classifier`
CAFFE_UNUSED_LAYERS = ("conv5_1", "conv5_2", "conv5_3", "conv5_4", "fc6", "fc7", "fc8")


# The converter's errors are the weight importers' (one type for "these weights cannot be imported").
ConversionError = WeightImportError


# --------------------------------------------------------------------------------------------------------------
# Reading the sources
# --------------------------------------------------------------------------------------------------------------

def read_caffe_npy(path) -> dict[str, np.ndarray]:
    """Flatten the `vgg19.npy` dict into {'conv1_1/weights': W, 'conv1_1/biases': b, ...} (TF-vgg naming).

    Unpickled by `load_pickled_npy`, which admits only NumPy array reconstruction (no code from the file runs).
    """
    raw = load_pickled_npy(path)
    if not isinstance(raw, dict):
        raise ConversionError(f"{path}: expected a pickled dict {{layer: [W, b]}}, got {type(raw).__name__}")
    flat = {}
    for layer, value in raw.items():
        if not (isinstance(value, (list, tuple)) and len(value) == 2):
            raise ConversionError(f"{path}: entry {layer!r} is not a [weights, biases] pair")
        flat[f"{layer}/weights"] = np.asarray(value[0])
        flat[f"{layer}/biases"] = np.asarray(value[1])
    return flat


# --------------------------------------------------------------------------------------------------------------
# Rename tables
# --------------------------------------------------------------------------------------------------------------

def hwio_to_oihw(weight: np.ndarray) -> np.ndarray:
    """TensorFlow's conv kernel layout (height, width, in, out) → MindSpore's (out, in, height, width)."""
    return np.transpose(weight, (3, 2, 0, 1))


CAFFE_NPY_TABLE = RenameTable([  # first match wins: the unused layers before the general rules
    *[(f"{layer}/{kind}", None) for layer in CAFFE_UNUSED_LAYERS for kind in ("weights", "biases")],
    ("{layer}/weights", "{layer}.weight", hwio_to_oihw),
    ("{layer}/biases", "{layer}.bias"),
])

TORCHVISION_TABLE = RenameTable([  # layouts are OIHW already: names change, values do not
    *[(f"features.{idx}.{kind}", f"{name}.{kind}")
      for (name, _, _), idx in zip(VGG19_CONV_LAYERS, TORCHVISION_CONV_INDICES) for kind in ("weight", "bias")],
    *[(f"features.{idx}.{kind}", None) for idx in TORCHVISION_UNUSED_CONV_INDICES for kind in ("weight", "bias")],
    *[(f"classifier.{idx}.{kind}", None) for idx in TORCHVISION_CLASSIFIER_INDICES for kind in ("weight", "bias")],
])


# --------------------------------------------------------------------------------------------------------------
# Front-end folding
# --------------------------------------------------------------------------------------------------------------

TORCHVISION_PIX2PIXHD_TABLE = RenameTable([  # as TORCHVISION_TABLE, but conv5_1 (features.28) is used
    *[(f"features.{idx}.{kind}", f"{name}.{kind}")
      for (name, _, _), idx in zip(VGG19_CONV_LAYERS + (VGG19_CONV5_1,), TORCHVISION_CONV_INDICES + (28,))
      for kind in ("weight", "bias")],
    *[(f"features.{idx}.{kind}", None) for idx in TORCHVISION_UNUSED_CONV_INDICES[1:] for kind in ("weight", "bias")],
    *[(f"classifier.{idx}.{kind}", None) for idx in TORCHVISION_CLASSIFIER_INDICES for kind in ("weight", "bias")],
])


def fold_torchvision_front_end(weight: np.ndarray, bias: np.ndarray, mean=TORCHVISION_MEAN_RGB,
                               std=TORCHVISION_STD_RGB) -> tuple[np.ndarray, np.ndarray]:
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
    mean = np.asarray(mean, np.float64)
    std = np.asarray(std, np.float64)
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
    return apply_table(read_caffe_npy(path), CAFFE_NPY_TABLE, vgg19_param_shapes(), str(path))


def convert_torchvision(path) -> dict[str, np.ndarray]:
    """torchvision vgg19 state dict -> checkpoint dict with the torchvision front-end folded into conv1_1
    (a post-step: the fold mixes two tensors, which a per-tensor rule cannot)."""
    params = apply_table(read_torch_state_dict(path), TORCHVISION_TABLE, vgg19_param_shapes(), str(path))
    params["conv1_1.weight"], params["conv1_1.bias"] = fold_torchvision_front_end(params["conv1_1.weight"],
                                                                                  params["conv1_1.bias"])
    return params


def convert_torchvision_pix2pixhd(path) -> dict[str, np.ndarray]:
    """torchvision vgg19 state dict -> checkpoint with conv5_1, folded for pix2pixHD's unnormalised input."""
    params = apply_table(read_torch_state_dict(path), TORCHVISION_PIX2PIXHD_TABLE, vgg19_param_shapes(conv5_1=True),
                         str(path))
    params["conv1_1.weight"], params["conv1_1.bias"] = fold_torchvision_front_end(
        params["conv1_1.weight"], params["conv1_1.bias"], PIX2PIXHD_MEAN_RGB, PIX2PIXHD_STD_RGB)
    return params


CONVERTERS = {"caffe-npy": convert_caffe_npy, "torchvision": convert_torchvision,
              "torchvision-pix2pixhd": convert_torchvision_pix2pixhd}


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
    add_overwrite_argument(parser)
    args = parser.parse_args(argv)
    if Path(args.input).resolve() == Path(args.output).resolve():
        raise ConversionError("--output must differ from --input")
    refuse_existing([args.output], args.overwrite)
    convert(args.source_format, args.input, args.output)
    last = "conv5_1" if args.source_format == "torchvision-pix2pixhd" else "conv4_4"
    print(f"wrote {args.output} ({len(vgg19_param_shapes(last == 'conv5_1'))} tensors, VGG19 conv1_1..{last})")
    return 0


if __name__ == "__main__":
    run_main(main)
