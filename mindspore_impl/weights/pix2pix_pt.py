"""junyanz pix2pix `latest_net_G.pth` (UnetGenerator) and `latest_net_D.pth` (NLayerDiscriminator on cat(A, B)).

U-Net keys nest one `UnetSkipConnectionBlock.model` per level: the outermost block is `model.model`, its
submodule (index 1) `model.model.1.model`, every deeper submodule sits at index 3 of its parent. Inside a block:
outermost [0 conv, 1 sub, 2 ReLU, 3 convT (bias), 4 Tanh]; innermost [0 LReLU, 1 conv, 2 ReLU, 3 convT, 4 norm];
otherwise [0 LReLU, 1 conv, 2 norm, 3 sub, 4 ReLU, 5 convT, 6 norm, (7 Dropout)]. Ours: `model` (+ `.submodule`
per level) with `down_conv.conv`, `down_conv.norm`, `up_conv`, `up_norm`. unet_256 with batch norm: 82 tensors
(+ 14 num_batches_tracked, dropped).
"""
from __future__ import annotations

from mindspore_impl.weights.base import Importer, RenameTable, register
from mindspore_impl.weights.torch_io import read_torch_state_dict
from mindspore_impl.weights.translation_pt import conv_rules, nlayer_rules, norm_rules

CONFIG = "configs/pix2pix/manga.yaml"


def unet_rules(net) -> list[tuple]:
    rules, block, source, target = [], net.model, "model.model", "model"
    while block is not None:
        if block.outermost:
            rules += (conv_rules(f"{source}.0", f"{target}.down_conv.conv")
                      + conv_rules(f"{source}.3", f"{target}.up_conv"))
            nxt = f"{source}.1.model"
        elif block.submodule is None:  # innermost
            rules += (conv_rules(f"{source}.1", f"{target}.down_conv.conv")
                      + conv_rules(f"{source}.3", f"{target}.up_conv") + norm_rules(f"{source}.4", f"{target}.up_norm"))
            nxt = None
        else:
            rules += (conv_rules(f"{source}.1", f"{target}.down_conv.conv")
                      + norm_rules(f"{source}.2", f"{target}.down_conv.norm")
                      + conv_rules(f"{source}.5", f"{target}.up_conv") + norm_rules(f"{source}.6", f"{target}.up_norm"))
            nxt = f"{source}.3.model"
        block, source, target = block.submodule, nxt, f"{target}.submodule"
    return rules


def unet_table(net) -> RenameTable:
    return RenameTable(unet_rules(net))


def discriminator_table(net) -> RenameTable:
    return RenameTable(nlayer_rules(net))


def build_generator(cfg: dict | None = None):
    from mindspore_impl.config import load_config
    from mindspore_impl.families.base import build_exported

    return build_exported(cfg if cfg is not None else load_config(CONFIG), "G")


def build_discriminator(cfg: dict | None = None):
    """The config's discriminator on cat(A, B): in_channels = the generator's input + output channels."""
    from mindspore_impl.config import load_config
    from mindspore_impl.families.translation import build_discriminator as build_d

    cfg = cfg if cfg is not None else load_config(CONFIG)
    spec = build_generator(cfg).interface()
    return build_d(cfg, spec.inputs[0].channels + spec.outputs[0].channels)


register(Importer(
    family="pix2pix", network="G",
    source="junyanz pix2pix UnetGenerator state dict (latest_net_G.pth)",
    read=read_torch_state_dict, table=None, table_for=unet_table,
    build_target=build_generator, build_for_config=build_generator,
    config=CONFIG, config_note="unet_256, batch norm; export in eval mode (running statistics) by default",
))
register(Importer(
    family="pix2pix", network="D",
    source="junyanz pix2pix NLayerDiscriminator state dict (latest_net_D.pth)",
    read=read_torch_state_dict, table=None, table_for=discriminator_table,
    build_target=build_discriminator, build_for_config=build_discriminator,
    config=CONFIG, config_note="start training from it with train.init_weights: {D: ...}",
))
