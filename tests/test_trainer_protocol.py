"""The trainer protocol the coming families need, on a toy GAN (tests/_toy_family.py): interval updates with lazy
scaling, values passed between the updates of a step, after-step hooks (EMA), host-side state in checkpoints and a
bit-exact resume, micro-batches refused where inexact, declared config sections, and exported networks by name."""
import csv

import mindspore as ms
import numpy as np
import pytest
from mindspore import nn

from mindspore_impl import host_state
from mindspore_impl.checkpoint_io import CheckpointError
from mindspore_impl.config import ConfigError
from mindspore_impl.ema import EMA
from mindspore_impl.families.base import load_exported
from mindspore_impl.history_pool import HistoryPool
from mindspore_impl.trainer import StepInfo, TrainingError, build_trainer, lazy_regularization
from tests._toy_family import toy_config


def params_of(path):
    return {k: v.asnumpy() for k, v in ms.load_checkpoint(str(path)).items() if not isinstance(v, str)}


def rows_of(run):
    with open(run / "losses.csv") as f:
        return list(csv.DictReader(f))


def test_lazy_regularization_scales_lr_and_betas():
    lr, betas = lazy_regularization(0.0025, (0.0, 0.99), 16)
    c = 16 / 17
    assert lr == pytest.approx(0.0025 * c) and betas == pytest.approx((0.0, 0.99 ** c))
    assert lazy_regularization(2e-4, (0.5, 0.999), 1) == (2e-4, (0.5, 0.999))


def test_interval_update_runs_exactly_on_its_steps(tmp_path):
    run = tmp_path / "run"
    build_trainer(toy_config(run, optim={"reg_every": 3}, train={"max_steps": 7})).fit(progress=False)
    rows = rows_of(run)
    assert [r["global_step"] for r in rows] == [str(i) for i in range(1, 8)]
    # 0-based steps 0, 3, 6 are logged as global steps 1, 4, 7
    assert [int(r["global_step"]) for r in rows if r["R/total"] != ""] == [1, 4, 7]
    assert all(r["D/total"] != "" and r["G/total"] != "" for r in rows)
    # D's optimiser served both D (7 steps) and R (3 steps); G's only G
    final = params_of(run / "checkpoints/step_00000007.ckpt")
    assert int(final["opt_D/global_step"]) == 10 and int(final["opt_G/global_step"]) == 7


def test_ema_matches_its_formula():
    source, target = nn.Dense(3, 2), nn.Dense(3, 2)
    target.bias.requires_grad = False  # a buffer: copied, not averaged
    rng = np.random.default_rng(0)
    for p in list(source.get_parameters()) + list(target.get_parameters()):
        p.set_data(ms.Tensor(rng.normal(size=p.shape).astype(np.float32)))
    source.bias.requires_grad = False
    ema = EMA(source, target, half_life_kimg=0.01, rampup=0.5)
    w, w_ema = source.weight.asnumpy().copy(), target.weight.asnumpy().copy()  # asnumpy() may be a view
    # images_seen 8, batch 2: ema_nimg = min(10, 8 * 0.5) = 4, beta = 0.5 ** (2 / 4)
    logged = ema(StepInfo(epoch=0, step=4, global_step=4, global_batch=2))
    beta = 0.5 ** 0.5
    assert logged["beta"] == pytest.approx(beta)
    np.testing.assert_allclose(target.weight.asnumpy(), w + beta * (w_ema - w), rtol=1e-6)
    np.testing.assert_array_equal(target.bias.asnumpy(), source.bias.asnumpy())
    # without ramp-up the half-life rules: beta = 0.5 ** (batch / 10 images)
    assert EMA(source, target, 0.01).beta(images_seen=0, global_batch=2) == pytest.approx(0.5 ** 0.2)
    # the first step with a ramp-up copies the weights (beta 0), as stylegan2-ada does
    ema(StepInfo(epoch=0, step=0, global_step=0, global_batch=2))
    np.testing.assert_array_equal(target.weight.asnumpy(), source.weight.asnumpy())
    with pytest.raises(ValueError, match="same architecture"):
        EMA(source, nn.Dense(3, 4))


def test_history_pool_follows_junyanz_and_round_trips(tmp_path):
    pool = HistoryPool(3, seed=0)
    batch = np.arange(2 * 2, dtype=np.float32).reshape(2, 2)
    np.testing.assert_array_equal(pool.query(batch), batch)  # filling: returned as given
    out = pool.query(batch + 10)  # one slot left: first stored+returned, second may be swapped
    np.testing.assert_array_equal(out[0], batch[0] + 10)
    assert len(pool.images) == 3
    twin = HistoryPool(3, seed=99)
    twin.load_state(host_state.load(host_state.save(tmp_path / "pool.npz", {"p": pool.state()}))["p"])
    for _ in range(5):
        x = np.random.default_rng(1).normal(size=(4, 2)).astype(np.float32)
        np.testing.assert_array_equal(pool.query(x), twin.query(x))
    swapped = np.mean([pool.query(np.full((1, 2), 100 + i, np.float32))[0, 0] != 100 + i for i in range(400)])
    assert 0.4 < swapped < 0.6  # once full, half of the queries return a stored image instead
    assert np.array_equal(HistoryPool(0).query(batch), batch)


def test_values_pass_from_one_update_to_the_next(tmp_path):
    trainer = build_trainer(toy_config(tmp_path / "run", train={"max_steps": 2}))
    seen = []
    draw = trainer.family.draw_pool

    def spy(values, info):
        seen.append((info.global_step, values["fake"].copy(), values["real"].copy()))
        return draw(values, info)

    trainer.family.draw_pool = spy
    trainer.phases = trainer.family.phases()  # rebuilt with the spy as D's prepare
    trainer.fit(progress=False)
    assert [s for s, _, _ in seen] == [0, 1]
    for _, fake, real in seen:
        assert fake.shape == real.shape == (2, 3, 8, 8) and np.all(np.abs(fake) <= 1.0)
        assert not np.allclose(fake, real)
    rows = rows_of(tmp_path / "run")
    assert [r["pool/size"] for r in rows] == ["2.0", "3.0"]  # pool_size 3: filled by the G update's fakes


def test_pool_family_resumes_bit_exact(tmp_path):
    """Steps 1-6 in one run vs 1-3, a new process state, then 4-6: every network, optimiser moment, the EMA, the
    history pool and its generator end equal; dropout masks replay because their seeds follow the step."""
    build_trainer(toy_config(tmp_path / "whole", train={"max_steps": 6})).fit(progress=False)
    build_trainer(toy_config(tmp_path / "split", train={"max_steps": 3})).fit(progress=False)
    resumed = build_trainer(toy_config(tmp_path / "split", train={"max_steps": 6}), resume_latest=True)
    assert resumed.state["global_step"] == 3 and len(resumed.family.pool.images) == 3
    resumed.fit(progress=False)
    a = params_of(tmp_path / "whole/checkpoints/step_00000006.ckpt")
    b = params_of(tmp_path / "split/checkpoints/step_00000006.ckpt")
    assert set(a) == set(b) and any(k.startswith("G_ema/") for k in a)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    sa = host_state.load(tmp_path / "whole/checkpoints/step_00000006.state.npz")
    sb = host_state.load(tmp_path / "split/checkpoints/step_00000006.state.npz")
    np.testing.assert_array_equal(sa["pool"]["images"], sb["pool"]["images"])
    assert sa["pool"]["rng"] == sb["pool"]["rng"]
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in rows_of(tmp_path / "whole")]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in rows_of(tmp_path / "split")]


def test_resume_without_the_host_state_file_is_refused(tmp_path):
    run = tmp_path / "run"
    build_trainer(toy_config(run, train={"max_steps": 3})).fit(progress=False)
    (run / "checkpoints/step_00000003.state.npz").unlink()
    with pytest.raises(TrainingError, match="host-side state"):
        build_trainer(toy_config(run, train={"max_steps": 6}), resume_latest=True)


def test_micro_batches_are_refused_for_sample_mixing_layers(tmp_path):
    with pytest.raises(ConfigError, match=r"micro_batches=2 is not exact for network D: its layer "
                                          r"'body\.0\.norm' \(BatchNorm2d\) mixes"):
        build_trainer(toy_config(tmp_path / "bn", discriminator={"batch_norm": True}, train={"micro_batches": 2}))
    trainer = build_trainer(toy_config(tmp_path / "ok", train={"micro_batches": 2}))  # no such layer: accepted
    assert trainer.cfg.micro_batches == 2


def test_micro_batches_with_outputs_concatenate_the_slices(tmp_path):
    trainer = build_trainer(toy_config(tmp_path / "mb", train={"micro_batches": 2, "max_steps": 1}))
    trainer.fit(progress=False)
    assert len(trainer.family.pool.images) == 2  # both slices' fakes reached the pool


def test_config_sections_are_the_familys(tmp_path):
    cfg = toy_config(tmp_path / "run")
    cfg["colour"] = {}
    with pytest.raises(ConfigError, match=r"unknown config key 'config\.colour'.*discriminator"):
        build_trainer(cfg)


def test_exported_networks_are_chosen_by_name(tmp_path):
    run = tmp_path / "run"
    trainer = build_trainer(toy_config(run, train={"max_steps": 3}))
    trainer.fit(progress=False)
    cfg = toy_config(run)
    ema = {k: p.asnumpy() for k, p in trainer.family.generator_ema.parameters_and_names()}
    raw = {k: p.asnumpy() for k, p in trainer.family.generator.parameters_and_names()}
    assert any(not np.array_equal(ema[k], raw[k]) for k in ema)  # G and G_ema differ, with the same shapes
    step = run / "checkpoints/step_00000003.ckpt"

    def weights(loaded):
        return {k: p.asnumpy() for k, p in loaded.net.parameters_and_names()}

    for ckpt, name, want in ((run / "generator.ckpt", None, ("G_ema", ema)), (run / "G.ckpt", None, ("G", raw)),
                             (step, None, ("G_ema", ema)), (step, "G", ("G", raw)), (step, "G_ema", ("G_ema", ema))):
        loaded = load_exported(cfg, ckpt, name)
        assert loaded.name == want[0]
        got = weights(loaded)
        assert all(np.array_equal(got[k], want[1][k]) for k in got), (ckpt.name, name)
    with pytest.raises(CheckpointError, match="generator.ckpt holds network 'G_ema', not 'G'"):
        load_exported(cfg, run / "generator.ckpt", "G")
    with pytest.raises(CheckpointError, match=r"network 'D' is not one this config exports \(choose from: G_ema, G\)"):
        load_exported(cfg, step, "D")
    only_g = tmp_path / "only_g.ckpt"
    ms.save_checkpoint([{"name": f"G/{k}", "data": ms.Tensor(v)} for k, v in raw.items()], str(only_g))
    with pytest.raises(CheckpointError, match=r"holds no network 'G_ema' \(it holds: G\)"):
        load_exported(cfg, only_g)


def test_to_onnx_exports_the_named_network_of_a_run(tmp_path):
    """`export/to_onnx.py --network` on a training checkpoint: the default is the family's first export (G_ema),
    G on request, each the network it names; a name the family does not export fails listing the names."""
    import onnx
    import yaml

    from export.to_onnx import main as to_onnx
    from runtime.session import make_session

    run = tmp_path / "run"
    trainer = build_trainer(toy_config(run, train={"max_steps": 3}))
    trainer.fit(progress=False)
    config = tmp_path / "toy.yaml"
    config.write_text(yaml.safe_dump(toy_config(run)))
    step = run / "checkpoints/step_00000003.ckpt"
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 8, 8)).astype(np.float32)
    outputs = {}
    for name in (None, "G"):
        out = tmp_path / f"{name or 'default'}.onnx"
        to_onnx(["--config", str(config), "--ckpt", str(step), "--output", str(out), "--quiet"]
                + (["--network", name] if name else []))
        meta = {p.key: p.value for p in onnx.load(out).metadata_props}
        outputs[meta["network"]] = make_session(str(out)).run(None, {"input": x})[0]
    trainer.family.set_train(False)
    for name, net in (("G_ema", trainer.family.generator_ema), ("G", trainer.family.generator)):
        np.testing.assert_allclose(outputs[name], net(ms.Tensor(x)).asnumpy(), atol=1e-5)
    assert not np.allclose(outputs["G"], outputs["G_ema"], atol=1e-4)
    with pytest.raises(CheckpointError, match=r"network 'D' is not one this config exports \(choose from: G_ema, G\)"):
        to_onnx(["--config", str(config), "--ckpt", str(step), "--output", str(tmp_path / "d.onnx"),
                 "--network", "D", "--quiet"])


def test_build_network_takes_overrides_and_export_networks_use_them():
    """CycleGAN's G_B is G_A's section with the channels swapped: overrides replace section values, and an
    ExportNetwork computes them from the section."""
    from mindspore_impl.families.base import ExportNetwork
    from mindspore_impl.registry import build_network

    cfg = {"generator": {"name": "toy_pool_g", "channels": 3, "width": 4}}
    assert build_network(cfg, "generator").channels == 3
    assert build_network(cfg, "generator", channels=1).channels == 1
    swap = ExportNetwork("generator", overrides=lambda v: {"channels": 4 - v["channels"]})
    assert swap.constructor_overrides(cfg["generator"]) == {"channels": 1}
    with pytest.raises(ConfigError, match="generator: dropout"):
        build_network(cfg, "generator", dropout=1.5)  # a value the constructor refuses names the section
