"""Colorization networks: full-size parameter counts pinned to the reference modules', the layers they rely on
(the transposed conv's gradient, the detached skip, per-image BatchNorm), the study's shared-weight residual block,
and the reference lr schedules."""
from pathlib import Path

import mindspore as ms
import numpy as np
import pytest
from mindspore import nn
from mindspore.common.initializer import Zero, initializer

import mindspore_impl.models  # noqa: F401
from mindspore_impl import layers
from mindspore_impl.layers import count_params
from mindspore_impl.models import translation_blocks
from mindspore_impl.models.cyclegan import SeedCycleGenerator, SharedResidualBlock
from mindspore_impl.registry import create_model
from mindspore_impl.schedules import EpochLinearDecay, LinearDecay, epoch_lrs

ROOT = Path(__file__).resolve().parents[1]

# (factory, arguments, parameters of the reference module built with the same arguments)
FULL_SIZE = [
    ("pix2pix_unet", {}, 54_413_955),  # UnetGenerator(3, 3, 8, 64, BatchNorm, use_dropout=True)
    ("patchgan_discriminator", {"in_channels": 6}, 2_768_705),  # NLayerDiscriminator(6, 64, 3, BatchNorm)
    ("cyclegan_resnet", {}, 11_378_179),  # ResnetGenerator(3, 3, 64, instance, n_blocks=9)
    ("patchgan_discriminator", {"in_channels": 3, "norm": "instance"}, 2_764_737),
    ("cyclegan_seed", {}, 1_523_776),  # CycleGenerator(conv_dim=32, n_res_blocks=9)
    ("cyclegan_seed_discriminator", {}, 1_743_072),  # Discriminator(conv_dim=32)
    ("pix2pixhd_local", {}, 182_701_827),  # LocalEnhancer(3, 3, 32, 4, 9, 1, 3, instance)
    ("pix2pixhd_global", {}, 182_443_267),  # GlobalGenerator(3, 3, 64, 4, 9, instance)
    ("pix2pixhd_discriminator", {}, 5_535_618),  # MultiscaleDiscriminator(6, 64, 3, instance, 2, getIntermFeat)
]


@pytest.fixture(autouse=True)
def pynative():
    ms.set_context(mode=ms.PYNATIVE_MODE)


@pytest.fixture
def lazy_zero_weights(monkeypatch):
    """Construct at full size without drawing 180 M random numbers: every initialiser yields lazy zeros (the
    parameters and their shapes are real; only their values are not drawn)."""
    def zeros(_init, shape, dtype=ms.float32):
        return initializer(Zero(), shape, dtype)

    monkeypatch.setattr(layers, "initializer", zeros)
    monkeypatch.setattr(translation_blocks, "initializer", zeros)


@pytest.mark.parametrize("name, kwargs, expected", FULL_SIZE, ids=[f"{n}-{e}" for n, _, e in FULL_SIZE])
def test_full_size_parameter_counts(lazy_zero_weights, name, kwargs, expected):
    assert count_params(create_model(name, **kwargs)) == expected


def test_seed_residual_block_applies_one_conv_twice():
    """One conv+BN per block (shared weights), used twice: not two independent copies, and not one block object
    repeated nine times (MindSpore's CycleGAN port's `[ResidualBlock()] * n`)."""
    block = SharedResidualBlock(8)
    assert count_params(block) == 8 * 8 * 9 + 2 * 8
    net = SeedCycleGenerator(conv_dim=2, n_res_blocks=3)
    assert len({id(b) for b in net.res}) == 3 and len({id(b.cv.conv.weight) for b in net.res}) == 3
    x = ms.Tensor(np.random.default_rng(0).normal(size=(2, 8, 6, 6)).astype(np.float32))
    block.set_train(False)
    cv = block.cv(x)
    np.testing.assert_allclose(block(x).asnumpy(), (x + block.cv(block.act(cv))).asnumpy(), rtol=1e-6, atol=1e-6)


def test_seed_generator_keeps_sizes_that_are_multiples_of_four():
    net = SeedCycleGenerator(conv_dim=2, n_res_blocks=1)
    net.set_train(False)
    for side in (8, 32, 44):
        assert net(ms.Tensor(np.zeros((1, 3, side, side), np.float32))).shape == (1, 3, side, side)


def test_seed_long_skip_carries_no_gradient():
    skip = layers.StopGradient()
    x = ms.Tensor(np.ones((1, 2, 3, 3), np.float32))
    grad = ms.grad(lambda v: (skip(v) * 3.0 + v).sum())(x)
    np.testing.assert_array_equal(grad.asnumpy(), np.ones((1, 2, 3, 3)))  # only the undetached path


def test_conv_transpose_gradient_matches_torch():
    """layers.ConvTranspose2d trains (its gradient was wrong whenever in != out channels) and matches torch."""
    torch = pytest.importorskip("torch")
    ct = layers.ConvTranspose2d(6, 3, 4, stride=2, padding=1, bias=True)
    ref = torch.nn.ConvTranspose2d(6, 3, 4, 2, 1)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(ct.weight.asnumpy()))
        ref.bias.copy_(torch.randn(3))
    ct.bias.set_data(ms.Tensor(ref.bias.detach().numpy()))
    x = np.random.default_rng(1).normal(size=(2, 6, 5, 7)).astype(np.float32)
    _, (gx, (gw, gb)) = ms.value_and_grad(lambda v: (ct(v) ** 2).mean(), 0, ct.trainable_params())(ms.Tensor(x))
    xt = torch.from_numpy(x).requires_grad_(True)
    (ref(xt) ** 2).mean().backward()
    np.testing.assert_allclose(gx.asnumpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(gw.asnumpy(), ref.weight.grad.numpy(), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(gb.asnumpy(), ref.bias.grad.numpy(), rtol=1e-4, atol=1e-7)


def test_per_image_batch_norm_is_each_images_own_statistics():
    net = create_model("pix2pix_unet", num_downs=5, ngf=2)
    bn = [c for _, c in net.cells_and_names() if isinstance(c, nn.BatchNorm2d)]
    bn[0].gamma.set_data(ms.Tensor(np.linspace(0.5, 1.5, bn[0].gamma.shape[0]).astype(np.float32)))
    assert layers.per_image_batch_norm(net) == len(bn) > 0
    assert not layers.sample_mixing_layers(net)
    norm = net.model.submodule.down_conv.norm
    assert isinstance(norm, layers.InstanceNorm2d) and norm.affine
    x = np.random.default_rng(0).normal(size=(2, 4, 5, 5)).astype(np.float32) * 3 + 1
    ref = nn.BatchNorm2d(4)  # training mode, batch of one image: that image's statistics
    ref.gamma.set_data(ms.Tensor(np.array([1.0, 2.0, 0.5, 1.5], np.float32)))
    ref.set_train(True)
    inorm = layers.InstanceNorm2d(4, affine=True)
    inorm.gamma.set_data(ref.gamma.data.copy())
    want = np.concatenate([ref(ms.Tensor(x[i:i + 1])).asnumpy() for i in range(2)])
    np.testing.assert_allclose(inorm(ms.Tensor(x)).asnumpy(), want, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------------------- lr schedules

def junyanz_lambda(epoch, n_epochs, n_epochs_decay, epoch_count=1):
    """networks.get_scheduler('linear') lambda_rule, verbatim."""
    return 1.0 - max(0, epoch + epoch_count - n_epochs) / float(n_epochs_decay + 1)


def test_junyanz_linear_rule():
    rule = LinearDecay.junyanz(100, 100)
    assert [rule.factor(e) for e in range(200)] == [junyanz_lambda(e, 100, 100) for e in range(200)]
    assert rule.factor(99) == 1.0 and rule.factor(100) == pytest.approx(1 - 1 / 101)
    assert rule.factor(199) == pytest.approx(1 / 101)
    resumed = LinearDecay.junyanz(100, 100, epoch_count=51)  # --continue_train --epoch_count 51
    assert [resumed.factor(e) for e in range(150)] == [junyanz_lambda(e, 100, 100, 51) for e in range(150)]
    # upstream train.py steps the scheduler at the start of each epoch: its epoch e trains with lambda(e + 1)
    upstream = LinearDecay.junyanz(100, 100, step_at_epoch_start=True)
    assert [upstream.factor(e) for e in range(200)] == [junyanz_lambda(e + 1, 100, 100) for e in range(200)]
    assert upstream.factor(98) == 1.0 and upstream.factor(199) == 0.0


def test_junyanz_rule_against_torch_lambda_lr():
    torch = pytest.importorskip("torch")
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=2e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: junyanz_lambda(e, 3, 4))
    seen = []
    for _ in range(7):  # the lr of each epoch when stepped after the epoch (the rule's intent)
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert epoch_lrs(2e-4, LinearDecay.junyanz(3, 4), 7) == pytest.approx(seen, rel=1e-12)


def test_pix2pixhd_rule_matches_its_update_learning_rate():
    lr0, niter, niter_decay = 2e-4, 3, 4
    lr, seen = lr0, []
    for epoch in range(1, niter + niter_decay + 1):  # train.py: train the epoch, then maybe decay
        seen.append(lr)
        if epoch > niter:
            lr -= lr0 / niter_decay
    assert epoch_lrs(lr0, LinearDecay.pix2pixhd(niter, niter_decay), niter + niter_decay) == pytest.approx(seen)


def test_schedule_lives_in_the_optimiser_step_count():
    """nn.Adam evaluates the schedule at its own global_step (saved in checkpoints, so resume is exact); an
    optimiser created for a later phase starts at its `start_step`."""
    schedule = LinearDecay.junyanz(2, 3)
    lr = EpochLinearDecay(1e-3, schedule, steps_per_epoch=4)
    later = EpochLinearDecay(1e-3, schedule, steps_per_epoch=4, start_step=8)
    for step in range(24):
        want = 1e-3 * schedule.factor(step // 4)
        assert float(lr(ms.Tensor(step, ms.int32)).asnumpy()) == pytest.approx(want, rel=1e-6, abs=1e-12)
        assert float(later(ms.Tensor(step, ms.int32)).asnumpy()) == pytest.approx(
            1e-3 * schedule.factor((step + 8) // 4), rel=1e-6, abs=1e-12)
    net = nn.Dense(2, 1)
    opt = nn.Adam(net.trainable_params(), learning_rate=lr)
    grads = tuple(ms.Tensor(np.ones(p.shape, np.float32)) for p in opt.parameters)
    for _ in range(13):
        opt(grads)
    assert int(opt.global_step.asnumpy()[0]) == 13
    assert float(opt.get_lr().asnumpy()) == pytest.approx(1e-3 * schedule.factor(13 // 4), rel=1e-6)


CONFIGS = sorted(str(p.relative_to(ROOT)) for family in ("pix2pix", "cyclegan", "pix2pixhd")
                 for p in (ROOT / "configs" / family).glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS)
def test_every_colorization_config_builds_its_networks(lazy_zero_weights, path):
    """Each config's sections are accepted and every network it trains or exports builds (lazily, at full size)."""
    from mindspore_impl.config import build_dataclass, load_config, section
    from mindspore_impl.families.base import build_exported, export_networks, family_class
    from mindspore_impl.registry import build_network

    cfg = load_config(ROOT / path)
    family = family_class(cfg)
    family.check_config(cfg)
    for name, dataclass in family.sections.items():
        if dataclass != "network":
            build_dataclass(dataclass, section(cfg, name), name)
    nets = {name: build_exported(cfg, name) for name in export_networks(cfg)}
    spec = next(iter(nets.values())).interface()
    judged = spec.inputs[0].channels + spec.outputs[0].channels if cfg["family"] != "cyclegan" \
        else spec.outputs[0].channels
    assert count_params(build_network(cfg, "discriminator", in_channels=judged)) > 0
    assert all(count_params(n) > 0 for n in nets.values())
