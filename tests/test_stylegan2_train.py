"""The StyleGAN2-ADA family on the shared trainer: a tiny config trains TRAIN_STEPS steps with every regulariser,
the EMA ramp-up and ADA on, writing its loss curve and sample grids; the logged EMA betas and ADA p follow their
rules; a run resumed from a mid-run checkpoint ends bit-equal to the uninterrupted one (networks, optimiser moments,
w_avg, the path-length mean, p and its statistics); the trained G_ema exports with parity at batch 1 and 4, and
runtime/sample.py on the export writes the PNGs mindspore_impl/generate.py writes; bad configs are refused."""
import csv
from pathlib import Path

import mindspore as ms
import numpy as np
import pytest
from PIL import Image

from datasets.demo_frames import write_frames
from mindspore_impl import host_state
from mindspore_impl.config import ConfigError, load_config
from mindspore_impl.trainer import build_trainer

ROOT = Path(__file__).resolve().parents[1]
TRAIN_STEPS = 200
RESUME_FROM = 190  # a checkpoint step inside the run


def frames_zip(path: Path, size: int = 16, count: int = 32) -> Path:
    if not path.exists():
        write_frames(path, count=count, size=size)
    return path


def tiny_config(run_dir, frames, **train) -> dict:
    cfg = load_config(ROOT / "configs/stylegan2/tiny.yaml")
    cfg["data"]["source"] = str(frames)
    # checkpoints (each also re-plots losses.png) at 95, 190 and the end: RESUME_FROM is one of them
    cfg["train"].update({"run_dir": str(run_dir), "sample_every": 100, "ckpt_every": 95, "keep_checkpoints": 3,
                         **train})
    return cfg


def params_of(path):
    return {k: v.asnumpy() for k, v in ms.load_checkpoint(str(path)).items() if not isinstance(v, str)}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("sg2_train")
    frames = frames_zip(root / "frames.zip", count=400)  # x-flipped: one 200-step epoch of 4 (epoch ends checkpoint)
    cfg = tiny_config(root / "run", frames, max_steps=TRAIN_STEPS)
    cfg["metrics"] = {"fid_every_kimg": 0.4, "fid_samples": 16}  # every 100 steps of 4 images
    trainer = build_trainer(cfg)
    trainer.fit(progress=False)
    return root, cfg, trainer


def rows(run_dir):
    with open(run_dir / "losses.csv") as f:
        return list(csv.DictReader(f))


def test_tiny_run_writes_its_loss_curve_and_samples(run):
    root, cfg, trainer = run
    run_dir = root / "run"
    logged = rows(run_dir)
    assert [int(r["global_step"]) for r in logged] == list(range(1, TRAIN_STEPS + 1))
    assert (run_dir / "losses.png").stat().st_size > 1000
    grids = sorted((run_dir / "samples").glob("step_*.png"))
    assert [g.name for g in grids] == ["step_00000100.png", "step_00000200.png"]
    assert Image.open(grids[-1]).size == (4 * 18 + 2,) * 2  # 4×4 seeds of 16 px with 2 px gutters
    # every update ran on its steps: Greg every 4th (0-based 0, 4, ...), Dreg every 16th
    assert [int(r["global_step"]) for r in logged if r["Greg/total"]][:3] == [1, 5, 9]
    assert [int(r["global_step"]) for r in logged if r["Dreg/total"]][:3] == [1, 17, 33]
    for key in ("Gmain/loss", "Dmain/fake", "Dmain/real", "Greg/penalty", "Dreg/penalty"):
        values = [float(r[key]) for r in logged if r[key]]
        assert all(np.isfinite(values)) and len(set(values)) > 1, key
    # the generator learnt something: G_ema's samples are not the initial noise colours any more
    assert abs(float(logged[-1]["stats/pl_mean"])) > 0
    w_avg = trainer.family.generator.mapping.w_avg.asnumpy()
    assert np.abs(w_avg).max() > 0 and np.array_equal(w_avg, trainer.family.generator_ema.mapping.w_avg.asnumpy())


def test_fid_metric_is_logged_every_n_kimg(run):
    root, cfg, trainer = run
    fids = {int(r["global_step"]): float(r["fid/vgg19-random"]) for r in rows(root / "run")
            if r.get("fid/vgg19-random")}
    assert sorted(fids) == [1, 101] and all(np.isfinite(v) and v > 0 for v in fids.values())


def test_frechet_distance_of_known_gaussians():
    from mindspore_impl.fid import feature_stats, frechet_distance

    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 0.0])
    assert frechet_distance(mu1, np.eye(3), mu2, np.eye(3)) == pytest.approx(5.0)
    # tr(A + B - 2 (AB)^1/2) for A = I, B = 4 I: 3 + 12 - 2·2·3
    assert frechet_distance(mu1, np.eye(3), mu1, 4 * np.eye(3)) == pytest.approx(3.0)
    x = np.random.default_rng(0).standard_normal((4000, 2)) * [1.0, 3.0] + [5.0, -1.0]
    mu, sigma = feature_stats(x)
    np.testing.assert_allclose(mu, [5, -1], atol=0.15)
    np.testing.assert_allclose(np.diag(sigma), [1, 9], rtol=0.1)


def test_ema_ramp_and_ada_p_follow_their_rules(run):
    root, cfg, trainer = run
    logged = rows(root / "run")
    lc = trainer.family.loss_cfg
    batch = cfg["train"]["batch_size"]
    for r in logged:
        seen = (int(r["global_step"]) - 1) * batch
        want = 0.5 ** (batch / max(min(lc.ema_kimg * 1000, seen * lc.ema_rampup), 1e-8))
        assert float(r["ema/beta"]) == pytest.approx(want, rel=1e-6)
    assert float(logged[0]["ema/beta"]) == 0.0  # the first step copies G
    p = [float(r["stats/ada_p"]) for r in logged]
    step = batch * lc.ada_interval / (lc.ada_kimg * 1000)
    for i, (a, b) in enumerate(zip([lc.augment_p] + p, p)):
        if (i + 1) % lc.ada_interval:  # p only moves after every 4th step, by ±step (or to the 0 clamp)
            assert b == a
        else:
            assert b in (a, pytest.approx(max(a - step, 0)), pytest.approx(a + step))  # sign 0: no change
    assert max(p) > 0  # it moved


def test_resume_is_bit_exact(run):
    root, cfg, trainer = run
    resumed = build_trainer(cfg, resume=str(root / f"run/checkpoints/step_{RESUME_FROM:08d}.ckpt"))
    assert resumed.state["global_step"] == RESUME_FROM
    resumed.cfg.run_dir = str(root / "resumed")
    resumed.run_dir = root / "resumed"
    resumed.ckpt_dir = root / "resumed/checkpoints"
    resumed.fit(progress=False)
    a = params_of(root / f"run/checkpoints/step_{TRAIN_STEPS:08d}.ckpt")
    b = params_of(root / f"resumed/checkpoints/step_{TRAIN_STEPS:08d}.ckpt")
    assert set(a) == set(b) and any(k.startswith("opt_G/moment2") for k in a)
    assert [k for k in a if not np.array_equal(a[k], b[k])] == []
    sa = host_state.load(root / f"run/checkpoints/step_{TRAIN_STEPS:08d}.state.npz")
    sb = host_state.load(root / f"resumed/checkpoints/step_{TRAIN_STEPS:08d}.state.npz")
    assert sa == sb and sa["pl_mean"] > 0


def test_export_and_identical_sampling_in_onnx_and_mindspore(run, tmp_path, capsys):
    from export import to_onnx
    from mindspore_impl import generate
    from runtime import sample

    root, cfg, trainer = run
    run_dir = root / "run"
    config = run_dir / "config.yaml"

    to_onnx.main(["--config", str(config), "--ckpt", str(run_dir / "generator.ckpt"), "--output",
                  str(tmp_path / "sg2.onnx"), "--quiet"])
    out = capsys.readouterr().out
    assert "network G_ema (sample)" in out and "over 2 cases" in out  # batch 1 and 4, psi 1.0 and 0.7
    assert sample.main(["--model", str(tmp_path / "sg2.onnx"), "--seeds", "0-3", "--trunc", "0.7",
                        "--outdir", str(tmp_path / "onnx")]) == 0
    assert generate.main(["--network", str(run_dir / "generator.ckpt"), "--config", str(config), "--seeds", "0-3",
                          "--trunc", "0.7", "--outdir", str(tmp_path / "ms")]) == 0
    for seed in range(4):
        a = np.asarray(Image.open(tmp_path / f"onnx/seed{seed:04d}.png"), np.int16)
        b = np.asarray(Image.open(tmp_path / f"ms/seed{seed:04d}.png"), np.int16)
        assert a.shape == (16, 16, 3) and np.abs(a - b).max() <= 1  # within rounding
    assert not np.array_equal(np.asarray(Image.open(tmp_path / "onnx/seed0000.png")),
                              np.asarray(Image.open(tmp_path / "onnx/seed0001.png")))


@pytest.mark.parametrize("override, message", [
    ({"train": {"jit": False}}, "train.jit=false: R1 and path-length regularisation need graph mode"),
    ({"train": {"batch_size": 6}}, "must be a multiple of discriminator.mbstd_group_size 4"),
    ({"data": {"resolution": 32}}, "differ from data.resolution 32"),
    ({"loss": {"augment": "bgcfnc"}}, "needs NVlabs' imgfilter/noise/cutout ops"),
    ({"loss": {"r1_every": 1}}, "r1_every must be >= 2"),
])
def test_bad_configs_are_refused(tmp_path, override, message):
    cfg = tiny_config(tmp_path / "run", frames_zip(tmp_path / "frames.zip", count=12))
    for section, values in override.items():
        cfg[section].update(values)
    with pytest.raises(ConfigError, match=message):
        build_trainer(cfg)
