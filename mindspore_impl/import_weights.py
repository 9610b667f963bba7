"""Import published weights of another implementation into a MindSpore generator checkpoint.

    python mindspore_impl/import_weights.py --family animeganv2 --input face_paint_512_v2.pt --output G.ckpt
    python mindspore_impl/import_weights.py --family pix2pix --input latest_net_G.pth --output G.ckpt
    python mindspore_impl/import_weights.py --family cyclegan --network D_A --input latest_net_D_A.pth --output D_A.ckpt
    python mindspore_impl/import_weights.py --family pix2pix --config my_unet_128.yaml --input ... --output ...

The source tensors go through the family's checked rename table (`mindspore_impl/weights/<family>_*.py`): every
tensor must be used exactly once and every generator parameter filled with the same shape, or the command stops
naming the key. The checkpoint is a plain generator checkpoint (as `runs/*/generator.ckpt`), written atomically;
use it with the config printed at the end (it sets the numerics of the source implementation). `--config` builds the
target from another config of the family (a unet_128, a resnet_6blocks, a narrow test build) where the importer
supports it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mindspore_impl.checkpoint_io import save_checkpoint_atomic  # noqa: E402
from mindspore_impl.weights import IMPORTERS, Importer, WeightImportError, apply_table, find_importer  # noqa: E402
from runtime.errors import run_main  # noqa: E402
from runtime.outputs import add_overwrite_argument  # noqa: E402


def load_into(net, params: dict) -> None:
    """Copy {our name: float32 array} into `net`'s parameters (apply_table has already matched names/shapes)."""
    import mindspore as ms

    for name, p in net.parameters_and_names():
        p.set_data(ms.Tensor(params[name]))


def import_weights(importer: Importer, input_path, output_path, config: dict | None = None,
                   overwrite: bool = False) -> dict:
    """Read, rename, check and write; returns a summary {tensors, parameters, network}. `config`: build the target
    from this config (importers with `build_for_config`) instead of the reference build.

    Raises WeightImportError for any problem with the input or output (nothing is written then); an existing
    output (the checkpoint, or the .yaml config written beside it) is refused unless `overwrite`.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    if output_path.suffix != ".ckpt":
        raise WeightImportError(f"{output_path}: the output name must end in .ckpt")
    if not output_path.parent.is_dir():
        raise WeightImportError(f"{output_path}: output directory does not exist")
    if output_path.exists() and input_path.exists() and output_path.resolve() == input_path.resolve():
        raise WeightImportError("--output must differ from --input (inputs are never overwritten)")
    from runtime.outputs import refuse_existing

    refuse_existing([output_path] + ([output_path.with_suffix(".yaml")] if importer.config_for else []), overwrite)
    if config is not None and importer.build_for_config is None:
        raise WeightImportError(f"the {importer.key} importer builds its network from the source file; --config "
                                f"does not apply")
    info = importer.read_info(input_path) if importer.read_info else None
    source = importer.read(input_path)
    if config is not None:
        net = importer.build_for_config(config)
    else:
        net = importer.build_target(info) if importer.read_info else importer.build_target()
    shapes = {name: tuple(p.shape) for name, p in net.parameters_and_names()}
    params = apply_table(source, importer.table_of(net), shapes, str(input_path))
    load_into(net, params)
    save_checkpoint_atomic(net, output_path, meta={"network": importer.network, "family": importer.family})
    summary = {"tensors": len(params), "parameters": int(sum(v.size for v in params.values())),
               "network": type(net).__name__, "config": None}
    if importer.config_for is not None:  # the network's config travels with it (built from the source file)
        from mindspore_impl.config import dump_yaml
        from runtime.atomic import write_text_atomic

        config_path = output_path.with_suffix(".yaml")
        write_text_atomic(config_path, dump_yaml(importer.config_for(info)))
        summary["config"] = str(config_path)
    return summary


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--family", required=True, help=f"model family (registered: {', '.join(IMPORTERS.names())})")
    p.add_argument("--input", required=True, help="source weights file (animeganv2: PyTorch .pt/.pth state dict)")
    p.add_argument("--output", required=True, help="MindSpore generator checkpoint to write (.ckpt)")
    p.add_argument("--network", default=None, metavar="NAME",
                   help="which of the family's networks the file holds (default: its generator, G)")
    add_overwrite_argument(p)
    p.add_argument("--config", default=None,
                   help="build the target from this config of the family instead of the importer's reference one")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    importer = find_importer(args.family, args.network)
    config = None
    if args.config:
        from mindspore_impl.config import load_config

        config = load_config(args.config)
    summary = import_weights(importer, args.input, args.output, config, overwrite=args.overwrite)
    print(f"wrote {args.output}: {summary['tensors']} tensors, {summary['parameters']:,} parameters of "
          f"{summary['network']} from {importer.source}")
    config = summary["config"] or args.config or importer.config
    print(f"use it with --config {config} ({importer.config_note})")


if __name__ == "__main__":
    run_main(main)
