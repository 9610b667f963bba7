"""Weight import: the animeganv2 rename table against the documented PyTorch-port keys, its rejections,
the torch reader (wrapped dicts, .pth, corrupt/truncated files, torch missing) and the CLI's exit codes.

The table tests run without torch (NumPy state dicts); tests that write real .pt files skip where torch is absent.
"""
import subprocess
import sys
from pathlib import Path

import mindspore as ms
import numpy as np
import pytest

from mindspore_impl import import_weights as cli
from mindspore_impl.models.animeganv2 import AnimeGANv2Generator
from mindspore_impl.weights import IMPORTERS, RenameTable, WeightImportError, apply_table
from mindspore_impl.weights.animeganv2_pt import ANIMEGANV2_PT_TABLE
from mindspore_impl.weights.torch_io import read_torch_state_dict
from runtime.errors import run_main

ROOT = Path(__file__).resolve().parents[1]

# Shapes quoted in /work/shared/reference/animeganv2.md §1.2 (written here independently of the table).
DOCUMENTED_SHAPES = {
    "block_a.0.1.weight": (32, 3, 7, 7), "block_a.1.1.weight": (64, 32, 3, 3), "block_b.0.1.weight": (128, 64, 3, 3),
    "block_c.1.layers.0.1.weight": (256, 128, 1, 1), "block_c.1.layers.1.1.weight": (256, 1, 3, 3),
    "block_c.1.layers.1.1.bias": (256,), "block_c.1.layers.2.weight": (256, 256, 1, 1),
    "block_c.2.layers.0.1.weight": (512, 256, 1, 1), "block_c.3.layers.1.1.weight": (512, 1, 3, 3),
    "block_c.4.layers.2.weight": (256, 512, 1, 1), "block_c.5.1.weight": (128, 256, 3, 3),
    "block_d.1.1.weight": (128, 128, 3, 3), "block_e.0.1.weight": (64, 128, 3, 3),
    "block_e.2.1.weight": (32, 64, 7, 7), "out_layer.0.weight": (3, 32, 1, 1),
}


def documented_port_keys():
    """The port's 77 state-dict keys, spelled out from model.py's module structure."""
    keys = []
    for block, count in (("block_a", 3), ("block_b", 2), ("block_d", 2), ("block_e", 3)):
        for i in range(count):
            keys += [f"{block}.{i}.1.weight", f"{block}.{i}.2.weight", f"{block}.{i}.2.bias"]
    for i in (0, 5):
        keys += [f"block_c.{i}.1.weight", f"block_c.{i}.2.weight", f"block_c.{i}.2.bias"]
    for i in (1, 2, 3, 4):
        p = f"block_c.{i}.layers"
        keys += [f"{p}.0.1.weight", f"{p}.0.2.weight", f"{p}.0.2.bias",
                 f"{p}.1.1.weight", f"{p}.1.1.bias", f"{p}.1.2.weight", f"{p}.1.2.bias",
                 f"{p}.2.weight", f"{p}.3.weight", f"{p}.3.bias"]
    return keys + ["out_layer.0.weight"]


def is_norm_key(key):
    return key.endswith((".2.weight", ".2.bias", "layers.3.weight", "layers.3.bias")) and "layers.2." not in key


@pytest.fixture(autouse=True)
def pynative():
    ms.set_context(mode=ms.PYNATIVE_MODE)


@pytest.fixture(scope="module")
def target_shapes():
    return {name: tuple(p.shape) for name, p in AnimeGANv2Generator().parameters_and_names()}


def random_source(target_shapes, seed=0):
    """A NumPy state dict with the port's keys; shapes taken from where the table sends each key."""
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(target_shapes[ANIMEGANV2_PT_TABLE.target_of(k)]).astype(np.float32)
            for k in documented_port_keys()}


# --------------------------------------------------------------------------------------------- the table
def test_table_maps_the_documented_keys_onto_every_parameter(target_shapes):
    keys = documented_port_keys()
    assert len(keys) == len(set(keys)) == 77 == len(target_shapes)
    targets = [ANIMEGANV2_PT_TABLE.target_of(k) for k in keys]
    assert None not in targets and len(set(targets)) == 77  # one-to-one
    assert set(targets) == set(target_shapes)
    for key, shape in DOCUMENTED_SHAPES.items():
        assert target_shapes[ANIMEGANV2_PT_TABLE.target_of(key)] == shape, key
    # GroupNorm weight/bias must become γ/β (a swap would still "load" with equal shapes)
    for key, target in zip(keys, targets):
        if is_norm_key(key):
            assert target.endswith(".gamma" if key.endswith(".weight") else ".beta"), (key, target)
        else:
            assert target.endswith((".weight", ".bias")) and target.split(".")[-1] == key.split(".")[-1], key
    assert sum(int(np.prod(s)) for s in target_shapes.values()) == 2_143_552


def test_table_runs_backwards_for_every_parameter(target_shapes):
    for target in target_shapes:
        source = ANIMEGANV2_PT_TABLE.source_of(target)
        assert source in documented_port_keys() and ANIMEGANV2_PT_TABLE.target_of(source) == target


def test_apply_table_copies_values(target_shapes):
    src = random_source(target_shapes)
    out = apply_table(src, ANIMEGANV2_PT_TABLE, target_shapes, "w.pt")
    assert set(out) == set(target_shapes)
    np.testing.assert_array_equal(out["block_c.2.layers.3.gamma"], src["block_c.2.layers.3.weight"])
    np.testing.assert_array_equal(out["block_c.2.layers.1.conv.bias"], src["block_c.2.layers.1.1.bias"])
    np.testing.assert_array_equal(out["block_e.2.norm.beta"], src["block_e.2.2.bias"])


@pytest.mark.parametrize("key", ["block_c.3.layers.1.1.bias", "block_a.0.2.weight", "out_layer.0.weight"])
def test_missing_key_is_named(target_shapes, key):
    src = random_source(target_shapes)
    del src[key]
    with pytest.raises(WeightImportError, match=rf"missing tensor '{key}'"):
        apply_table(src, ANIMEGANV2_PT_TABLE, target_shapes, "w.pt")


@pytest.mark.parametrize("key", ["block_f.0.1.weight", "block_c.6.1.weight", "block_c.1.layers.4.weight"])
def test_extra_key_is_named(target_shapes, key):
    src = random_source(target_shapes)
    src[key] = np.zeros((4, 4, 3, 3), np.float32)
    with pytest.raises(WeightImportError, match=rf"unexpected tensor '{key}'"):
        apply_table(src, ANIMEGANV2_PT_TABLE, target_shapes, "w.pt")


def test_wrong_shape_is_named(target_shapes):
    src = random_source(target_shapes)
    src["block_b.1.1.weight"] = np.zeros((128, 128, 1, 1), np.float32)
    with pytest.raises(WeightImportError, match=r"'block_b.1.1.weight' has shape \(128, 128, 1, 1\).*"
                                                r"'block_b.1.conv.weight' expects \(128, 128, 3, 3\)"):
        apply_table(src, ANIMEGANV2_PT_TABLE, target_shapes, "w.pt")


def test_non_float_and_non_finite_values_are_named(target_shapes):
    src = random_source(target_shapes)
    src["block_d.0.2.bias"] = np.zeros(128, np.int64)
    with pytest.raises(WeightImportError, match="'block_d.0.2.bias' has dtype int64"):
        apply_table(src, ANIMEGANV2_PT_TABLE, target_shapes, "w.pt")
    src = random_source(target_shapes)
    src["block_d.0.1.weight"][0, 0, 0, 0] = np.nan
    with pytest.raises(WeightImportError, match="'block_d.0.1.weight' contains NaN"):
        apply_table(src, ANIMEGANV2_PT_TABLE, target_shapes, "w.pt")


def test_two_sources_for_one_parameter_are_rejected():
    table = RenameTable([("a.{i}.w", "x.{i}"), ("b.{i}.w", "x.{i}")])
    with pytest.raises(WeightImportError, match="'a.0.w' and 'b.0.w' both map to 'x.0'"):
        apply_table({"a.0.w": np.ones(2, np.float32), "b.0.w": np.ones(2, np.float32)}, table, {"x.0": (2,)}, "f")
    with pytest.raises(ValueError, match="same placeholders"):
        RenameTable([("a.{i}", "b")])


def test_rule_transforms_run_before_the_shape_check():
    def hwio_to_oihw(w):
        return np.transpose(w, (3, 2, 0, 1))

    def plus_one(g):  # a gain stored as an offset from 1 (StyleGAN-style)
        return g + 1

    table = RenameTable([("{l}/w", "{l}.weight", hwio_to_oihw), ("{l}/g", "{l}.gain", plus_one), ("{l}/b", "{l}.b")])
    rng = np.random.default_rng(0)
    src = {"c1/w": rng.standard_normal((3, 3, 2, 5)).astype(np.float32), "c1/g": np.zeros(5, np.float32),
           "c1/b": np.arange(5, dtype=np.float32)}
    shapes = {"c1.weight": (5, 2, 3, 3), "c1.gain": (5,), "c1.b": (5,)}
    out = apply_table(src, table, shapes, "f")
    np.testing.assert_array_equal(out["c1.weight"], src["c1/w"].transpose(3, 2, 0, 1))
    np.testing.assert_array_equal(out["c1.gain"], np.ones(5, np.float32))
    np.testing.assert_array_equal(out["c1.b"], src["c1/b"])
    # an untransposed kernel of the right element count is refused, naming both names and both shapes
    with pytest.raises(WeightImportError, match=r"'c1/w' -> 'c1.weight' has shape \(2, 5, 3, 3\) after conversion "
                                                r"\(source shape \(3, 3, 5, 2\)\), expected \(5, 2, 3, 3\)"):
        apply_table(dict(src, **{"c1/w": np.zeros((3, 3, 5, 2), np.float32)}), table, shapes, "f")


def test_rules_without_target_drop_tensors_and_nothing_else():
    table = RenameTable([("{l}.num_batches_tracked", None), ("head.{k}", None), ("{l}.weight", "{l}.w")])
    shapes = {"bn.w": (3,)}
    src = {"bn.weight": np.ones(3, np.float32), "bn.num_batches_tracked": np.array(7, np.int64),
           "head.weight": np.zeros((10, 3), np.float32)}
    out = apply_table(src, table, shapes, "f")  # the int64 counter is dropped before the dtype check
    assert list(out) == ["bn.w"]
    assert table.target_of("head.weight") is None and table.source_of("bn.w") == "bn.weight"
    with pytest.raises(WeightImportError, match=r"unexpected tensor 'bn.running_var' \(matches no rule\)"):
        apply_table(dict(src, **{"bn.running_var": np.ones(3, np.float32)}), table, shapes, "f")
    with pytest.raises(WeightImportError, match=r"missing tensor 'bn.weight' \(for 'bn.w'\)"):
        apply_table({k: v for k, v in src.items() if k != "bn.weight"}, table, shapes, "f")
    with pytest.raises(ValueError, match="cannot have a transform"):
        RenameTable([("x", None, np.negative)])


def test_importer_registry_lists_families():
    assert "animeganv2" in IMPORTERS.names()
    assert IMPORTERS.get("animeganv2").config == "configs/animeganv2/pytorch_port.yaml"
    assert (ROOT / IMPORTERS.get("animeganv2").config).is_file()


# --------------------------------------------------------------------------------------------- reading .pt files
def test_missing_torch_gives_a_clear_error(tmp_path, monkeypatch):
    (tmp_path / "w.pt").write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(WeightImportError, match="needs PyTorch"):
        read_torch_state_dict(tmp_path / "w.pt")


def run_cli(argv, capsys):
    """The CLI's main() through the same error handler as `python mindspore_impl/import_weights.py`."""
    with pytest.raises(SystemExit) as exc:
        run_main(cli.main, argv)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


@pytest.fixture(scope="module")
def port_state_dict(target_shapes):
    torch = pytest.importorskip("torch")
    return {k: torch.from_numpy(v) for k, v in random_source(target_shapes, seed=1).items()}


@pytest.mark.parametrize("wrap, suffix", [(None, ".pt"), ("state_dict", ".pth"), ("model", ".pt"),
                                          ("module.", ".pth")])
def test_cli_imports_plain_and_wrapped_state_dicts(tmp_path, capsys, port_state_dict, wrap, suffix):
    import torch

    if wrap == "module.":
        obj = {f"module.{k}": v for k, v in port_state_dict.items()}
    elif wrap:
        obj = {wrap: port_state_dict, "epoch": 12, "optimizer": {"lr": 1e-4}}
    else:
        obj = port_state_dict
    src = tmp_path / f"w{suffix}"
    torch.save(obj, src)
    code, out, err = run_cli(["--family", "animeganv2", "--input", str(src), "--output", str(tmp_path / "G.ckpt")],
                             capsys)
    assert code == 0, err
    assert "77 tensors" in out and "pytorch_port.yaml" in out
    from mindspore_impl.checkpoint_io import read_checkpoint

    params, meta = read_checkpoint(tmp_path / "G.ckpt", with_meta=True)
    assert meta == {"network": "G", "family": "animeganv2"}  # the file says which network it holds
    ckpt = {k: v.asnumpy() for k, v in params.items()}
    np.testing.assert_array_equal(ckpt["block_c.4.layers.1.norm.gamma"],
                                  port_state_dict["block_c.4.layers.1.2.weight"].numpy())
    np.testing.assert_array_equal(ckpt["block_a.0.conv.weight"], port_state_dict["block_a.0.1.weight"].numpy())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left behind


def test_cli_rejects_corrupt_truncated_and_foreign_files(tmp_path, capsys, port_state_dict):
    import torch

    good = tmp_path / "good.pt"
    torch.save(port_state_dict, good)
    data = good.read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "corrupt.pt").write_bytes(np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes())
    torch.save({"epoch": 3, "lr": 0.1}, tmp_path / "nostate.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    sd = dict(port_state_dict)
    sd["block_b.0.1.weight"] = torch.zeros(128, 64, 1, 1)
    torch.save(sd, tmp_path / "shape.pt")
    for name, pattern in [("truncated.pt", "not a readable PyTorch state dict"),
                          ("corrupt.pt", "not a readable PyTorch state dict"),
                          ("nostate.pt", "no state dict found"), ("list.pt", "expected a state dict"),
                          ("shape.pt", "'block_b.0.1.weight' has shape"), ("absent.pt", "file not found")]:
        out_ckpt = tmp_path / f"{name}.ckpt"
        code, _, err = run_cli(["--family", "animeganv2", "--input", str(tmp_path / name), "--output",
                                str(out_ckpt)], capsys)
        assert code == 2, name
        assert err.startswith("error: ") and err.count("\n") == 1 and pattern in err, (name, err)
        assert name in err
        assert not out_ckpt.exists()


def test_cli_rejects_bad_output_and_unknown_family(tmp_path, capsys):
    code, _, err = run_cli(["--family", "animeganv2", "--input", "w.pt", "--output", str(tmp_path / "G.bin")],
                           capsys)
    assert code == 2 and "must end in .ckpt" in err
    code, _, err = run_cli(["--family", "animeganv2", "--input", "w.pt", "--output",
                            str(tmp_path / "nodir" / "G.ckpt")], capsys)
    assert code == 2 and "output directory does not exist" in err
    code, _, err = run_cli(["--family", "stylegan9", "--input", "w.pt", "--output", str(tmp_path / "G.ckpt")],
                           capsys)
    assert code == 2 and "unknown weight importer 'stylegan9'" in err and "animeganv2" in err


def test_script_exits_2_with_one_line(tmp_path):
    """The real script (subprocess): a missing input fails cleanly with or without torch installed."""
    proc = subprocess.run([sys.executable, "mindspore_impl/import_weights.py", "--family", "animeganv2",
                           "--input", str(tmp_path / "nope.pt"), "--output", str(tmp_path / "G.ckpt")],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
    assert "nope.pt: file not found" in proc.stderr or "needs PyTorch" in proc.stderr
