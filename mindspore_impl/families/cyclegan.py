"""CycleGAN on the shared trainer: junyanz's (`models/cycle_gan_model.py`) and the BerserkMangaColoring study's.

Networks: G_A maps domain A (grey pages) to B (colour pages), G_B maps back; D_A judges domain B (G_A's
outputs), D_B judges A. The `generator:` section builds G_A, and G_B is the same section with in_channels and
out_channels swapped; the `discriminator:` section builds both Ds with in_channels set to their domain's. The
generator is `cyclegan_resnet` (junyanz resnet_9blocks) or `cyclegan_seed` (the study's CycleGenerator), the
discriminator `patchgan_discriminator` or `cyclegan_seed_discriminator`: one family, two registered pairs.

Per step, the G update first (the Ds fixed), one Adam over G_A and G_B:
    lsgan(D_A(G_A(A)), 1) + lsgan(D_B(G_B(B)), 1) + lambda_a·|G_B(G_A(A)) − A| + lambda_b·|G_A(G_B(B)) − B|
    + lambda_identity·(lambda_b·|G_A(B) − B| + lambda_a·|G_B(A) − A|)
(the identity terms' weight is 10·0.5 = 5 in both references); then the D update, one Adam over D_A and D_B, with
D loss d_loss_scale·(lsgan(D(real), 1) + lsgan(D(fake), 0)) for each D. Where the Ds' fakes come from:
- `d_fakes: pool` (junyanz): the G update's G_A(A) and G_B(B) through a history pool of pool_size (50) each, as
  `util/image_pool.py` (mindspore_impl/history_pool.py; the pools are host state, saved with every checkpoint);
  d_loss_scale 0.5;
- `d_fakes: regenerate` (the study's notebook): new fakes from the just-updated generators, d_loss_scale 1, no pool.
  The notebook also zeroes D's gradients *before* G's backward pass, so each D step descends the generators'
  adversarial loss w.r.t. D as well (D is pushed to call the pre-update fakes real); `d_includes_g_adv_grad: true`
  reproduces that (configs/cyclegan/seed.yaml), false gives the textbook D step.
"""
from __future__ import annotations

from dataclasses import dataclass

from mindspore import ops

from mindspore_impl.checkpoint_io import rename_for_graph
from mindspore_impl.config import ConfigError, build_dataclass, section
from mindspore_impl.families.base import NETWORK, ExportNetwork, Family, image_grid, to_uint8
from mindspore_impl.families.translation import (GAN_MODES, LinearDecayOptim, TranslationData, adam, build_data,
                                                 gan_loss, global_batch)
from mindspore_impl.history_pool import HistoryPool
from mindspore_impl.losses import gan
from mindspore_impl.registry import FAMILIES, build_network
from mindspore_impl.trainer import Phase, Update

D_FAKES = ("pool", "regenerate")
_POOL_STREAMS = {"A": 1, "B": 2}  # seeds of the two history pools' generators


def swapped_channels(values: dict) -> dict:
    """G_B's constructor arguments: G_A's section with input and output channels swapped."""
    return {"in_channels": values.get("out_channels", 3), "out_channels": values.get("in_channels", 3)}


@dataclass
class CycleGANLoss:
    gan_mode: str = "lsgan"
    lambda_a: float = 10.0
    lambda_b: float = 10.0
    lambda_identity: float = 0.5
    d_fakes: str = "pool"
    pool_size: int = 50
    d_loss_scale: float = 0.5
    d_includes_g_adv_grad: bool = False

    def __post_init__(self):
        if self.gan_mode not in GAN_MODES:
            raise ValueError(f"gan_mode must be one of {', '.join(GAN_MODES)}, got '{self.gan_mode}'")
        if self.d_fakes not in D_FAKES:
            raise ValueError(f"d_fakes must be one of {', '.join(D_FAKES)}, got '{self.d_fakes}'")
        if self.pool_size < 0:
            raise ValueError(f"pool_size must be >= 0, got {self.pool_size}")
        if self.d_fakes == "regenerate" and self.pool_size:
            raise ValueError("d_fakes: regenerate draws new fakes; it takes no history pool (set pool_size: 0)")


@FAMILIES.register("cyclegan")
class CycleGANFamily(Family):
    sections = {"generator": NETWORK, "discriminator": NETWORK, "loss": CycleGANLoss, "optim": LinearDecayOptim,
                "data": TranslationData}
    exports = {"G_A": ExportNetwork("generator", task="colorize"),  # grey → colour
               "G_B": ExportNetwork("generator", overrides=swapped_channels)}  # colour → grey (a stylizer)

    def __init__(self, cfg: dict, ctx):
        self.loss_cfg = build_dataclass(CycleGANLoss, section(cfg, "loss"), "loss")
        self.optim_cfg = build_dataclass(LinearDecayOptim, section(cfg, "optim"), "optim")
        data_cfg = build_dataclass(TranslationData, section(cfg, "data"), "data")
        seed = int(section(cfg, "train").get("seed", 0))
        g_values = section(cfg, "generator")
        self.g_a = build_network(cfg, "generator")
        self.g_b = build_network(cfg, "generator", **swapped_channels(g_values))
        spec = self.g_a.interface()
        a_channels, b_channels = spec.inputs[0].channels, spec.outputs[0].channels
        if self.loss_cfg.lambda_identity and a_channels != b_channels:
            raise ConfigError("loss.lambda_identity needs as many input as output channels (G_A(B) must be "
                              "defined); set it to 0")
        if a_channels != b_channels and "in_channels" in section(cfg, "discriminator"):
            raise ConfigError("discriminator.in_channels: D_A and D_B judge different channels; leave it out")
        self.d_a = build_network(cfg, "discriminator", in_channels=b_channels)  # judges domain B
        self.d_b = build_network(cfg, "discriminator", in_channels=a_channels)  # judges domain A
        self.data = build_data(data_cfg, ctx, seed, a_channels, b_channels, spec.size_multiple, ("unpaired",))
        self._samples = self.data.samples(data_cfg.sample_count)
        self.criterion = gan_loss(self.loss_cfg.gan_mode)
        self.pools = {k: HistoryPool(self.loss_cfg.pool_size, seed=[seed, s]) for k, s in _POOL_STREAMS.items()}
        for name, net in self.networks().items():  # one optimiser holds both Gs (both Ds): names must differ now
            rename_for_graph(net, name)
        o = self.optim_cfg
        steps = self.data.steps_per_epoch(global_batch(cfg, ctx))
        g_params = self.g_a.trainable_params() + self.g_b.trainable_params()
        d_params = self.d_a.trainable_params() + self.d_b.trainable_params()
        self.opt_g = adam(g_params, o.lr, (o.beta1, o.beta2), o.schedule(), steps)
        self.opt_d = adam(d_params, o.lr, (o.beta1, o.beta2), o.schedule(), steps)

    def networks(self):
        return {"G_A": self.g_a, "G_B": self.g_b, "D_A": self.d_a, "D_B": self.d_b}

    def optimizers(self):
        return {"G": self.opt_g, "D": self.opt_d}

    def phases(self):
        c = self.loss_cfg
        if c.d_fakes == "pool":
            d_update = Update("D", self.d_loss_pool, self.opt_d, ("A", "B", "pool_fake_A", "pool_fake_B"),
                              ("A_real", "A_fake", "B_real", "B_fake"), prepare=self._draw_pools)
        else:
            d_update = Update("D", self.d_loss_regenerate, self.opt_d, ("A", "B", "fake_A", "fake_B"),
                              ("A_real", "A_fake", "B_real", "B_fake", "g_adv"))
        return [Phase("train", self.optim_cfg.total_epochs, [
            Update("G", self.g_loss, self.opt_g, ("A", "B"), ("gan_A", "gan_B", "cycle_A", "cycle_B", "idt_A",
                                                            "idt_B"), outputs=("fake_B", "fake_A")),
            d_update,
        ])]

    def _draw_pools(self, values, info):
        return {"pool_fake_B": self.pools["B"].query(values["fake_B"]),
                "pool_fake_A": self.pools["A"].query(values["fake_A"])}

    def host_state(self):
        return {f"pool_{k}": pool.state() for k, pool in self.pools.items()}

    def load_host_state(self, state):
        for k, pool in self.pools.items():
            pool.load_state(state[f"pool_{k}"])

    def sample_grid(self):
        """Rows of (A | G_A(A) | B | G_B(B)) in inference mode."""
        import mindspore as ms

        a, b = self._samples
        for g in (self.g_a, self.g_b):
            g.set_train(False)
        fake_b, fake_a = self.g_a(ms.Tensor(a)).asnumpy(), self.g_b(ms.Tensor(b)).asnumpy()
        for g in (self.g_a, self.g_b):
            g.set_train(True)
        return image_grid([[to_uint8(x), to_uint8(y), to_uint8(z), to_uint8(w)]
                           for x, y, z, w in zip(a, fake_b, b, fake_a)])

    # ------------------------------------------------------------------ losses (traced by ms.jit)
    def g_loss(self, a, b):
        c = self.loss_cfg
        fake_b = self.g_a(a)
        fake_a = self.g_b(b)
        rec_a, rec_b = self.g_b(fake_b), self.g_a(fake_a)
        gan_a = self.criterion(self.d_a(fake_b), 1.0)
        gan_b = self.criterion(self.d_b(fake_a), 1.0)
        cycle_a, cycle_b = gan.l1_loss(rec_a, a), gan.l1_loss(rec_b, b)
        if c.lambda_identity:  # a config constant: without identity terms the graph has no G_A(B), G_B(A)
            idt_a, idt_b = gan.l1_loss(self.g_a(b), b), gan.l1_loss(self.g_b(a), a)
        else:
            idt_a = idt_b = ops.zeros_like(cycle_a)
        total = (gan_a + gan_b + c.lambda_a * cycle_a + c.lambda_b * cycle_b
                 + c.lambda_identity * (c.lambda_b * idt_a + c.lambda_a * idt_b))
        return (total, ops.stack([gan_a, gan_b, cycle_a, cycle_b, idt_a, idt_b]), ops.stop_gradient(fake_b),
                ops.stop_gradient(fake_a))

    def _d_terms(self, a, b, fake_a, fake_b):
        c = self.criterion
        terms = (c(self.d_b(a), 1.0), c(self.d_b(fake_a), 0.0), c(self.d_a(b), 1.0), c(self.d_a(fake_b), 0.0))
        return terms, self.loss_cfg.d_loss_scale * (terms[0] + terms[1] + terms[2] + terms[3])

    def d_loss_pool(self, a, b, pool_fake_a, pool_fake_b):
        terms, total = self._d_terms(a, b, pool_fake_a, pool_fake_b)
        return total, ops.stack(list(terms))

    def d_loss_regenerate(self, a, b, fake_a_before, fake_b_before):
        """The study's D step: new fakes from the updated Gs; with d_includes_g_adv_grad also the generators'
        adversarial loss on the fakes of the G step (whose gradient the notebook leaves in D's)."""
        fake_a = ops.stop_gradient(self.g_b(b))
        fake_b = ops.stop_gradient(self.g_a(a))
        terms, total = self._d_terms(a, b, fake_a, fake_b)
        if self.loss_cfg.d_includes_g_adv_grad:
            g_adv = self.criterion(self.d_b(fake_a_before), 1.0) + self.criterion(self.d_a(fake_b_before), 1.0)
        else:
            g_adv = ops.zeros_like(total)
        return total + g_adv, ops.stack(list(terms) + [g_adv])
