"""Config values are checked against the annotations of the dataclass field or factory argument they set, at load
time, by `config.build_dataclass` / `config.factory_kwargs` (so every family's sections get it), naming the key;
every CLI that takes --set checks the whole config before any work; `data.image_size` must suit the networks."""
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

from mindspore_impl.config import ConfigError, build_dataclass, factory_kwargs, load_config

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs/animeganv2/tiny.yaml"


@dataclass
class Example:
    rate: float = 1.0
    count: int = 2
    flag: bool = False
    name: str = "x"
    limit: Optional[int] = None
    pair: tuple[float, float] = (0.5, 0.9)
    sizes: tuple[int, ...] = (1,)
    items: list[str] = None
    either: float | None = None


@pytest.mark.parametrize("key,value,needle", [
    ("rate", "abc", "expected a number"),
    ("rate", True, "expected a number"),
    ("rate", float("nan"), "finite"),
    ("rate", float("inf"), "finite"),
    ("count", 2.5, "expected an integer"),
    ("count", "3", "expected an integer"),
    ("count", False, "expected an integer"),
    ("flag", "maybe", "expected true or false"),
    ("flag", 1, "expected true or false"),
    ("name", 3, "expected a string"),
    ("limit", "none", "expected an integer or null"),
    ("pair", [1, 2, 3], "expected 2 values"),
    ("pair", "0.5,0.9", "expected a list"),
    ("pair", [0.5, "x"], "ex.pair[1]: expected a number"),
    ("sizes", [1, 2.5], "ex.sizes[1]: expected an integer"),
    ("items", ["a", 1], "ex.items[1]: expected a string"),
    ("either", "abc", "expected a number or null"),
])
def test_mistyped_values_are_errors_naming_the_key(key, value, needle):
    with pytest.raises(ConfigError, match=rf"ex\.{key}") as info:
        build_dataclass(Example, {key: value}, "ex")
    assert needle in str(info.value)


def test_accepted_values_are_converted_to_the_annotation():
    built = build_dataclass(Example, {"rate": 3, "limit": None, "pair": [1, 0.5], "sizes": [4, 5, 6],
                                      "items": ("a", "b"), "either": 2}, "ex")
    assert built.rate == 3.0 and isinstance(built.rate, float)  # ints are accepted for floats
    assert built.pair == (1.0, 0.5) and isinstance(built.pair, tuple) and isinstance(built.pair[0], float)
    assert built.sizes == (4, 5, 6) and built.items == ["a", "b"] and built.either == 2.0
    assert build_dataclass(Example, {"limit": 7}, "ex").limit == 7


def test_factory_arguments_are_checked_against_the_signature():
    def factory(width: float = 1.0, blocks: int = 2, sn: bool = True, mode: str = "a", free=None):
        return None

    assert factory_kwargs({"name": "f", "width": 1, "free": "anything"}, factory, "generator") == \
        {"width": 1.0, "free": "anything"}
    for key, value, needle in (("width", "abc", "generator.width: expected a number"),
                               ("blocks", 1.5, "generator.blocks: expected an integer"),
                               ("sn", "maybe", "generator.sn: expected true or false")):
        with pytest.raises(ConfigError) as info:
            factory_kwargs({"name": "f", key: value}, factory, "generator")
        assert needle in str(info.value)


@pytest.mark.parametrize("override,needle", [
    ("optim.init_lr=abc", "optim.init_lr"),
    ("generator.width=abc", "generator.width"),
    ("train.jit=maybe", "train.jit"),
    ("train.batch_size=2.5", "train.batch_size"),
    ("loss.init_con_weight=abc", "loss.init_con_weight"),
    ("data.image_size=30", "data.image_size"),
])
def test_the_trainer_refuses_mistyped_values_before_building_anything(override, needle, tmp_path):
    from mindspore_impl.trainer import build_trainer

    cfg = load_config(TINY, [override, f"train.run_dir={tmp_path / 'run'}"])
    with pytest.raises(ConfigError) as info:
        build_trainer(cfg)
    assert needle in str(info.value)
    assert not (tmp_path / "run").exists()


def test_image_size_must_be_a_multiple_of_the_networks(tmp_path):
    """AnimeGANv2's generator keeps sizes that are multiples of 4; 30 used to fail deep in a loss."""
    from mindspore_impl.config import check_image_size
    from mindspore_impl.models.animeganv2 import animeganv2_generator

    net = animeganv2_generator(width=0.125)
    with pytest.raises(ConfigError, match=r"data\.image_size=30 is not a multiple of 4"):
        check_image_size({"data": {"image_size": 30}}, {"G": net})
    check_image_size({"data": {"image_size": 32}}, {"G": net})
    check_image_size({"data": {}}, {"G": net})  # families without the key are not concerned


@pytest.mark.parametrize("cli", ["infer", "to_onnx", "generate"])
def test_every_cli_with_set_checks_the_config_first(cli, tmp_path):
    """One line naming the key, before any input, checkpoint or output is looked at (none of them exist)."""
    from export import to_onnx
    from mindspore_impl import generate, infer

    common = ["--config", str(TINY), "--set", "optim.init_lr=abc"]
    argv = {"infer": [*common, "--ckpt", str(tmp_path / "none.ckpt"), "--input", str(tmp_path / "nothing"),
                      "--output", str(tmp_path / "out")],
            "to_onnx": [*common, "--ckpt", str(tmp_path / "none.ckpt"), "--output", str(tmp_path / "o.onnx")],
            "generate": [*common, "--network", str(tmp_path / "none.ckpt")]}[cli]
    main = {"infer": infer.main, "to_onnx": to_onnx.main, "generate": generate.main}[cli]
    with pytest.raises(ConfigError, match=r"optim\.init_lr: expected a number, got 'abc'"):
        main(argv)
