"""Reference weights → MindSpore → ONNX for the colorization families: PyTorch builds of the reference networks
(tests/_colorize_torch_refs.py) with random weights are imported through the checked rename tables, and the
imported network and its export match PyTorch; a missing or extra tensor is named; a crafted pickle is refused.

Tolerances: MindSpore vs PyTorch 1e-5 (measured ≤ 4e-6 on these tiny builds); onnxruntime vs PyTorch 5e-5."""
import os

import mindspore as ms
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from mindspore_impl.config import load_config
from mindspore_impl.families.base import load_exported
from mindspore_impl.import_weights import import_weights, main as import_main
from mindspore_impl.weights import WeightImportError, find_importer

torch = pytest.importorskip("torch")
from tests import _colorize_torch_refs as R  # noqa: E402  (needs torch)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (family, network, tiny config, reference build, input channels, side)
CASES = {
    "pix2pix-G": ("pix2pix", "G", "configs/pix2pix/tiny.yaml",
                  lambda: R.UnetGenerator(3, 3, 5, 4, R.junyanz_norm("batch"), True), 3, 64),
    "pix2pix-D": ("pix2pix", "D", "configs/pix2pix/tiny.yaml",
                  lambda: R.NLayerDiscriminator(6, 4, 2, R.junyanz_norm("batch")), 6, 32),
    "cyclegan-G_B": ("cyclegan", "G_B", "configs/cyclegan/tiny.yaml",
                     lambda: R.ResnetGenerator(3, 3, 4, R.junyanz_norm("instance"), False, 2), 3, 32),
    "cyclegan-D_A": ("cyclegan", "D_A", "configs/cyclegan/tiny.yaml",
                     lambda: R.NLayerDiscriminator(3, 4, 2, R.junyanz_norm("instance")), 3, 32),
    "cyclegan_seed-G_A": ("cyclegan_seed", None, "configs/cyclegan/seed_tiny.yaml",
                          lambda: R.SeedCycleGenerator(4, 2), 3, 32),
    "cyclegan_seed-D_B": ("cyclegan_seed", "D_B", "configs/cyclegan/seed_tiny.yaml",
                          lambda: R.SeedDiscriminator(4), 3, 64),
    "pix2pixhd-G": ("pix2pixhd", "G", "configs/pix2pixhd/tiny.yaml",
                    lambda: R.LocalEnhancer(3, 3, 2, 2, 1, 1, 1, R.junyanz_norm("instance")), 3, 32),
    "pix2pixhd_global-G": ("pix2pixhd", "G", "configs/pix2pixhd/tiny_global.yaml",
                           lambda: R.ResnetGenerator(3, 3, 4, R.junyanz_norm("instance"), False, 1, "reflect", 2,
                                                     always_bias=True), 3, 32),
    "pix2pixhd-D": ("pix2pixhd", "D", "configs/pix2pixhd/tiny.yaml",
                    lambda: R.MultiscaleDiscriminator(6, 4, 2, R.junyanz_norm("instance"), 2), 6, 32),
}


@pytest.fixture(autouse=True)
def pynative():
    ms.set_context(mode=ms.PYNATIVE_MODE)


def save_reference(module, path, seed=1):
    R.randomize(module, seed)
    torch.save(module.state_dict(), path)
    return module


def outputs(net, x):
    out = net(ms.Tensor(x))
    flat = []

    def walk(o):
        if isinstance(o, (tuple, list)):
            for item in o:
                walk(item)
        else:
            flat.append(o.asnumpy())

    walk(out)
    return flat[0] if len(flat) == 1 else flat


@pytest.mark.parametrize("case", list(CASES))
def test_imported_network_matches_pytorch(tmp_path, case):
    family, network, config, build, channels, side = CASES[case]
    ref = save_reference(build(), tmp_path / "ref.pth")
    cfg = load_config(os.path.join(ROOT, config))
    importer = find_importer(family, network)
    summary = import_weights(importer, tmp_path / "ref.pth", tmp_path / "net.ckpt", config=cfg)
    assert summary["tensors"] == sum(1 for k in ref.state_dict() if not k.endswith("num_batches_tracked"))
    net = importer.build_for_config(cfg)
    params = ms.load_checkpoint(str(tmp_path / "net.ckpt"))
    assert params["__network__"] == importer.network
    ms.load_param_into_net(net, {net.parameters_dict()[k].name: v for k, v in params.items()
                                 if not isinstance(v, str)}, strict_load=True)
    net.set_train(False)
    x = np.random.default_rng(2).uniform(-1, 1, (2, channels, side, side)).astype(np.float32)
    want, got = R.run(ref, x), outputs(net, x)
    for w, g in zip(want if isinstance(want, list) else [want], got if isinstance(got, list) else [got]):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-5 * max(1.0, np.abs(w).max()))


@pytest.mark.parametrize("case", ["pix2pix-G", "cyclegan-G_B", "cyclegan_seed-G_A", "pix2pixhd-G",
                                  "pix2pixhd_global-G"])
def test_exported_generator_matches_pytorch(tmp_path, case):
    """import_weights.py then export/to_onnx.py (default parity: two sizes × batch 1 and 4), then onnxruntime
    against the PyTorch reference at a third size."""
    from export.to_onnx import main as export_main

    family, network, config, build, channels, side = CASES[case]
    ref = save_reference(build(), tmp_path / "ref.pth")
    net_args = ["--network", network] if network else []
    import_main(["--family", family, *net_args, "--config", config, "--input", str(tmp_path / "ref.pth"),
                 "--output", str(tmp_path / "G.ckpt")])
    export_main(["--config", config, "--ckpt", str(tmp_path / "G.ckpt"), "--output", str(tmp_path / "G.onnx"),
                 "--quiet"])
    model = onnx.load(tmp_path / "G.onnx")
    meta = {p.key: p.value for p in model.metadata_props}
    name = network or "G_A"
    assert meta["network"] == name and meta["batch_norm_statistics"] == "moving"
    assert meta["task"] == ("stylize" if name == "G_B" else "colorize")
    assert float(meta["parity_max_abs_diff"]) <= 1e-4
    multiple = int(meta["size_multiple"])
    x = np.random.default_rng(3).uniform(-1, 1, (2, channels, 2 * multiple, 3 * multiple)).astype(np.float32)
    session = ort.InferenceSession(str(tmp_path / "G.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": x})[0], R.run(ref, x), atol=5e-5)


def test_per_image_batch_norm_export_matches_train_mode_pytorch(tmp_path):
    """--bn-stats per-image: as junyanz test.py without --eval (BatchNorm with each image's own statistics),
    dropout off: the PyTorch U-Net with its BatchNorms in train mode and its Dropouts in eval mode, image by image."""
    from export.to_onnx import main as export_main

    _, _, config, build, channels, _ = CASES["pix2pix-G"]
    ref = save_reference(build(), tmp_path / "ref.pth")
    import_main(["--family", "pix2pix", "--config", config, "--input", str(tmp_path / "ref.pth"),
                 "--output", str(tmp_path / "G.ckpt")])
    export_main(["--config", config, "--ckpt", str(tmp_path / "G.ckpt"), "--output", str(tmp_path / "G.onnx"),
                 "--bn-stats", "per-image", "--quiet"])
    x = np.random.default_rng(4).uniform(-1, 1, (3, channels, 64, 96)).astype(np.float32)
    ref.eval()
    for m in ref.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.train()
    with torch.no_grad():
        want = np.concatenate([ref(torch.from_numpy(x[i:i + 1])).numpy() for i in range(3)])
    session = ort.InferenceSession(str(tmp_path / "G.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x})[0]
    np.testing.assert_allclose(got, want, atol=5e-5)
    assert not np.allclose(got, R.run(ref, x), atol=1e-3)  # not what eval mode gives
    meta = {p.key: p.value for p in onnx.load(tmp_path / "G.onnx").metadata_props}
    assert meta["batch_norm_statistics"] == "per-image"


def test_missing_and_extra_tensors_are_named(tmp_path):
    cfg = load_config(os.path.join(ROOT, "configs/pix2pix/tiny.yaml"))
    ref = R.randomize(CASES["pix2pix-G"][3]())
    state = ref.state_dict()
    importer = find_importer("pix2pix")
    missing = {k: v for k, v in state.items() if k != "model.model.1.model.2.running_var"}
    torch.save(missing, tmp_path / "missing.pth")
    with pytest.raises(WeightImportError, match=r"missing tensor 'model\.model\.1\.model\.2\.running_var'"):
        import_weights(importer, tmp_path / "missing.pth", tmp_path / "out.ckpt", config=cfg)
    extra = dict(state, **{"model.model.9.weight": torch.zeros(1)})
    torch.save(extra, tmp_path / "extra.pth")
    with pytest.raises(WeightImportError, match=r"unexpected tensor 'model\.model\.9\.weight'"):
        import_weights(importer, tmp_path / "extra.pth", tmp_path / "out.ckpt", config=cfg)
    wrong = dict(state, **{"model.model.0.weight": torch.zeros(4, 3, 3, 3)})
    torch.save(wrong, tmp_path / "wrong.pth")
    with pytest.raises(WeightImportError, match=r"'model\.model\.0\.weight' has shape \(4, 3, 3, 3\)"):
        import_weights(importer, tmp_path / "wrong.pth", tmp_path / "out.ckpt", config=cfg)
    # a reference file of another size (a deeper U-Net) fails by name, too
    torch.save(R.UnetGenerator(3, 3, 6, 4, R.junyanz_norm("batch")).state_dict(), tmp_path / "deeper.pth")
    with pytest.raises(WeightImportError, match="unexpected tensor"):
        import_weights(importer, tmp_path / "deeper.pth", tmp_path / "out.ckpt", config=cfg)
    assert not (tmp_path / "out.ckpt").exists()
    with pytest.raises(WeightImportError, match="it imports: G_A, D_A, D_B, G_B"):
        find_importer("cyclegan", "E")


class _RunsShell:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_study_pickle_that_would_run_code_is_refused(tmp_path):
    """The study's G_XtoY.pkl is a torch pickle: read with weights_only=True, a crafted one runs nothing."""
    import pickle

    marker = tmp_path / "ran"
    bad = tmp_path / "G_XtoY.pkl"
    with open(bad, "wb") as f:
        pickle.dump({"cv1.0.weight": _RunsShell(f"touch {marker}")}, f)
    with pytest.raises(WeightImportError, match="not a readable PyTorch state dict"):
        import_weights(find_importer("cyclegan_seed"), bad, tmp_path / "G.ckpt")
    assert not marker.exists()
    good = tmp_path / "good.pkl"
    torch.save(R.randomize(R.SeedCycleGenerator(4, 2)).state_dict(), good)  # the study's own format loads
    cfg = load_config(os.path.join(ROOT, "configs/cyclegan/seed_tiny.yaml"))
    import_weights(find_importer("cyclegan_seed"), good, tmp_path / "G.ckpt", config=cfg)
    assert load_exported(cfg, tmp_path / "G.ckpt").name == "G_A"
