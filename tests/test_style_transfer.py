"""Gatys style transfer baseline: loss terms, optimisation lowers the loss, CLI output and errors."""
import subprocess
import sys
from pathlib import Path

import cv2
import mindspore as ms
import numpy as np
import pytest
from skimage import data as skdata

from datasets.image_io import read_rgb, write_image_atomic
from mindspore_impl.models.vgg19 import load_vgg19, random_vgg19_checkpoint
from mindspore_impl.style_transfer import GatysLoss, StyleTransferError, main, stylize, to_tensor
from runtime.errors import run_main

ROOT = Path(__file__).resolve().parents[1]


def cli(argv) -> int:
    """The exit status of `python mindspore_impl/style_transfer.py ARGV`, in process."""
    with pytest.raises(SystemExit) as exc:
        run_main(main, argv)
    return exc.value.code


@pytest.fixture(autouse=True)
def pynative():
    ms.set_context(mode=ms.PYNATIVE_MODE)


@pytest.fixture(scope="module")
def vgg_ckpt(tmp_path_factory):
    return random_vgg19_checkpoint(tmp_path_factory.mktemp("vgg") / "vgg19_random.ckpt", seed=0)


def small(img, size=32):
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def test_loss_terms_at_start(vgg_ckpt):
    vgg = load_vgg19(vgg_ckpt, with_taps=True)
    content, style = small(skdata.astronaut()), small(skdata.coffee())
    total, c, s, tv = (float(v.asnumpy()) for v in GatysLoss(vgg, to_tensor(content), to_tensor(style),
                                                             1.0, 10.0, 100.0)())
    assert c == 0.0 and s > 0 and tv > 0  # the image starts as the content photo
    assert total == pytest.approx(c + 10 * s + 100 * tv, rel=1e-5)
    _, _, s_same, _ = GatysLoss(vgg, to_tensor(content), to_tensor(content), 1.0, 1.0, 1.0)()
    assert float(s_same.asnumpy()) == 0.0


def test_few_steps_lower_the_loss(vgg_ckpt):
    vgg = load_vgg19(vgg_ckpt, with_taps=True)
    content, style = small(skdata.astronaut()), small(skdata.coffee())
    image, history = stylize(content, style, vgg, steps=6, use_jit=True, progress=False)
    totals = [h["total"] for h in history]
    assert len(totals) == 6 and all(np.isfinite(totals))
    assert totals[-1] < 0.8 * totals[0]
    assert history[-1]["style"] < history[0]["style"]
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    assert not np.array_equal(image, content)  # the picture actually changed


def test_bad_settings_are_rejected(vgg_ckpt):
    vgg = load_vgg19(vgg_ckpt, with_taps=True)
    img = small(skdata.astronaut())
    for kwargs, pattern in [(dict(steps=0), "steps"), (dict(lr=-1.0), "lr"), (dict(style_weight=np.nan), "style")]:
        with pytest.raises(StyleTransferError, match=pattern):
            stylize(img, img, vgg, progress=False, **kwargs)


def test_cli_writes_output_and_reports_errors(tmp_path, vgg_ckpt, capsys):
    content, style = tmp_path / "c.png", tmp_path / "s.jpg"
    write_image_atomic(content, small(skdata.chelsea(), 40))
    write_image_atomic(style, small(skdata.rocket(), 48))
    out = tmp_path / "out.png"
    assert cli(["--content", str(content), "--style", str(style), "--vgg", str(vgg_ckpt), "--output", str(out),
                 "--steps", "2", "--size", "32"]) == 0
    assert read_rgb(out).shape == (32, 32, 3)
    assert "wrote" in capsys.readouterr().out

    bad = [(["--vgg", str(tmp_path / "none.ckpt")], "none.ckpt"),
           (["--content", str(tmp_path / "missing.png")], "missing.png"),
           (["--output", str(tmp_path / "o.unknown")], "unknown image extension"),
           (["--output", str(content)], "overwrite"),
           (["--size", "4"], "--size")]
    for override, message in bad:
        args = dict(zip(["--content", "--style", "--vgg", "--output", "--steps", "--size"],
                        [str(content), str(style), str(vgg_ckpt), str(tmp_path / "o2.png"), "1", "32"]))
        args.update(dict(zip(override[::2], override[1::2])))
        assert cli([x for kv in args.items() for x in kv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("error: ") and message in err[-1]
    assert not (tmp_path / "o2.png").exists()
    assert read_rgb(content).shape == (40, 40, 3)  # input never overwritten


def test_cli_runs_as_script(tmp_path):
    res = subprocess.run([sys.executable, "mindspore_impl/style_transfer.py", "--content", "x.png", "--style",
                          "y.png", "--vgg", "v.ckpt", "--output", str(tmp_path / "o.png")],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "error: x.png: file not found" in res.stderr
