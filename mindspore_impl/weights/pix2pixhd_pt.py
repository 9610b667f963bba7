"""NVIDIA pix2pixHD `latest_net_G.pth` (LocalEnhancer or GlobalGenerator) and `latest_net_D.pth`
(MultiscaleDiscriminator).

LocalEnhancer: `model.*` is the global network minus its last pad/conv/tanh (the GlobalGenerator layout,
weights/translation_pt.resnet_generator_rules) → our `global_net`; `model{n}_1` = [0 pad, 1 conv, 2 norm, 3 ReLU,
4 conv, 5 norm, 6 ReLU] → `enhancers.{n-1}.down.{0,1}`; `model{n}_2` = ResnetBlocks, then convT, norm, ReLU (and on
the last enhancer pad, conv, tanh) → `enhancers.{n-1}.up.*`. The global-only generator (`--netG global`) is the
GlobalGenerator layout at the top level. MultiscaleDiscriminator with getIntermFeat: `scale{i}_layer{j}.{0 conv,
1 norm}` → `scales.{i}.stages.{j}`; without it `layer{i}.*` (one Sequential per scale, the NLayerD layout).
"""
from __future__ import annotations

from mindspore_impl.weights.base import Importer, RenameTable, register
from mindspore_impl.weights.torch_io import read_torch_state_dict
from mindspore_impl.weights.translation_pt import (nlayer_rules, resnet_block_rules, resnet_generator_rules,
                                                   unit_rules)

CONFIG = "configs/pix2pixhd/manga.yaml"
GLOBAL_CONFIG = "configs/pix2pixhd/manga_global.yaml"


def local_enhancer_rules(net) -> list[tuple]:
    rules = resnet_generator_rules(net.global_net, "model", "global_net")
    for i, stage in enumerate(net.enhancers):
        n, target = i + 1, f"enhancers.{i}"
        rules += unit_rules(f"model{n}_1.1", f"model{n}_1.2", f"{target}.down.0")
        rules += unit_rules(f"model{n}_1.4", f"model{n}_1.5", f"{target}.down.1")
        blocks = [c for c in stage.up if hasattr(c, "conv1")]
        for j, block in enumerate(blocks):
            rules += resnet_block_rules(f"model{n}_2.{j}", f"{target}.up.{j}", block)
        k = len(blocks)
        rules += unit_rules(f"model{n}_2.{k}", f"model{n}_2.{k + 1}", f"{target}.up.{k}")
        if len(stage.up) > k + 1:  # the last enhancer's pad (k + 3), conv (k + 4), tanh
            rules += unit_rules(f"model{n}_2.{k + 4}", None, f"{target}.up.{k + 1}")
    return rules


def generator_table(net) -> RenameTable:
    from mindspore_impl.models.pix2pixhd import LocalEnhancer

    return RenameTable(local_enhancer_rules(net) if isinstance(net, LocalEnhancer) else resnet_generator_rules(net))


def discriminator_table(net) -> RenameTable:
    rules = []
    for i, scale in enumerate(net.scales):
        for j in range(len(scale.stages)):
            rules += unit_rules(f"scale{i}_layer{j}.0", f"scale{i}_layer{j}.1", f"scales.{i}.stages.{j}")
        rules += nlayer_rules(scale, f"layer{i}", f"scales.{i}")
    return RenameTable(rules)


def _config(cfg):
    from mindspore_impl.config import load_config

    return load_config(cfg) if isinstance(cfg, str) else cfg


def build_generator(cfg=CONFIG):
    from mindspore_impl.families.base import build_exported

    return build_exported(_config(cfg), "G")


def build_discriminator(cfg=CONFIG):
    from mindspore_impl.families.translation import build_discriminator as build_d

    cfg = _config(cfg)
    spec = build_generator(cfg).interface()
    return build_d(cfg, spec.inputs[0].channels + spec.outputs[0].channels)


register(Importer(
    family="pix2pixhd", network="G", source="NVIDIA pix2pixHD LocalEnhancer/GlobalGenerator state dict "
                                            "(latest_net_G.pth)",
    read=read_torch_state_dict, table=None, table_for=generator_table, build_target=build_generator,
    build_for_config=build_generator, config=CONFIG,
    config_note="LocalEnhancer ngf 32; for a --netG global file pass --config " + GLOBAL_CONFIG))
register(Importer(
    family="pix2pixhd", network="D", source="NVIDIA pix2pixHD MultiscaleDiscriminator state dict (latest_net_D.pth)",
    read=read_torch_state_dict, table=None, table_for=discriminator_table, build_target=build_discriminator,
    build_for_config=build_discriminator, config=CONFIG, config_note="continue training with train.init_weights"))
