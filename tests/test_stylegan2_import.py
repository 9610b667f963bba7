"""NVlabs pickle import (mindspore_impl/weights/stylegan2_pkl.py) on snapshots written by the test itself in NVlabs'
layout (persistent objects reduced to `torch_utils.persistence._reconstruct_persistent_obj(meta)`, EasyDict init
kwargs, torch Parameters and buffers, the FIR buffers; no NVlabs code anywhere): G_ema by default, G and D on
request, the config written from `_init_kwargs`, parity with a torch formulation of NVlabs' networks (1e-4), and
every refusal (missing or extra tensor, foreign filter, unsupported argument, code-running pickles)."""
import collections
import os
import pickle
import subprocess
import sys
import types
from pathlib import Path

import mindspore as ms
import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch")

from mindspore import Tensor  # noqa: E402

from mindspore_impl.checkpoint_io import read_checkpoint  # noqa: E402
from mindspore_impl.import_weights import import_weights  # noqa: E402
from mindspore_impl.models.stylegan2 import stylegan2_discriminator, stylegan2_generator  # noqa: E402
from mindspore_impl.weights import WeightImportError, find_importer  # noqa: E402
from tests._stylegan2_torch import TorchStyleGAN2  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
G_KW = dict(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3)
MAPPING_KW = dict(num_layers=2)
SYNTHESIS_KW = dict(channel_base=64, channel_max=8, num_fp16_res=4, conv_clamp=256)
D_KW = dict(img_resolution=16, img_channels=3, channel_base=64, channel_max=8, num_fp16_res=4,
            conv_clamp=256)
FIR = np.outer([1, 3, 3, 1], [1, 3, 3, 1]).astype(np.float32) / 64
BUFFERS = ("noise_const", "w_avg", "resample_filter")


# ------------------------------------------------------------------------------------------------ the writer

def _fake_module(monkeypatch, name, **attrs):
    module = types.ModuleType(name)
    for key, value in attrs.items():
        value.__module__, value.__qualname__ = name, key
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, name, module)
    return module


@pytest.fixture
def nvlabs_names(monkeypatch):
    """Importable stand-ins named as NVlabs' globals, so pickle writes the GLOBAL opcodes NVlabs files hold."""
    def _reconstruct_persistent_obj(meta):  # never called by the importer; present only to be pickled by name
        raise AssertionError("NVlabs' reconstruct hook must not run")

    class EasyDict(dict):
        pass

    _fake_module(monkeypatch, "torch_utils")
    persistence = _fake_module(monkeypatch, "torch_utils.persistence",
                               _reconstruct_persistent_obj=_reconstruct_persistent_obj)
    _fake_module(monkeypatch, "dnnlib")
    util = _fake_module(monkeypatch, "dnnlib.util", EasyDict=EasyDict)
    return types.SimpleNamespace(reconstruct=persistence._reconstruct_persistent_obj, EasyDict=util.EasyDict)


class Persistent:
    """Pickles as an NVlabs persistent module: reconstruct hook + meta (with source that must never run)."""

    def __init__(self, names, class_name, state):
        self.names, self.class_name, self.state = names, class_name, state

    def __reduce__(self):
        meta = dict(type="class", version=6, module_src="import os\nos.system('touch NVLABS_SOURCE_RAN')\n",
                    class_name=self.class_name, state=self.state)
        return self.names.reconstruct, (meta,)


def module_tree(names, flat: dict, class_name: str, init_kwargs: dict) -> Persistent:
    """Nest {dotted name: array} into NVlabs module states (`_parameters`, `_buffers`, `_modules`)."""
    def node(name):
        return {"training": False, "_parameters": collections.OrderedDict(), "_buffers": collections.OrderedDict(),
                "_non_persistent_buffers_set": set(), "_modules": collections.OrderedDict(), "_name": name}

    root = node("")
    for key, value in flat.items():
        *path, leaf = key.split(".")
        cur = root
        for part in path:
            cur = cur["_modules"].setdefault(part, node(part))
        tensor = torch.tensor(value)
        if leaf in BUFFERS:
            cur["_buffers"][leaf] = tensor
        else:
            cur["_parameters"][leaf] = torch.nn.Parameter(tensor, requires_grad=False)
        cur.setdefault("weight_gain", np.float64(0.5))  # NVlabs keeps numpy floats as attributes

    def wrap(state, cls):
        state = dict(state)
        state.pop("_name")
        state["_modules"] = collections.OrderedDict((k, wrap(v, "Layer")) for k, v in state["_modules"].items())
        return Persistent(names, cls, state)

    out = wrap(root, class_name)
    out.state["_init_args"] = ()
    out.state["_init_kwargs"] = init_kwargs
    return out


def nvlabs_state(net, kind: str, seed: int) -> dict:
    """Random NVlabs-layout state for our network's parameter names, plus NVlabs' FIR buffers."""
    rng = np.random.default_rng(seed)
    flat = {name: rng.normal(0, 0.5, p.shape).astype(np.float32) for name, p in net.parameters_and_names()}
    owners = set()
    for name in flat:
        parts = name.split(".")
        if kind == "G" and parts[0] == "synthesis":
            owners.add(".".join(parts[:2]))
            if parts[2] in ("conv0", "conv1"):
                owners.add(".".join(parts[:3]))
        if kind == "D" and parts[0] != "mapping":
            if parts[0] != "b4":
                owners.add(parts[0])
            if parts[1] in ("fromrgb", "conv0", "conv1", "skip", "conv"):
                owners.add(".".join(parts[:2]))
    for owner in sorted(owners):
        flat[f"{owner}.resample_filter"] = FIR.copy()
    return flat


def write_snapshot(names, path, c_dim=0, g_state=None, extra=None, g_kwargs=None):
    G = stylegan2_generator(**{**G_KW, "c_dim": c_dim}, mapping_layers=2, channel_base=64, channel_max=8,
                            conv_clamp=256)
    D = stylegan2_discriminator(**{k: v for k, v in D_KW.items() if k != "num_fp16_res"}, c_dim=c_dim,
                                mbstd_group_size=4)
    g_kwargs = g_kwargs or names.EasyDict({**G_KW, "c_dim": c_dim, "mapping_kwargs": names.EasyDict(MAPPING_KW),
                                           "synthesis_kwargs": names.EasyDict(SYNTHESIS_KW)})
    d_kwargs = names.EasyDict({**D_KW, "c_dim": c_dim, "block_kwargs": names.EasyDict(),
                               "mapping_kwargs": names.EasyDict(),
                               "epilogue_kwargs": names.EasyDict(mbstd_group_size=4)})
    states = {"G": nvlabs_state(G, "G", 1), "G_ema": g_state or nvlabs_state(G, "G", 2), "D": nvlabs_state(D, "D", 3)}
    if extra:
        states = extra(states)
    data = {"training_set_kwargs": {"path": "data.zip", "resolution": 16},
            "G": module_tree(names, states["G"], "Generator", g_kwargs),
            "D": module_tree(names, states["D"], "Discriminator", d_kwargs),
            "G_ema": module_tree(names, states["G_ema"], "Generator", g_kwargs),
            "augment_pipe": None}
    with open(path, "wb") as f:
        pickle.dump(data, f)
    return states


@pytest.fixture(autouse=True)
def pynative(tmp_path, monkeypatch):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    monkeypatch.chdir(tmp_path)  # where a pickle's embedded source would leave its marker if it ever ran


# ------------------------------------------------------------------------------------------------ tests

@pytest.mark.parametrize("c_dim", [0, 3])
def test_import_g_ema_by_default_with_its_config_and_torch_parity(tmp_path, nvlabs_names, c_dim):
    states = write_snapshot(nvlabs_names, tmp_path / "snap.pkl", c_dim=c_dim)
    summary = import_weights(find_importer("stylegan2"), tmp_path / "snap.pkl", tmp_path / "G.ckpt")
    assert not (tmp_path / "NVLABS_SOURCE_RAN").exists()
    cfg = yaml.safe_load((tmp_path / "G.yaml").read_text())
    assert cfg == {"family": "stylegan2", "generator": {
        "name": "stylegan2_generator", "z_dim": 8, "c_dim": c_dim, "w_dim": 8, "img_resolution": 16,
        "img_channels": 3, "mapping_layers": 2, "mapping_lr_multiplier": 0.01, "w_avg_beta": 0.995,
        "channel_base": 64, "channel_max": 8, "conv_clamp": 256, "architecture": "skip"}}
    params, meta = read_checkpoint(tmp_path / "G.ckpt", with_meta=True)
    assert meta["network"] == "G_ema" and summary["tensors"] == len(params)
    ema = {k: v for k, v in states["G_ema"].items() if not k.endswith("resample_filter")}
    assert set(params) == set(ema)
    assert all(np.array_equal(params[k].asnumpy(), ema[k]) for k in ema)  # G_ema's values, not G's
    assert not np.array_equal(params["mapping.fc0.weight"].asnumpy(), states["G"]["mapping.fc0.weight"])

    G = stylegan2_generator(**{k: v for k, v in cfg["generator"].items() if k != "name"})
    for name, p in G.parameters_and_names():
        p.set_data(Tensor(params[name].asnumpy()))
    ref = TorchStyleGAN2({k: torch.tensor(v) for k, v in states["G_ema"].items()}, 8, 8, 16, c_dim=c_dim,
                         mapping_layers=2, conv_clamp=256)
    z = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    c = np.eye(3, dtype=np.float32)[[0, 2, 1]] if c_dim else None
    for psi in (1.0, 0.7):
        args = [Tensor(z)] + ([Tensor(c)] if c_dim else []) + [Tensor(np.array(psi, np.float32))]
        got = G(*args).asnumpy()
        want = ref.G(torch.tensor(z), None if c is None else torch.tensor(c), psi).numpy()
        np.testing.assert_allclose(got, want, atol=1e-4)
        assert np.abs(want).max() > 0.5


def test_import_d_and_g_on_request(tmp_path, nvlabs_names):
    states = write_snapshot(nvlabs_names, tmp_path / "snap.pkl")
    import_weights(find_importer("stylegan2", "D"), tmp_path / "snap.pkl", tmp_path / "D.ckpt")
    cfg = yaml.safe_load((tmp_path / "D.yaml").read_text())["discriminator"]
    assert cfg["mbstd_group_size"] == 4 and cfg["architecture"] == "resnet" and cfg["mapping_layers"] == 8
    D = stylegan2_discriminator(**{k: v for k, v in cfg.items() if k != "name"})
    params = read_checkpoint(tmp_path / "D.ckpt")
    for name, p in D.parameters_and_names():
        p.set_data(Tensor(params[name].asnumpy()))
    img = np.random.default_rng(1).standard_normal((4, 3, 16, 16)).astype(np.float32)
    ref = TorchStyleGAN2({k: torch.tensor(v) for k, v in states["D"].items()}, 8, 8, 16, conv_clamp=256,
                         mbstd_group_size=4)
    np.testing.assert_allclose(D(Tensor(img)).asnumpy(), ref.D(torch.tensor(img)).numpy(), atol=1e-4)
    import_weights(find_importer("stylegan2", "G"), tmp_path / "snap.pkl", tmp_path / "G.ckpt")
    _, meta = read_checkpoint(tmp_path / "G.ckpt", with_meta=True)
    assert meta["network"] == "G"
    assert np.array_equal(read_checkpoint(tmp_path / "G.ckpt")["mapping.fc0.weight"].asnumpy(),
                          states["G"]["mapping.fc0.weight"])
    with pytest.raises(WeightImportError, match=r"no importer for network 'X' \(it imports: G_ema, D, G\)"):
        find_importer("stylegan2", "X")


def test_cli_writes_checkpoint_and_config(tmp_path, nvlabs_names):
    write_snapshot(nvlabs_names, tmp_path / "snap.pkl")
    out = subprocess.run([sys.executable, str(ROOT / "mindspore_impl/import_weights.py"), "--family", "stylegan2",
                          "--input", "snap.pkl", "--output", "G.ckpt"], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert "(G_ema)" in out.stdout and "--config G.yaml" in out.stdout
    assert (tmp_path / "G.ckpt").is_file() and (tmp_path / "G.yaml").is_file()


@pytest.mark.parametrize("change, message", [
    (lambda s: {**s, "G_ema": {k: v for k, v in s["G_ema"].items() if k != "synthesis.b8.conv1.weight"}},
     r"missing tensor 'synthesis.b8.conv1.weight'"),
    (lambda s: {**s, "G_ema": {**s["G_ema"], "synthesis.b8.conv2.weight": np.zeros(3, np.float32)}},
     r"unexpected tensor 'synthesis.b8.conv2.weight'"),
    (lambda s: {**s, "G_ema": {**s["G_ema"], "synthesis.b8.conv0.resample_filter": np.ones((4, 4), np.float32)}},
     r"synthesis.b8.conv0.resample_filter is not the \[1,3,3,1\] filter"),
    (lambda s: {**s, "G_ema": {**s["G_ema"], "mapping.fc1.weight": np.zeros((8, 7), np.float32)}},
     r"'mapping.fc1.weight' has shape \(8, 7\)"),
])
def test_strictness_names_the_tensor(tmp_path, nvlabs_names, change, message):
    write_snapshot(nvlabs_names, tmp_path / "snap.pkl", extra=change)
    with pytest.raises(WeightImportError, match=message):
        import_weights(find_importer("stylegan2"), tmp_path / "snap.pkl", tmp_path / "G.ckpt")
    assert not (tmp_path / "G.ckpt").exists() and not (tmp_path / "G.yaml").exists()


def test_unsupported_constructor_arguments_are_named(tmp_path, nvlabs_names):
    kwargs = nvlabs_names.EasyDict({**G_KW, "mapping_kwargs": nvlabs_names.EasyDict(MAPPING_KW),
                                    "synthesis_kwargs": nvlabs_names.EasyDict({**SYNTHESIS_KW,
                                                                               "architecture": "resnet"})})
    write_snapshot(nvlabs_names, tmp_path / "snap.pkl", g_kwargs=kwargs)
    with pytest.raises(WeightImportError, match=r"G.synthesis_kwargs.architecture = 'resnet' is not supported"):
        import_weights(find_importer("stylegan2"), tmp_path / "snap.pkl", tmp_path / "G.ckpt")


class RunsACommand:
    def __reduce__(self):
        return os.system, ("touch PWNED",)


def test_a_pickle_that_would_run_a_command_is_refused(tmp_path, nvlabs_names, monkeypatch):
    evil = tmp_path / "evil.pkl"
    with open(evil, "wb") as f:
        pickle.dump({"G_ema": RunsACommand(), "G": None}, f)
    with pytest.raises(WeightImportError, match=r"forbidden global (posix|nt)\.system"):
        import_weights(find_importer("stylegan2"), evil, tmp_path / "G.ckpt")
    assert not (tmp_path / "PWNED").exists()
    # the same file through plain pickle would have run it: shown in a subprocess
    subprocess.run([sys.executable, "-c", f"import pickle; pickle.load(open({str(evil)!r}, 'rb'))"], cwd=tmp_path)
    assert (tmp_path / "PWNED").exists()
    tf = tmp_path / "tf.pkl"
    _fake_module(monkeypatch, "dnnlib.tflib.network", Network=type("Network", (), {}))
    with open(tf, "wb") as f:
        pickle.dump(sys.modules["dnnlib.tflib.network"].Network, f)
    with pytest.raises(WeightImportError, match="TensorFlow-era pickle"):
        import_weights(find_importer("stylegan2"), tf, tmp_path / "G.ckpt")
