"""The colorization families on the shared trainer: tiny configs train, resume bit-exact (optimiser state with the lr
schedule, history pools, phase changes), pix2pix's BatchNorm statistics move once per step (its G update recomputes
the G(A) of its D update with the same dropout masks), pix2pixHD's niter_fix_global phase trains only the local
enhancer, and train.init_weights starts a run from imported weights."""
import mindspore as ms
import numpy as np
import pytest

from mindspore_impl import layers
from mindspore_impl.config import ConfigError, load_config
from mindspore_impl.models.vgg19 import random_vgg19_checkpoint
from mindspore_impl.trainer import TrainingError, _step_seed, build_trainer
from tests._colorize_helpers import write_pairs

CONFIGS = {"pix2pix": "configs/pix2pix/tiny.yaml", "cyclegan": "configs/cyclegan/tiny.yaml",
           "seed": "configs/cyclegan/seed_tiny.yaml", "pix2pixhd": "configs/pix2pixhd/tiny.yaml"}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("colorize_train")
    write_pairs(root / "small", 2, size=40)
    write_pairs(root / "large", 2, size=72)
    random_vgg19_checkpoint(root / "vgg.ckpt", conv5_1=True)
    return root


def config(family, data, run_dir, *overrides):
    size = "large" if family == "seed" else "small"
    base = [f"data.root={data / size}", f"train.run_dir={run_dir}", "train.ckpt_every=1", "train.keep_checkpoints=9"]
    if family == "pix2pixhd":
        base.append(f"loss.vgg_ckpt={data / 'vgg.ckpt'}")
    return load_config(CONFIGS[family], base + list(overrides))


def weights(path):
    return {k: v.asnumpy() for k, v in ms.load_checkpoint(str(path)).items() if not isinstance(v, str)}


def assert_resume_is_exact(family, data, tmp_path, steps, resume_at, *overrides, before_fit=None):
    """`steps` steps straight vs the same run resumed from its own step-`resume_at` checkpoint in another
    directory: every network and optimiser tensor must be bit-identical."""
    straight = build_trainer(config(family, data, tmp_path / "straight", *overrides))
    if before_fit is not None:
        before_fit(straight)
    straight.fit(progress=False)
    assert straight.state["global_step"] == steps
    resumed = build_trainer(config(family, data, tmp_path / "resumed", *overrides),
                            resume=str(tmp_path / f"straight/checkpoints/step_{resume_at:08d}.ckpt"))
    assert resumed.state["global_step"] == resume_at
    resumed.fit(progress=False)
    name = f"step_{steps:08d}.ckpt"
    want, got = weights(tmp_path / "straight/checkpoints" / name), weights(tmp_path / "resumed/checkpoints" / name)
    assert set(want) == set(got)
    for key, value in want.items():
        np.testing.assert_array_equal(got[key], value, err_msg=f"{family}: {key} differs after resume")
    return straight


def test_pix2pix_resumes_exactly_and_moves_batch_norm_statistics_once_per_step(data, tmp_path):
    start = {}

    def remember(trainer):
        start["G"] = {k: v.asnumpy().copy() for k, v in trainer.family.generator.parameters_and_names()}
        start["A"] = trainer.family.data.batch(0, 0, 2)["A"]

    trainer = assert_resume_is_exact("pix2pix", data, tmp_path, 2, 1, before_fit=remember)
    rows = (tmp_path / "straight/losses.csv").read_text().splitlines()
    assert rows[0].startswith("global_step,") and "D/real" in rows[0] and "G/l1" in rows[0] and len(rows) == 3
    assert (tmp_path / "straight/generator.ckpt").is_file()
    # the lr schedule runs in the optimiser: epoch 1 of n_epochs 1 + n_epochs_decay 1 trains at half the lr
    opt = trainer.family.opt_g
    assert int(opt.global_step.asnumpy()[0]) == 2
    assert float(opt.learning_rate(ms.Tensor(1, ms.int32)).asnumpy()) == pytest.approx(2e-4 * 0.5, rel=1e-6)

    # After step 1, G's running statistics are exactly one training-mode forward of the initial G on the batch
    # with the D update's dropout masks: the G update's second forward is not counted.
    after = {k[2:]: v for k, v in weights(tmp_path / "straight/checkpoints/step_00000001.ckpt").items()
             if k.startswith("G/") and "moving_" in k}
    probe = build_trainer(config("pix2pix", data, tmp_path / "probe")).family.generator
    for k, p in probe.parameters_and_names():
        p.set_data(ms.Tensor(start["G"][k]))
    probe.set_train(True)
    layers.set_dropout_seed(_step_seed(0, 0, 0, 0, 0))  # step 0, update 0 (D), slice 0, rank 0
    probe(ms.Tensor(start["A"]))
    for k, p in probe.parameters_and_names():
        if "moving_" in k:
            np.testing.assert_allclose(after[k], p.asnumpy(), rtol=1e-5, atol=1e-6, err_msg=k)
    assert any(not np.allclose(after[k], start["G"][k]) for k in after), "the running statistics did not move"


def test_init_weights_start_a_run_from_imported_checkpoints(data, tmp_path):
    source = build_trainer(config("pix2pix", data, tmp_path / "a", "train.max_steps=1"))
    source.fit(progress=False)
    d_ckpt = tmp_path / "D.ckpt"
    from mindspore_impl.checkpoint_io import save_checkpoint_atomic, state_of

    entries = [{"name": k, "data": p} for k, p in state_of(source.family.discriminator).items()]
    save_checkpoint_atomic(entries, d_ckpt, meta={"network": "D"})  # as import_weights.py writes D
    fresh = build_trainer(config("pix2pix", data, tmp_path / "b", "train.init_weights={G: %s, D: %s}"
                                 % (tmp_path / "a/generator.ckpt", d_ckpt)))
    for name in ("G", "D"):
        want = dict(source.family.networks()[name].parameters_and_names())
        for k, p in fresh.family.networks()[name].parameters_and_names():
            np.testing.assert_array_equal(p.asnumpy(), want[k].asnumpy())
    with pytest.raises(TrainingError, match="holds network 'D', not 'G'"):
        build_trainer(config("pix2pix", data, tmp_path / "c", f"train.init_weights={{G: {d_ckpt}}}"))
    with pytest.raises(ConfigError, match="no network 'E'"):
        build_trainer(config("pix2pix", data, tmp_path / "c", f"train.init_weights={{E: {d_ckpt}}}"))


def test_cyclegan_resumes_exactly_with_its_history_pools(data, tmp_path):
    trainer = assert_resume_is_exact("cyclegan", data, tmp_path, 2, 1)
    pools = trainer.family.pools
    assert {len(p.images) for p in pools.values()} == {3}  # pool_size 3: filled (and drawn from) in step 2
    assert (tmp_path / "straight/G_B.ckpt").is_file()
    state = trainer.family.host_state()
    assert set(state) == {"pool_A", "pool_B"} and state["pool_A"]["images"].shape == (3, 3, 32, 32)


def test_study_cyclegan_trains_with_its_own_losses(data, tmp_path):
    trainer = build_trainer(config("seed", data, tmp_path / "run", "train.max_steps=1"))
    logs = trainer.fit(progress=False)
    assert all(np.isfinite(v) for v in logs.values())
    assert logs["D/g_adv"] > 0  # the notebook's leaked adversarial term is part of D's loss
    assert logs["D/total"] == pytest.approx(logs["D/A_real"] + logs["D/A_fake"] + logs["D/B_real"]
                                            + logs["D/B_fake"] + logs["D/g_adv"], rel=1e-5)  # no 0.5 scale
    assert all(len(pool.images) == 0 for pool in trainer.family.pools.values())  # the study keeps no pool


def test_pix2pixhd_fixes_the_global_network_first_then_trains_jointly_and_resumes(data, tmp_path):
    """Epoch 0 (niter_fix_global 1): only the local enhancer changes; epoch 1 on: all of G, with a fresh Adam."""
    initial = {}

    def remember(trainer):
        initial.update({k: p.asnumpy().copy() for k, p in trainer.family.generator.parameters_and_names()})
        assert [p.name for p in trainer.phases] == ["local", "joint"]

    trainer = assert_resume_is_exact("pix2pixhd", data, tmp_path, 2, 1, before_fit=remember)
    after_local = weights(tmp_path / "straight/checkpoints/step_00000001.ckpt")
    after_joint = weights(tmp_path / "straight/checkpoints/step_00000002.ckpt")
    for k, v in initial.items():
        changed_local = not np.array_equal(after_local[f"G/{k}"], v)
        assert changed_local == k.startswith("enhancers."), f"{k}: changed in the local phase: {changed_local}"
    assert not np.array_equal(after_joint["G/global_net.head.conv.weight"], initial["global_net.head.conv.weight"])
    assert int(after_joint["opt_G/global_step"]) == 1 and int(after_joint["opt_G_local/global_step"]) == 1
    rows = (tmp_path / "straight/losses.csv").read_text().splitlines()
    assert "G_local/vgg" in rows[0] and "G/vgg" in rows[0]
    assert trainer.family.vgg is not None


def test_history_pool_follows_junyanz_image_pool():
    """util/image_pool.py: pool_size 0 passes through; while filling, every fake is stored and returned; once full,
    each fake is returned as is with probability 0.5, else a stored one (which the fake replaces)."""
    from mindspore_impl.history_pool import HistoryPool

    fakes = np.arange(6, dtype=np.float32)[:, None] * np.ones((6, 2), np.float32)
    passthrough = HistoryPool(0, seed=0)
    np.testing.assert_array_equal(passthrough.query(fakes), fakes)
    assert passthrough.images == []
    pool = HistoryPool(4, seed=1)
    np.testing.assert_array_equal(pool.query(fakes[:4]), fakes[:4])
    kept_new = swapped = 0
    for step in range(400):
        before = [im.copy() for im in pool.images]
        new = np.full((1, 2), 100.0 + step, np.float32)
        out = pool.query(new)[0]
        if np.array_equal(out, new[0]):
            kept_new += 1
            assert all(np.array_equal(a, b) for a, b in zip(before, pool.images))  # the pool is unchanged
        else:
            swapped += 1
            assert any(np.array_equal(out, b) for b in before)  # an earlier fake comes back ...
            assert any(np.array_equal(new[0], im) for im in pool.images)  # ... and the new one takes its slot
        assert len(pool.images) == 4
    assert 160 < kept_new < 240 and kept_new + swapped == 400
    restored = HistoryPool(4, seed=9)
    restored.load_state(pool.state())
    probe = np.full((3, 2), -1.0, np.float32)
    np.testing.assert_array_equal(restored.query(probe), pool.query(probe))  # same draws after a restore
