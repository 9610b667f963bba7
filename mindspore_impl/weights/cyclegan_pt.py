"""CycleGAN state dicts: junyanz `latest_net_{G_A,G_B,D_A,D_B}.pth` and the BerserkMangaColoring notebook's
`checkpoints_cyclegan/{G_XtoY,G_YtoX,D_X,D_Y}.pkl` (torch.save of a state dict, despite the suffix; read with
weights_only=True like every torch file here).

junyanz: `ResnetGenerator.model` indices (weights/translation_pt.resnet_generator_rules), `NLayerDiscriminator.model`
indices. The study: `cv1..cv3.{0 conv, 1 BN}`, `res.{i}.cv.{0,1}` (one conv+BN per block, applied twice),
`dcv3/dcv4.{0 convT, 1 BN}`, `dcv5.0`; its D `cv1.0`, `cv2..cv5.{0,1}`, `cv6.0`. Names: G_XtoY (bw → rgb) is our
G_A, G_YtoX our G_B; D_Y judges rgb like our D_A, D_X judges bw like our D_B.

    python mindspore_impl/import_weights.py --family cyclegan --input latest_net_G_A.pth --output G_A.ckpt
    python mindspore_impl/import_weights.py --family cyclegan --network G_B --input latest_net_G_B.pth --output G_B.ckpt
    python mindspore_impl/import_weights.py --family cyclegan_seed --input G_XtoY.pkl --output G_A.ckpt
    python mindspore_impl/import_weights.py --family cyclegan_seed --network D_A --input D_Y.pkl --output D_A.ckpt
"""
from __future__ import annotations

from mindspore_impl.weights.base import IMPORTERS, Importer, RenameTable, register
from mindspore_impl.weights.torch_io import read_torch_state_dict
from mindspore_impl.weights.translation_pt import BN_NAMES, nlayer_rules, resnet_generator_rules

JUNYANZ_CONFIG = "configs/cyclegan/manga.yaml"
SEED_CONFIG = "configs/cyclegan/seed.yaml"

SEED_TABLE = RenameTable([  # the notebook's conv()/deconv() helpers are Sequential(conv, [BatchNorm2d])
    *[(f"{{layer}}.1.{a}", f"{{layer}}.norm.{b}") for a, b in BN_NAMES],
    ("{layer}.1.num_batches_tracked", None),
    ("{layer}.0.weight", "{layer}.conv.weight"),
    *[(f"res.{{i}}.cv.1.{a}", f"res.{{i}}.cv.norm.{b}") for a, b in BN_NAMES],
    ("res.{i}.cv.1.num_batches_tracked", None),
    ("res.{i}.cv.0.weight", "res.{i}.cv.conv.weight"),
])


def build(cfg_path: str, name: str):
    """Network `name` (G_A, G_B, D_A, D_B) of a CycleGAN config (a path, or a loaded config dict)."""
    from mindspore_impl.config import load_config
    from mindspore_impl.families.base import build_exported
    from mindspore_impl.registry import build_network

    cfg = load_config(cfg_path) if isinstance(cfg_path, str) else cfg_path
    if name in ("G_A", "G_B"):
        return build_exported(cfg, name)
    spec = build_exported(cfg, "G_A").interface()
    judged = spec.outputs[0].channels if name == "D_A" else spec.inputs[0].channels  # D_A judges B, D_B judges A
    return build_network(cfg, "discriminator", in_channels=judged)


def generator_table(net) -> RenameTable:
    return RenameTable(resnet_generator_rules(net))


def discriminator_table(net) -> RenameTable:
    return RenameTable(nlayer_rules(net))


def _importer(family, config, network, source, table=None, table_for=None, note=""):
    return Importer(family=family, network=network, source=source, read=read_torch_state_dict, table=table,
                    table_for=table_for, build_target=lambda: build(config, network),
                    build_for_config=lambda cfg: build(cfg, network), config=config, config_note=note)


for _net in ("G_A", "G_B", "D_A", "D_B"):
    _g = _net.startswith("G")
    register(_importer("cyclegan", JUNYANZ_CONFIG, _net,
                       f"junyanz CycleGAN {'ResnetGenerator' if _g else 'NLayerDiscriminator'} state dict "
                       f"(latest_net_{_net}.pth)",
                       table_for=generator_table if _g else discriminator_table,
                       note="resnet_9blocks, instance norm" if _g else "continue training with train.init_weights"))
    _study = {"G_A": "G_XtoY", "G_B": "G_YtoX", "D_A": "D_Y", "D_B": "D_X"}[_net]
    register(_importer("cyclegan_seed", SEED_CONFIG, _net,
                       f"BerserkMangaColoring {'CycleGenerator' if _g else 'Discriminator'} state dict ({_study}.pkl)",
                       table=SEED_TABLE, note="the study's CycleGAN; batch norm, eval mode by default"))
# --family cyclegan / cyclegan_seed without --network: the colorizer, G_A
IMPORTERS.register("cyclegan")(IMPORTERS.get("cyclegan:G_A"))
IMPORTERS.register("cyclegan_seed")(IMPORTERS.get("cyclegan_seed:G_A"))
