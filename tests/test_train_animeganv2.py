"""The shared trainer on a tiny AnimeGANv2: learning, exact resume, NaN stop, artefacts, bad data."""
import csv
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import mindspore as ms

from mindspore_impl.config import load_config
from mindspore_impl.trainer import TrainingError, build_trainer

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs/animeganv2/tiny.yaml"


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """8 photos, 6 cartoon style images (+ smooth), 2 val, 2 test at 32 px, and a random-weight VGG19."""
    from mindspore_impl.models.vgg19 import random_vgg19_checkpoint

    root = tmp_path_factory.mktemp("tiny")
    subprocess.run([sys.executable, "datasets/demo_style.py", "--output", str(root / "dataset"), "--size", "32",
                    "--count", "8", "--style-count", "6", "--eval-count", "2"], cwd=ROOT, check=True,
                   capture_output=True)
    random_vgg19_checkpoint(root / "vgg19.ckpt", seed=0)
    return root


def tiny_cfg(tiny_data, run_dir, *extra):
    return load_config(TINY, [f"data.root={tiny_data / 'dataset'}", f"loss.vgg_ckpt={tiny_data / 'vgg19.ckpt'}",
                              f"train.run_dir={run_dir}", *extra])


def test_content_phase_lowers_the_content_loss_on_a_fixed_batch(tiny_data, tmp_path):
    trainer = build_trainer(tiny_cfg(tiny_data, tmp_path / "run", "optim.init_epochs=2", "train.max_steps=8",
                                     "optim.init_lr=1e-3"))
    fixed = ms.Tensor(trainer.family.data.batch(0, 0, 2)["photo"])
    before = float(trainer.family.init_loss(fixed)[0].asnumpy())
    trainer.fit(progress=False)
    after = float(trainer.family.init_loss(fixed)[0].asnumpy())
    assert after < 0.8 * before, (before, after)


def test_zero_vgg_weights_drop_the_vgg_from_the_init_and_g_steps(tiny_data, tmp_path):
    """loss.init_con_weight=0 (and con_weight = sty_weight = 0 for the G step), as the bundled demo trains: the
    steps are their pixel terms alone, the VGG terms reported as 0 and the VGG never called; by default the init
    keeps the official content term."""
    from mindspore_impl.losses import animegan as L
    from mindspore_impl.losses.gan import lsgan_g_loss

    default = build_trainer(tiny_cfg(tiny_data, tmp_path / "a", "loss.init_color_weight=5"))
    pixel = build_trainer(tiny_cfg(tiny_data, tmp_path / "b", "loss.init_color_weight=5", "loss.init_con_weight=0",
                                   "loss.con_weight=0", "loss.sty_weight=0", "loss.color_weight=3",
                                   "loss.tv_weight=2", "loss.g_adv_weight=7"))
    batch = pixel.family.data.batch(0, 0, 2)
    photo, gray = ms.Tensor(batch["photo"]), ms.Tensor(batch["anime_gray"])
    family = pixel.family
    family.generator.set_train(False)
    family.vgg.construct = None  # any VGG call now raises
    total, (con, col, l1) = family.init_loss(photo)
    fake = family.generator(photo)
    assert float(con.asnumpy()) == 0.0 and float(l1.asnumpy()) > 0  # logged; its weight (default 0) keeps it out
    np.testing.assert_allclose(float(total.asnumpy()), 5 * float(L.color_loss(photo, fake).asnumpy()), rtol=1e-6)
    total, (adv, con, sty, col, tv) = family.g_loss(photo, gray)
    assert float(con.asnumpy()) == 0.0 and float(sty.asnumpy()) == 0.0
    expected = (7 * lsgan_g_loss(family.discriminator(fake)) + 3 * L.color_loss(photo, fake)
                + 2 * L.tv_loss(fake))
    np.testing.assert_allclose(float(total.asnumpy()), float(expected.asnumpy()), rtol=1e-5)
    _, (con_default, _, _) = default.family.init_loss(photo)
    assert float(con_default.asnumpy()) > 0


def test_paired_init_reconstructs_each_photos_own_rendering(tiny_data, tmp_path):
    """loss.init_target=paired (the bundled demo): the init step compares G(photo) with the photo's rendering in the
    style (`photo_styled`), in its colour, RGB L1 and content terms; the GAN phase's inputs are unchanged. A name
    outside {photo, paired} is a config error."""
    from mindspore_impl.config import ConfigError
    from mindspore_impl.losses import animegan as L

    trainer = build_trainer(tiny_cfg(tiny_data, tmp_path / "p", "loss.init_target=paired", "loss.init_color_weight=5",
                                     "loss.init_con_weight=2", "loss.init_l1_weight=3"))
    family = trainer.family
    init, gan = family.phases()
    assert init.updates[0].inputs == ("photo", "photo_styled")
    assert [u.inputs for u in gan.updates] == [u.inputs for u in build_trainer(
        tiny_cfg(tiny_data, tmp_path / "q")).family.phases()[1].updates]
    batch = family.data.batch(0, 0, 2)
    photo, styled = ms.Tensor(batch["photo"]), ms.Tensor(batch["photo_styled"])
    assert not np.allclose(batch["photo"], batch["photo_styled"], atol=0.1)
    family.generator.set_train(False)
    total, (con, col, l1) = init.updates[0].loss_fn(photo, styled)
    fake = family.generator(photo)
    np.testing.assert_allclose(float(col.asnumpy()), float(L.color_loss(styled, fake).asnumpy()), rtol=1e-6)
    np.testing.assert_allclose(float(l1.asnumpy()), np.abs(batch["photo_styled"] - fake.asnumpy()).mean(), rtol=1e-5)
    np.testing.assert_allclose(float(con.asnumpy()),
                               float(L.content_loss(family.vgg(styled), family.vgg(fake)).asnumpy()), rtol=1e-5)
    np.testing.assert_allclose(float(total.asnumpy()), float((2 * con + 5 * col + 3 * l1).asnumpy()), rtol=1e-6)
    with pytest.raises(ConfigError, match="init_target must be one of"):
        build_trainer(tiny_cfg(tiny_data, tmp_path / "r", "loss.init_target=style"))


def _params(path):
    return {k: v.asnumpy() for k, v in ms.load_checkpoint(str(path)).items()}


def test_resume_continues_exactly(tiny_data, tmp_path):
    """Steps 1-4 are the content phase, 5-6 the GAN phase; stop after 5 and resume: same weights at 6."""
    whole = build_trainer(tiny_cfg(tiny_data, tmp_path / "whole", "train.max_steps=6"))
    whole.fit(progress=False)

    first = build_trainer(tiny_cfg(tiny_data, tmp_path / "split", "train.max_steps=5"))
    first.fit(progress=False)
    resumed = build_trainer(tiny_cfg(tiny_data, tmp_path / "split", "train.max_steps=6"), resume_latest=True)
    assert resumed.state == {"epoch": 1, "step": 1, "global_step": 5}
    resumed.fit(progress=False)

    a = _params(tmp_path / "whole/checkpoints/step_00000006.ckpt")
    b = _params(tmp_path / "split/checkpoints/step_00000006.ckpt")
    assert set(a) == set(b)
    assert any(k.startswith("opt_D/moment1.") for k in a)  # optimiser state is part of the checkpoint
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    # the resumed run's log has every step exactly once, with the same values
    rows_a = list(csv.DictReader(open(tmp_path / "whole/losses.csv")))
    rows_b = list(csv.DictReader(open(tmp_path / "split/losses.csv")))
    assert [r["global_step"] for r in rows_b] == [str(i) for i in range(1, 7)]
    for ra, rb in zip(rows_a, rows_b):
        assert {k: v for k, v in ra.items() if k != "seconds"} == {k: v for k, v in rb.items() if k != "seconds"}


def test_init_lr_decays_over_its_last_epochs_and_resumes_exactly(tiny_data, tmp_path):
    """optim.init_decay_epochs (the bundled demo: the last 7 of 28): the init lr is constant, then the last N init
    epochs fall linearly to init_lr / (N + 1) (junyanz's n_epochs_decay; 4 steps an epoch here); the schedule counts
    the optimiser's own steps, so a run stopped inside the decay resumes to the same weights. More decay epochs
    than init epochs are refused."""
    from mindspore_impl.config import ConfigError

    decay = ("optim.epochs=3", "optim.init_epochs=3", "optim.init_decay_epochs=2", "optim.init_lr=1e-3")
    keep = "train.keep_checkpoints=10"  # step 4 is compared below
    trainer = build_trainer(tiny_cfg(tiny_data, tmp_path / "whole", *decay, "train.max_steps=10", keep))
    lrs = [float(trainer.family.opt_init.learning_rate(ms.Tensor(step, ms.int32)).asnumpy()) for step in range(12)]
    np.testing.assert_allclose(lrs, [1e-3] * 4 + [2e-3 / 3] * 4 + [1e-3 / 3] * 4, rtol=1e-6)
    trainer.fit(progress=False)
    first = build_trainer(tiny_cfg(tiny_data, tmp_path / "split", *decay, "train.max_steps=9"))
    first.fit(progress=False)
    build_trainer(tiny_cfg(tiny_data, tmp_path / "split", *decay, "train.max_steps=10"),
                  resume_latest=True).fit(progress=False)
    a = _params(tmp_path / "whole/checkpoints/step_00000010.ckpt")
    b = _params(tmp_path / "split/checkpoints/step_00000010.ckpt")
    assert set(a) == set(b) and "opt_init/learning_rate" not in a  # the lr is the schedule's, not a saved value
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    # the updates follow it: a constant-lr run has the same weights through the held epoch (step 4), other ones after
    constant = build_trainer(tiny_cfg(tiny_data, tmp_path / "constant", *decay[:2], "optim.init_lr=1e-3",
                                      "train.max_steps=10", keep))
    constant.fit(progress=False)
    for step, same in ((4, True), (6, False)):
        c = _params(tmp_path / f"constant/checkpoints/step_{step:08d}.ckpt")
        w = _params(tmp_path / f"whole/checkpoints/step_{step:08d}.ckpt")
        generator = [k for k in c if k.startswith("G/")]
        assert generator and all(np.array_equal(c[k], w[k]) for k in generator) == same, step
    with pytest.raises(ConfigError, match="init_decay_epochs <= init_epochs"):
        build_trainer(tiny_cfg(tiny_data, tmp_path / "bad", "optim.init_decay_epochs=2"))  # tiny: 1 init epoch


def test_micro_batches_give_the_whole_batch_step(tiny_data, tmp_path):
    """Batch 2 as 2 micro-batches of 1 vs batch 2 in one graph, through the content, D (spectral norm) and G updates.

    The two differ only by float rounding, but the generator's gradient through VGG (ReLU, max-pool, L1) is
    piecewise constant: a 3e-6 rounding difference in G's output (batch 2 vs 1 picks other conv blocking) can
    cross a kink and move that gradient by ~2e-3 relative (measured), and Adam compounds it over steps. How often
    kinks are crossed depends on the data: the demo style's sharper outlines (issue 18) raised every GAN-phase
    figure below about tenfold while the init phase stayed within 2e-5.
    Tolerances, from a run on this machine on the current tiny data (measured → asserted): losses at step 1 equal
    to 1e-5 relative (8e-8), init steps 1.8e-5 → 1e-3, GAN steps (G/tv the worst) 1.3e-2 → 3e-2; network weights
    after 6 steps ≥ 89.8% → 85% within 1e-5 and every one within 2·lr·steps; optimiser first moments relative norm
    D 0.009 → 0.02 (no VGG on that path), init 0.042 → 0.15, G 0.275 → 0.5.
    Checked by mutation (on the earlier data): a missing 1/n fails the moment checks (relative norm 1.0); using only
    the last slice's gradient fails the step-2 loss check.
    """
    runs = {}
    for n in (1, 2):
        build_trainer(tiny_cfg(tiny_data, tmp_path / f"mb{n}", "train.max_steps=6",
                               f"train.micro_batches={n}")).fit(progress=False)
        runs[n] = (_params(tmp_path / f"mb{n}/checkpoints/step_00000006.ckpt"),
                   list(csv.DictReader(open(tmp_path / f"mb{n}/losses.csv"))))
    (w1, log1), (w2, log2) = runs[1], runs[2]
    assert [r["phase"] for r in log1] == ["init"] * 4 + ["gan"] * 2
    for r1, r2 in zip(log1, log2):
        for k in r1:
            if k not in ("global_step", "epoch", "phase", "seconds") and r1[k] != "":  # init rows lack GAN columns
                rel = 1e-5 if r1["global_step"] == "1" else 1e-3 if r1["phase"] == "init" else 3e-2
                assert float(r2[k]) == pytest.approx(float(r1[k]), rel=rel, abs=1e-6), (r1["global_step"], k)

    def gather(prefix, w):
        return np.concatenate([w[k].astype(np.float64).ravel() for k in sorted(w1) if k.startswith(prefix)])

    for prefix, limit in (("opt_D/moment1", 0.02), ("opt_init/moment1", 0.15), ("opt_G/moment1", 0.5)):
        m1, m2 = gather(prefix, w1), gather(prefix, w2)
        assert np.linalg.norm(m1 - m2) / np.linalg.norm(m1) <= limit, prefix
    diff = np.abs(np.concatenate([gather("G/", w1), gather("D/", w1)])
                  - np.concatenate([gather("G/", w2), gather("D/", w2)]))
    assert diff.max() <= 2 * 2e-4 * 6 + 1e-6, diff.max()  # init_lr 2e-4 is the largest rate
    assert (diff <= 1e-5).mean() >= 0.85, f"only {(diff <= 1e-5).mean():.2%} of weights agree within 1e-5"


def test_micro_batches_must_divide_the_batch(tiny_data, tmp_path):
    from mindspore_impl.config import ConfigError

    with pytest.raises(ConfigError, match="micro_batches"):
        build_trainer(tiny_cfg(tiny_data, tmp_path / "run", "train.micro_batches=3"))


def test_run_directory_has_everything_people_look_at(tiny_data, tmp_path):
    run = tmp_path / "run"
    build_trainer(tiny_cfg(tiny_data, run, "train.max_steps=2", "train.jit=false")).fit(progress=False)
    assert (run / "config.yaml").is_file() and (run / "generator.ckpt").is_file()
    assert (run / "losses.png").stat().st_size > 1000
    samples = sorted((run / "samples").glob("*.png"))
    assert samples
    from datasets.image_io import read_rgb

    grid = read_rgb(samples[-1])
    assert grid.shape[0] > 32 and grid.shape[1] > 64  # rows of (input | output)
    assert not list(run.rglob("*.tmp*"))  # atomic writes leave no temp files


def test_nan_loss_stops_with_a_clear_message(tiny_data, tmp_path):
    trainer = build_trainer(tiny_cfg(tiny_data, tmp_path / "run", "train.jit=false", "train.max_steps=3"))
    trainer.family.loss_cfg.con_weight = float("nan")  # the config refuses a NaN weight, so the loss gets it here
    with pytest.raises(TrainingError, match=r"init/total.*nan.*step 1"):
        trainer.fit(progress=False)


def test_mismatched_checkpoint_is_refused(tiny_data, tmp_path):
    run = tmp_path / "run"
    build_trainer(tiny_cfg(tiny_data, run, "train.max_steps=1", "train.jit=false")).fit(progress=False)
    with pytest.raises(TrainingError, match=r"cannot resume with changed generator\.width: 0\.125 → 0\.25"):
        build_trainer(tiny_cfg(tiny_data, run, "generator.width=0.25"), resume_latest=True)
    # a checkpoint from elsewhere (no run folder around it) of another network is refused when it is loaded
    other, loose = tmp_path / "other", tmp_path / "loose"
    build_trainer(tiny_cfg(tiny_data, other, "train.max_steps=1", "train.jit=false",
                           "generator.width=0.25")).fit(progress=False)
    shutil.copytree(other / "checkpoints", loose)
    with pytest.raises(TrainingError, match="does not match this config"):
        build_trainer(tiny_cfg(tiny_data, run), resume=str(loose / "step_00000001.ckpt"))


def test_corrupt_images_are_reported_and_skipped(tiny_data, tmp_path):
    data = tmp_path / "dataset"
    shutil.copytree(tiny_data / "dataset", data)
    (data / "train_photo" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    r = subprocess.run([sys.executable, "mindspore_impl/train.py", "--config", str(TINY), "--no-progress",
                        "--set", f"data.root={data}", "--set", f"loss.vgg_ckpt={tiny_data / 'vgg19.ckpt'}",
                        "--set", f"train.run_dir={tmp_path / 'run'}", "--set", "train.max_steps=1",
                        "--set", "train.jit=false"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "broken.jpg" in r.stderr and "done: step 1" in r.stdout
