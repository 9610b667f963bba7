"""YAML configs: base chains, --set overrides, unknown keys named, the resolved file saved."""
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mindspore_impl.config import ConfigError, build_dataclass, load_config, save_resolved
from mindspore_impl.trainer import TrainConfig

ROOT = Path(__file__).resolve().parents[1]


def test_style_configs_carry_the_official_weights():
    hayao = load_config(ROOT / "configs/animeganv2/hayao.yaml")
    paprika = load_config(ROOT / "configs/animeganv2/paprika.yaml")
    shinkai = load_config(ROOT / "configs/animeganv2/shinkai.yaml")
    assert hayao["loss"]["color_weight"] == 15.0 and hayao["loss"]["d_smooth_weight"] == 0.8
    assert paprika["loss"]["con_weight"] == 2.0 and paprika["loss"]["d_smooth_weight"] == 0.005
    assert shinkai["loss"]["d_real_weight"] == 1.7
    for cfg in (hayao, paprika, shinkai):  # shared settings come from _base.yaml
        assert cfg["optim"] == {"epochs": 101, "init_epochs": 10, "init_lr": 2e-4, "g_lr": 2e-5, "d_lr": 4e-5,
                                "beta1": 0.5, "beta2": 0.999}
        assert cfg["train"]["batch_size"] == 12 and cfg["generator"]["norm_eps"] == 1e-12


def test_pytorch_port_config_sets_its_numerics():
    cfg = load_config(ROOT / "configs/animeganv2/pytorch_port.yaml")
    assert cfg["generator"]["norm_eps"] == 1e-5 and cfg["generator"]["upsample"] == "align_corners"


def test_overrides_parse_yaml_values():
    cfg = load_config(ROOT / "configs/animeganv2/hayao.yaml",
                      ["train.batch_size=2", "generator.width=0.25", "train.jit=false", "data.style=Mine"])
    assert cfg["train"]["batch_size"] == 2 and cfg["generator"]["width"] == 0.25
    assert cfg["train"]["jit"] is False and cfg["data"]["style"] == "Mine"


def test_bad_override_syntax():
    with pytest.raises(ConfigError, match="key=value"):
        load_config(ROOT / "configs/animeganv2/hayao.yaml", ["train.batch_size"])


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"train\.batchsize"):
        build_dataclass(TrainConfig, {"batchsize": 3}, "train")


def test_bad_value_is_reported():
    with pytest.raises(ConfigError, match="device"):
        build_dataclass(TrainConfig, {"device": "TPU"}, "train")


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(ROOT / "configs/animeganv2/shinkai.yaml", ["train.seed=7"])
    out = save_resolved(cfg, tmp_path)
    assert yaml.safe_load(out.read_text()) == cfg


def test_missing_and_cyclic_bases(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "a.yaml")


@pytest.mark.parametrize("override,needle", [
    ("generator.widht=1", "generator.widht"),
    ("loss.colour_weight=3", "loss.colour_weight"),
    ("bogus.x=1", "config.bogus"),
    ("generator.name=animegan_v9", "unknown model 'animegan_v9'"),
])
def test_trainer_rejects_bad_configs_naming_the_key(override, needle):
    from mindspore_impl.registry import RegistryError
    from mindspore_impl.trainer import build_trainer

    cfg = load_config(ROOT / "configs/animeganv2/tiny.yaml", [override])
    with pytest.raises((ConfigError, RegistryError)) as info:
        build_trainer(cfg)
    assert needle in str(info.value)


def test_train_cli_reports_a_bad_config_in_one_line():
    r = subprocess.run([sys.executable, "mindspore_impl/train.py", "--config", "configs/animeganv2/tiny.yaml",
                        "--set", "generator.widht=1"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "generator.widht" in errors[0], r.stderr[-2000:]


def test_scientific_notation_is_a_float():
    cfg = load_config(ROOT / "configs/animeganv2/hayao.yaml", ["optim.g_lr=1e-3"])
    assert cfg["optim"]["g_lr"] == 1e-3
