"""A colorization family under `msrun --worker_num=2` equals one process over the combined batch.

The family: pix2pixHD (configs/pix2pixhd/tiny.yaml): instance norm, no history pool (pool_size 0, pix2pixHD's
default), no dropout, so each sample's loss depends only on that sample and the all-reduced mean gradient is the
single-process gradient. The other colorization configs cannot be equal by construction: pix2pix and the study's
CycleGAN use BatchNorm (batch statistics over each rank's half of the batch differ from the whole batch's), and
junyanz's CycleGAN keeps a history pool per rank (each rank stores and draws its own fakes). Two steps cover both
of this config's phases (the local-enhancer-only epoch, then joint training) and both updates (G with feature
matching and the VGG19 loss, then D). Tolerance as tests/test_distributed.py.
"""
import shutil

import pytest

from tests._colorize_helpers import write_pairs
from tests.test_distributed import _assert_same, _run_both

pytestmark = pytest.mark.skipif(shutil.which("msrun") is None, reason="msrun (MindSpore's launcher) is not on PATH")


def test_pix2pixhd_two_ranks_equal_one_process(tmp_path):
    from mindspore_impl.models.vgg19 import random_vgg19_checkpoint

    write_pairs(tmp_path / "data", 2, size=40)
    random_vgg19_checkpoint(tmp_path / "vgg.ckpt", conv5_1=True)
    overrides = [f"data.root={tmp_path / 'data'}", f"loss.vgg_ckpt={tmp_path / 'vgg.ckpt'}", "train.max_steps=2"]
    r0, r1, single = _run_both(tmp_path / "runs", "configs/pix2pixhd/tiny.yaml", overrides, per_rank_batch=1)
    assert any(".enhancers." in k for k in r0) and any(k.startswith("D/") for k in r0)
    _assert_same(r0, r1, single, max_lr=2e-4, steps=2)
