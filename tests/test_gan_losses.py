"""losses/gan.py, the generic GAN losses, against NumPy formulas in float64 on random inputs (and torch's own
losses where torch is installed). Tolerance: rtol 1e-5, atol 1e-6 (float32 MindSpore vs float64 NumPy)."""
import mindspore as ms
import numpy as np
import pytest
from mindspore import ops

from mindspore_impl.losses import gan

RTOL, ATOL = 1e-5, 1e-6


@pytest.fixture(autouse=True)
def pynative():
    ms.set_context(mode=ms.PYNATIVE_MODE)


def rand(rng, *shape, scale=3.0):
    return (rng.uniform(-1, 1, shape) * scale).astype(np.float32)


def t(x):
    return ms.Tensor(x)


def close(actual, expected):
    np.testing.assert_allclose(np.float64(actual.asnumpy()), expected, rtol=RTOL, atol=ATOL)


def f64(x):
    return np.asarray(x, np.float64)


def np_softplus(x):
    return np.logaddexp(0.0, f64(x))


def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-f64(x)))


@pytest.fixture
def logits():
    rng = np.random.default_rng(0)
    return rand(rng, 4, 1, 6, 6), rand(rng, 4, 1, 6, 6)  # PatchGAN-shaped D outputs for real and fake


def test_softplus_and_l1():
    rng = np.random.default_rng(1)
    x = np.concatenate([rand(rng, 50), np.array([-100.0, -30.0, 30.0, 100.0], np.float32)])
    close(gan.softplus(t(x)), np_softplus(x))  # incl. logits where log(1 + e^x) would overflow float32
    a, b = rand(rng, 2, 3, 5, 5), rand(rng, 2, 3, 5, 5)
    close(gan.l1_loss(t(a), t(b)), np.mean(np.abs(f64(a) - b)))
    close(gan.mse_loss(t(a), t(b)), np.mean((f64(a) - b) ** 2))


def test_lsgan(logits):
    real, fake = logits
    d = np.mean((f64(real) - 1) ** 2) + np.mean(f64(fake) ** 2)
    close(gan.lsgan_d_loss(t(real), t(fake)), d)
    close(gan.lsgan_d_loss(t(real), t(fake), scale=0.5), 0.5 * d)  # junyanz pix2pix / CycleGAN
    close(gan.lsgan_g_loss(t(fake)), np.mean((f64(fake) - 1) ** 2))
    close(gan.lsgan_loss(t(fake), 0.25), np.mean((f64(fake) - 0.25) ** 2))


def test_bce_on_logits(logits):
    real, fake = logits
    for target in (0.0, 0.3, 1.0):  # hard and soft labels
        p = np_sigmoid(fake)
        expected = np.mean(-target * np.log(p) - (1 - target) * np.log(1 - p))
        close(gan.bce_logits_loss(t(fake), target), expected)
    d = np.mean(-np.log(np_sigmoid(real))) + np.mean(-np.log(1 - np_sigmoid(fake)))
    close(gan.vanilla_d_loss(t(real), t(fake)), d)
    close(gan.vanilla_d_loss(t(real), t(fake), scale=0.5), 0.5 * d)
    close(gan.vanilla_g_loss(t(fake)), np.mean(-np.log(np_sigmoid(fake))))


def test_bce_on_logits_is_finite_and_exact_for_saturated_logits():
    x = np.array([-200.0, -90.0, 90.0, 200.0], np.float32)
    close(gan.vanilla_g_loss(t(x)), np.mean(np_softplus(-x)))  # = mean(200, 90, ~0, ~0) = 72.5
    close(gan.vanilla_d_loss(t(x), t(x)), np.mean(np_softplus(-x)) + np.mean(np_softplus(x)))
    grad = ms.grad(gan.vanilla_g_loss)(t(x)).asnumpy()
    np.testing.assert_allclose(grad, -(1 - np_sigmoid(x)) / x.size, rtol=RTOL, atol=ATOL)


def test_bce_on_probabilities():
    rng = np.random.default_rng(2)
    real_p = rng.uniform(0.01, 0.99, (3, 1, 4, 4)).astype(np.float32)
    fake_p = rng.uniform(0.01, 0.99, (3, 1, 4, 4)).astype(np.float32)
    close(gan.bce_probs_loss(t(fake_p), 0.3), np.mean(-0.3 * np.log(f64(fake_p)) - 0.7 * np.log(1 - f64(fake_p))))
    d = np.mean(-np.log(f64(real_p))) + np.mean(-np.log(1 - f64(fake_p)))
    close(gan.vanilla_probs_d_loss(t(real_p), t(fake_p)), d)
    close(gan.vanilla_probs_d_loss(t(real_p), t(fake_p), scale=0.5), 0.5 * d)
    close(gan.vanilla_probs_g_loss(t(fake_p)), np.mean(-np.log(f64(fake_p))))


def test_bce_on_probabilities_clamps_saturated_sigmoids():
    p = np.array([0.0, 1.0, 0.5], np.float32)
    eps = np.float32(gan.BCE_EPS)
    expected = np.mean(-np.log(np.clip(f64(p), eps, 1 - f64(eps))))  # the clamp keeps log(0) out
    loss = gan.vanilla_probs_g_loss(t(p))
    assert np.isfinite(loss.asnumpy())
    close(loss, expected)
    hi = np.float64(np.float32(1) - eps)  # 1 - eps as float32 rounds it
    assert hi < 1  # so the clamp is effective in float32: log(1 - p) stays finite at p = 1
    clamped = np.clip(f64(p), eps, hi)
    close(gan.vanilla_probs_d_loss(t(p), t(p)), np.mean(-np.log(clamped)) + np.mean(-np.log(1 - clamped)))
    grad = ms.grad(gan.vanilla_probs_d_loss, grad_position=(0, 1))(t(p), t(p))
    assert all(np.isfinite(g.asnumpy()).all() for g in grad)


def test_hinge(logits):
    real, fake = logits
    close(gan.hinge_d_loss(t(real), t(fake)),
          np.mean(np.maximum(0, 1 - f64(real))) + np.mean(np.maximum(0, 1 + f64(fake))))
    close(gan.hinge_g_loss(t(fake)), -np.mean(f64(fake)))


def test_non_saturating_logistic_is_stylegan2s_and_equals_vanilla(logits):
    real, fake = logits
    close(gan.logistic_d_loss(t(real), t(fake)), np.mean(np_softplus(fake)) + np.mean(np_softplus(-f64(real))))
    close(gan.logistic_g_loss(t(fake)), np.mean(np_softplus(-f64(fake))))
    close(gan.logistic_d_loss(t(real), t(fake)), float(gan.vanilla_d_loss(t(real), t(fake)).asnumpy()))
    close(gan.logistic_g_loss(t(fake)), float(gan.vanilla_g_loss(t(fake)).asnumpy()))


def multiscale_outputs(rng, n_layers):
    """Two discriminators (num_D = 2) at two scales: n_layers + 1 feature maps each, then the prediction."""
    outs = []
    for side in (16, 8):
        feats = [rand(rng, 2, 4 * (k + 1), side >> k, side >> k) for k in range(n_layers + 1)]
        outs.append(feats + [rand(rng, 2, 1, 2, 2)])
    return outs


def test_feature_matching_is_pix2pixhds():
    rng = np.random.default_rng(3)
    n_layers = 3
    fake, real = multiscale_outputs(rng, n_layers), multiscale_outputs(rng, n_layers)
    expected = sum((1 / 2) * (4 / (n_layers + 1)) * np.mean(np.abs(f64(f) - r))
                   for fd, rd in zip(fake, real) for f, r in zip(fd[:-1], rd[:-1]))
    as_tensors = [[t(x) for x in d] for d in fake], [[t(x) for x in d] for d in real]
    close(gan.feature_matching_loss(*as_tensors, n_layers), expected)
    # The final predictions take no part: changing them leaves the loss unchanged.
    changed = [d[:-1] + [t(np.full((2, 1, 2, 2), 9.0, np.float32))] for d in as_tensors[0]]
    close(gan.feature_matching_loss(changed, as_tensors[1], n_layers), expected)
    with pytest.raises(ValueError, match="same discriminators"):
        gan.feature_matching_loss(as_tensors[0], as_tensors[1][:1], n_layers)


def test_feature_matching_stops_the_gradient_at_the_real_features():
    rng = np.random.default_rng(4)
    f0, f1, r0, r1 = (t(rand(rng, 1, 2, 4, 4)) for _ in range(4))
    pred = t(np.zeros((1, 1, 1, 1), np.float32))

    def loss(f0, f1, r0, r1):
        return gan.feature_matching_loss([[f0, f1, pred]], [[r0, r1, pred]], n_layers=1)

    grads = ms.grad(loss, grad_position=(0, 1, 2, 3))(f0, f1, r0, r1)
    assert np.abs(grads[0].asnumpy()).sum() > 0 and np.abs(grads[1].asnumpy()).sum() > 0
    assert np.abs(grads[2].asnumpy()).sum() == 0 and np.abs(grads[3].asnumpy()).sum() == 0
    # d/d fake of weight * mean|fake - real| = weight * sign(fake - real) / size, weight = 1 * 4 / 2
    np.testing.assert_allclose(grads[0].asnumpy(), 2.0 * np.sign(f0.asnumpy() - r0.asnumpy()) / 32, rtol=1e-6)


def test_torch_reference_losses_agree(logits):
    torch = pytest.importorskip("torch")
    real, fake = logits
    tr, tf = torch.from_numpy(f64(real)), torch.from_numpy(f64(fake))
    bce_l, bce, mse = torch.nn.BCEWithLogitsLoss(), torch.nn.BCELoss(), torch.nn.MSELoss()
    # junyanz GANLoss: loss_D = (loss(real, 1) + loss(fake, 0)) * 0.5, loss_G = loss(fake, 1)
    close(gan.vanilla_d_loss(t(real), t(fake), scale=0.5),
          float((bce_l(tr, torch.ones_like(tr)) + bce_l(tf, torch.zeros_like(tf))) * 0.5))
    close(gan.vanilla_g_loss(t(fake)), float(bce_l(tf, torch.ones_like(tf))))
    close(gan.lsgan_d_loss(t(real), t(fake), scale=0.5),
          float((mse(tr, torch.ones_like(tr)) + mse(tf, torch.zeros_like(tf))) * 0.5))
    pr, pf = torch.sigmoid(tr), torch.sigmoid(tf)
    close(gan.vanilla_probs_d_loss(t(pr.numpy().astype(np.float32)), t(pf.numpy().astype(np.float32))),
          float(bce(pr, torch.ones_like(pr)) + bce(pf, torch.zeros_like(pf))))
    F = torch.nn.functional
    close(gan.logistic_d_loss(t(real), t(fake)), float(F.softplus(tf).mean() + F.softplus(-tr).mean()))


def test_all_losses_compile_in_graph_mode(logits):
    real, fake = (t(x) for x in logits)
    probs = ops.sigmoid(real)
    rng = np.random.default_rng(5)
    feats = [t(rand(rng, 2, 3, 4, 4)) for _ in range(6)]

    def all_losses(real, fake, probs, a, b, c, d, e, f):
        return (gan.l1_loss(real, fake), gan.lsgan_d_loss(real, fake, 0.5), gan.lsgan_g_loss(fake),
                gan.vanilla_d_loss(real, fake), gan.vanilla_g_loss(fake), gan.bce_logits_loss(fake, 0.9),
                gan.vanilla_probs_d_loss(probs, probs), gan.vanilla_probs_g_loss(probs),
                gan.hinge_d_loss(real, fake), gan.hinge_g_loss(fake), gan.logistic_d_loss(real, fake),
                gan.logistic_g_loss(fake), gan.feature_matching_loss([[a, b, c]], [[d, e, f]], 2))

    args = (real, fake, probs, *feats)
    eager = [x.asnumpy() for x in all_losses(*args)]
    graph = [x.asnumpy() for x in ms.jit(all_losses)(*args)]
    assert len(graph) == 13
    for e, g in zip(eager, graph):
        np.testing.assert_allclose(g, e, rtol=RTOL, atol=ATOL)
