"""StyleGAN2 regularisers: R1 and path length on closed-form cases, and the family's Greg / Dreg losses with their
second-order parameter gradients against NVlabs' `StyleGAN2Loss` formulated in torch (tests/_stylegan2_torch.py:
style mixing, random noise maps, the ADA pipeline, `gen_img[:, 0, 0, 0] * 0` / `real_logits * 0`). The same run
checks the optimiser claim of families/stylegan2.py: with those `* 0` terms torch gives no parameter a None
gradient, only zeros (which torch's Adam applies like any gradient), and MindSpore's gradients are zero on the same
parameters. Tolerances: losses 1e-4 relative; gradients 1e-3 of each tensor's norm (float32 second-order sums)."""
import numpy as np
import pytest
import mindspore as ms
from mindspore import Tensor, ops

from mindspore_impl import augment as A
from mindspore_impl.losses import stylegan2 as L

torch = pytest.importorskip("torch")

from tests._stylegan2_torch import TorchStyleGAN2, nvlabs_augment  # noqa: E402
from tests.test_stylegan2_train import frames_zip, tiny_config  # noqa: E402


@pytest.fixture(autouse=True)
def pynative():
    ms.set_context(mode=ms.PYNATIVE_MODE)


def test_r1_of_a_linear_discriminator():
    a = np.random.default_rng(0).standard_normal((3, 4, 4)).astype(np.float32)

    def d_sum(x):
        return (x * Tensor(a)).sum()

    x = Tensor(np.random.default_rng(1).standard_normal((2, 3, 4, 4)).astype(np.float32))
    penalty = L.r1_penalty(ms.grad(d_sum)(x)).asnumpy()
    np.testing.assert_allclose(penalty, [np.square(a).sum()] * 2, rtol=1e-6)


def test_path_length_of_a_linear_synthesis():
    # img = Σ_l ws[:, l] @ M_l: ∂Σ(img·noise)/∂ws[:, l] = M_l @ noise, the same for every sample
    rng = np.random.default_rng(0)
    m = rng.standard_normal((3, 5, 2 * 4 * 4)).astype(np.float32)  # [num_ws, w_dim, C·H·W]
    noise = (rng.standard_normal((2, 2, 4, 4)) * L.pl_noise_scale(4, 4)).astype(np.float32)

    def dot(ws):
        img = ops.matmul(ws.transpose(1, 0, 2), Tensor(m)).sum(axis=0).reshape((2, 2, 4, 4))
        return (img * Tensor(noise)).sum()

    ws = Tensor(rng.standard_normal((2, 3, 5)).astype(np.float32))
    lengths = L.path_lengths(ms.grad(dot)(ws)).asnumpy()
    per_sample = [np.sqrt(np.mean([np.square(m[l] @ noise[n].ravel()).sum() for l in range(3)])) for n in range(2)]
    np.testing.assert_allclose(lengths, per_sample, rtol=1e-5)
    mean = L.path_length_mean(Tensor(np.float32(0.5)), Tensor(lengths), 0.01).asnumpy()
    assert mean == pytest.approx(0.5 + 0.01 * (lengths.mean() - 0.5), rel=1e-6)
    np.testing.assert_allclose(L.path_length_penalty(Tensor(lengths), Tensor(mean)).asnumpy(),
                               np.square(lengths - mean), rtol=1e-5)


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    from mindspore_impl.trainer import build_trainer

    root = tmp_path_factory.mktemp("sg2_losses")
    cfg = tiny_config(root / "run", frames_zip(root / "frames.zip", 16), max_steps=1)
    fam = build_trainer(cfg).family
    rng = np.random.default_rng(7)
    for net in (fam.generator, fam.discriminator):  # away from the init, so every term is exercised
        for name, p in net.parameters_and_names():
            if p.requires_grad and "noise_strength" in name:
                p.set_data(Tensor(rng.uniform(0.2, 0.5, p.shape).astype(np.float32)))
    return fam


def torch_params(net):
    return {name: torch.tensor(p.asnumpy(), requires_grad=p.requires_grad) for name, p in net.parameters_and_names()}


def compare_grads(names, ms_grads, params):
    zero_ms = set()
    for name, g in zip(names, ms_grads):
        g = g.asnumpy()
        want = params[name].grad
        assert want is not None, f"torch left {name} without a gradient"
        want = want.numpy()
        if not np.any(g):
            zero_ms.add(name)
        np.testing.assert_allclose(g, want, atol=1e-3 * max(np.linalg.norm(want), 1e-6), err_msg=name)
    zero_torch = {n for n in names if not params[n].grad.abs().max()}
    return zero_ms, zero_torch


def noises_by_layer(fam, packed):
    out, k = {}, 0
    for block in fam.generator.synthesis.blocks:
        for layer in (["conv1"] if block.in_channels == 0 else ["conv0", "conv1"]):
            offset, r = fam.generator.synthesis.noise_layout[k]
            out[f"synthesis.b{block.resolution}.{layer}"] = torch.tensor(packed[:, offset:offset + r * r]
                                                                         .reshape(-1, 1, r, r))
            k += 1
    return out


def test_path_length_update_matches_nvlabs_in_torch(family):
    fam = family
    info = type("Info", (), {"global_step": 0})()
    v = fam.prepare_greg({}, info)
    v["greg_pl_mean"] = np.array([0.3], np.float32)
    names = [n for n, p in fam.generator.parameters_and_names() if p.requires_grad]
    step = ms.jit(ms.value_and_grad(fam.g_pl_loss, None, fam.opt_g.parameters, has_aux=True))
    keys = ("z", "z2", "mix", "noise", "c", "pl_noise", "pl_mean")
    (loss, parts, _, new_mean), grads = step(*[Tensor(v[f"greg_{k}"]) for k in keys])

    lc, num_ws = fam.loss_cfg, fam.num_ws
    params = torch_params(fam.generator)
    ref = TorchStyleGAN2(params, fam.z_dim, fam.generator.w_dim, 16, mapping_layers=2, conv_clamp=256)
    z, z2 = torch.tensor(v["greg_z"]), torch.tensor(v["greg_z2"])
    cutoff = int(v["greg_mix"].sum())
    ws = ref.mapping(z).unsqueeze(1).repeat([1, num_ws, 1])
    ws[:, cutoff:] = ref.mapping(z2, num_ws=num_ws)[:, cutoff:]  # NVlabs run_G's style mixing
    img = ref.synthesis(ws, noises_by_layer(fam, v["greg_noise"]))
    pl_grads = torch.autograd.grad([(img * torch.tensor(v["greg_pl_noise"])).sum()], [ws], create_graph=True)[0]
    lengths = pl_grads.square().sum(2).mean(1).sqrt()
    pl_mean = torch.tensor(0.3).lerp(lengths.mean(), lc.pl_decay)
    penalty = (lengths - pl_mean).square()
    (img[:, 0, 0, 0] * 0 + penalty * lc.pl_weight).mean().mul(lc.pl_every).backward()

    assert float(loss.asnumpy()) == pytest.approx(float((penalty * lc.pl_weight).mean() * lc.pl_every), rel=1e-4)
    assert float(new_mean.asnumpy()[0]) == pytest.approx(float(pl_mean), rel=1e-5)
    zero_ms, zero_torch = compare_grads(names, grads, params)
    assert zero_ms == zero_torch == {n for n in names if n.endswith("torgb.bias")}
    # without NVlabs' `* 0` term those parameters would get None, and torch's Adam would skip them
    bare = {name: torch.tensor(p.asnumpy(), requires_grad=p.requires_grad)
            for name, p in fam.generator.parameters_and_names()}
    ref = TorchStyleGAN2(bare, fam.z_dim, fam.generator.w_dim, 16, mapping_layers=2, conv_clamp=256)
    ws = ref.mapping(z).unsqueeze(1).repeat([1, num_ws, 1])
    img = ref.synthesis(ws, noises_by_layer(fam, v["greg_noise"]))
    g = torch.autograd.grad([(img * torch.tensor(v["greg_pl_noise"])).sum()], [ws], create_graph=True)[0]
    g.square().sum().backward()
    assert {n for n in names if bare[n].grad is None} == zero_torch


def test_r1_update_through_the_augmentation_matches_nvlabs_in_torch(family):
    fam = family
    rng = np.random.default_rng(3)
    real = rng.uniform(-1, 1, (4, 3, 16, 16)).astype(np.float32)
    g_inv, c_mat = A.draw_matrices(fam.augment_spec, rng, 4, 0.8, 16, 16, 3)
    geom, masks, _ = A.geometry_inputs(g_inv, 16, 16)
    color = A.color_inputs(c_mat, 3)
    names = [n for n, p in fam.discriminator.parameters_and_names() if p.requires_grad]
    step = ms.jit(ms.value_and_grad(fam.d_r1_loss, None, fam.opt_d.parameters, has_aux=True))
    (loss, parts, signs), grads = step(Tensor(real), Tensor(np.zeros((4, 1), np.float32)), Tensor(geom),
                                       Tensor(masks), Tensor(color))

    lc = fam.loss_cfg
    params = torch_params(fam.discriminator)
    ref = TorchStyleGAN2(params, fam.z_dim, 16, 16, conv_clamp=256, mbstd_group_size=4)
    real_t = torch.tensor(real, requires_grad=True)
    logits = ref.D(nvlabs_augment(real_t, g_inv, c_mat))
    r1_grads = torch.autograd.grad([logits.sum()], [real_t], create_graph=True)[0]
    r1 = r1_grads.square().sum([1, 2, 3])
    (logits * 0 + r1 * (lc.r1_gamma / 2)).mean().mul(lc.r1_every).backward()

    assert float(loss.asnumpy()) == pytest.approx(float((r1 * lc.r1_gamma / 2).mean() * lc.r1_every), rel=1e-4)
    np.testing.assert_array_equal(signs.asnumpy(), np.sign(logits.detach().numpy()))
    zero_ms, zero_torch = compare_grads(names, grads, params)
    assert zero_ms == zero_torch == {"b4.conv.bias", "b4.fc.bias", "b4.out.bias"}
