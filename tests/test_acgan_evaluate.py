"""evaluate_acgan.py: the Fréchet distance against the textbook formula, balanced tags, and the CLI end to end on a
tiny exported ACGAN (report fields, JSON output, the classifier cache, the overwrite policy, bad arguments)."""
import json

import mindspore as ms
import numpy as np
import pytest

from mindspore_impl import evaluate_acgan as E
from runtime.errors import run_main
from tests._runtime_helpers import build_toy_sampler


def test_frechet_distance_is_fids_formula():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6))
    b = rng.normal(size=(300, 6)) * 1.7 + 0.4
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    mu = a.mean(0) - b.mean(0)
    reference = mu @ mu + np.trace(sa + sb - 2 * scipy_linalg.sqrtm(sa @ sb).real)
    assert E.frechet_distance(a, b) == pytest.approx(reference, rel=1e-9)
    assert abs(E.frechet_distance(a, a)) < 1e-9
    assert E.frechet_distance(a, a + 3.0) == pytest.approx(9.0 * 6, rel=1e-9)  # a mean shift only
    with pytest.raises(E.EvaluationError, match="two sets of >= 2 feature rows"):
        E.frechet_distance(a, b[:, :5])


def test_balanced_tags_ask_for_every_pair_equally_often():
    hair, eye = E.balanced_tags(240)
    pairs = np.bincount(hair * 10 + eye, minlength=120)
    assert (pairs == 2).all()


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory):
    from datasets.procedural_faces import make_faces, write_study_layout
    from export.api import export_generator
    from mindspore_impl.models.acgan import ACGANGenerator

    ms.set_context(mode=ms.PYNATIVE_MODE)
    d = tmp_path_factory.mktemp("evaluate")
    write_study_layout(d / "faces", make_faces(60, 16, seed=4))
    export_generator(ACGANGenerator(ngf=2, image_size=16), d / "acgan.onnx", family="acgan", progress=False)
    return d


def evaluate_cli(argv, capsys):
    with pytest.raises(SystemExit) as done:
        run_main(E.main, [str(a) for a in argv])
    out = capsys.readouterr()
    return done.value.code, out.out, out.err


def test_cli_reports_writes_json_and_caches_the_classifier(tiny_setup, capsys):
    d = tiny_setup
    args = ["--model", d / "acgan.onnx", "--data", d / "faces", "--samples", "24", "--classifier-steps", "20",
            "--quiet", "--output", d / "eval.json", "--classifier", d / "cls.ckpt"]
    code, out, err = evaluate_cli(args, capsys)
    assert code == 0, err
    assert "tag classifier, held-out real images | hair" in out and "trained now" in out
    report = json.loads((d / "eval.json").read_text())
    assert report["samples"] == 24 and report["held_out"] == 6 and report["sigma"] == 0.9
    for key in ("hair", "eye", "both", "classifier_hair", "classifier_eye"):
        assert 0.0 <= report[key] <= 1.0
    assert report["fid_generated"] > 0 and len(report["hair_by_colour"]) == 12
    assert (d / "cls.ckpt").is_file() and report["classifier_path"] == str(d / "cls.ckpt")
    code, _, err = evaluate_cli(args, capsys)
    assert code == 2 and "eval.json exists; pass --overwrite" in err
    code, out, err = evaluate_cli(args + ["--overwrite"], capsys)
    assert code == 0 and "(cached)" in out, err


@pytest.mark.parametrize("extra, message", [
    (["--config", "configs/acgan/tiny.yaml"], "--config needs --ckpt"),
    (["--samples", "1"], "--samples must be >= 2"),
    (["--output", "x.txt"], "must end in .json"),
])
def test_cli_refuses_bad_arguments(tiny_setup, capsys, extra, message):
    d = tiny_setup
    base = ["--data", d / "faces"] + ([] if "--config" in extra else ["--model", d / "acgan.onnx"])
    code, _, err = evaluate_cli(base + extra, capsys)
    assert code == 2 and message in err


def test_cli_refuses_a_sampler_without_hair_and_eye_tags(tiny_setup, capsys):
    plain = build_toy_sampler(tiny_setup / "plain.onnx", seed=1, tags=False, psi=False)
    code, _, err = evaluate_cli(["--model", plain, "--data", tiny_setup / "faces"], capsys)
    assert code == 2 and "is not a hair/eye-conditional sampler" in err


def test_the_default_classifier_cache_is_named_by_the_fingerprint(tiny_setup, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["--model", tiny_setup / "acgan.onnx", "--data", tiny_setup / "faces", "--samples", "12",
            "--classifier-steps", "5", "--quiet"]
    code, out, err = evaluate_cli(args, capsys)
    assert code == 0, err
    (cached,) = (tmp_path / "runs" / "acgan_tag_classifier").iterdir()
    assert cached.name.startswith("tag_classifier_16px_") and f"{cached.relative_to(tmp_path)} (trained now)" in out
    code, out, _ = evaluate_cli(args + ["--classifier-steps", "6"], capsys)  # other settings: another cache file
    assert code == 0 and len(list((tmp_path / "runs" / "acgan_tag_classifier").iterdir())) == 2
