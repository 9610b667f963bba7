"""Projection into a StyleGAN2 W space and discriminator ascent (mindspore_impl/projection.py,
mindspore_impl/discriminator_ascent.py, the CLI mindspore_impl/stylegan2_latent.py), on a tiny random G and D
(configs/stylegan2/tiny.yaml: 16 px, 8 channels):

- the losses against NumPy / torch (noise regulariser, LPIPS-style distance, area resize), the host Adam against
  torch.optim.Adam, NVlabs' lr / jitter ramps at known points;
- projection recovers the w a target was made from: its image error and w error are far below those of the
  w_avg start and of a random w (margins printed by the test and quoted in docs/manganime_projection.md);
- a 3-frame video: warm starts, outputs (npz, frames, side-by-side mp4 of 3 frames of 16×32), and a run limited to
  2 frames then resumed gives the same latents as one uninterrupted run; a resume with other settings is refused;
- lerp writes --frames frames, summarize a 1×8 grid;
- ascent raises σ(D(x)) in image and in W space, and writes its report, log and grid;
- bad input (missing or corrupt target, D given to project, G given to ascent): one `error:` line, exit 2, nothing
  written.
"""
from __future__ import annotations

import csv
from pathlib import Path

import av
import mindspore as ms
import numpy as np
import pytest
from PIL import Image

from mindspore_impl import stylegan2_latent as cli
from runtime.errors import run_main

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "stylegan2" / "tiny.yaml"
FAST = ["--w-avg-samples", "2000", "--quiet"]


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    """A seeded tiny random G and D, their plain checkpoints (G_ema, D) and the config."""
    from mindspore_impl.checkpoint_io import save_checkpoint_atomic
    from mindspore_impl.config import load_config
    from mindspore_impl.registry import build_network

    ms.set_context(mode=ms.PYNATIVE_MODE)
    d = tmp_path_factory.mktemp("projection_nets")
    cfg = load_config(TINY)
    ms.set_seed(0)
    G, D = build_network(cfg, "generator"), build_network(cfg, "discriminator")
    save_checkpoint_atomic(G, d / "G.ckpt", meta={"network": "G_ema", "family": "stylegan2"})
    save_checkpoint_atomic(D, d / "D.ckpt", meta={"network": "D", "family": "stylegan2"})
    G.set_train(False)
    return {"dir": d, "G": G, "D": D, "G_ckpt": d / "G.ckpt", "D_ckpt": d / "D.ckpt"}


def mapped(G, seed: int) -> np.ndarray:
    z = np.random.RandomState(seed).randn(1, G.z_dim).astype(np.float32)
    return G.mapping.mapped(ms.Tensor(z)).asnumpy()[0]


def render(G, w: np.ndarray) -> np.ndarray:
    """What the generator makes of w with its constant noise (how targets are made here)."""
    from mindspore_impl.projection import to_uint8

    ws = np.repeat(w[None, None], G.num_ws, axis=1).astype(np.float32)
    return to_uint8(G.synthesis(ms.Tensor(ws)).asnumpy())


def run_cli(argv, capsys):
    with pytest.raises(SystemExit) as done:
        run_main(cli.main, [str(a) for a in argv])
    captured = capsys.readouterr()
    return done.value.code, captured.out, captured.err


def net_args(nets, which="G"):
    return ["--network", nets[f"{which}_ckpt"], "--config", TINY]


def read_video(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


# ------------------------------------------------------------------------------------------------ losses, Adam

def numpy_noise_reg(maps):
    """NVlabs' loop in NumPy."""
    reg = 0.0
    for noise in maps:
        while True:
            reg += np.mean(noise * np.roll(noise, 1, axis=3)) ** 2 + np.mean(noise * np.roll(noise, 1, axis=2)) ** 2
            if noise.shape[2] <= 8:
                break
            n, c, h, w = noise.shape
            noise = noise.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))
    return reg


def test_noise_regularization_matches_numpy_and_torch():
    from mindspore_impl.losses.projection import noise_regularization

    rng = np.random.default_rng(0)
    # correlated maps (cumulative sums) so every pyramid level contributes a non-trivial value
    maps = [np.cumsum(rng.standard_normal((1, 1, r, r)), axis=3).astype(np.float32) for r in (4, 8, 16, 32)]
    ours = float(noise_regularization([ms.Tensor(m) for m in maps]).asnumpy())
    ref = numpy_noise_reg(maps)
    assert ref > 1e-3
    assert abs(ours - ref) <= 1e-5 * ref
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    reg = 0.0
    for m in maps:  # NVlabs projector.py's own formulation
        noise = torch.from_numpy(m)
        while True:
            reg += (noise * torch.roll(noise, shifts=1, dims=3)).mean() ** 2
            reg += (noise * torch.roll(noise, shifts=1, dims=2)).mean() ** 2
            if noise.shape[2] <= 8:
                break
            noise = F.avg_pool2d(noise, kernel_size=2)
    assert abs(ours - float(reg)) <= 1e-5 * float(reg)


def test_perceptual_distance_and_area_resize_match_numpy():
    from mindspore_impl.losses.projection import PerceptualDistance, area_downsample
    from mindspore_impl.projection import load_projection_vgg

    vgg = load_projection_vgg()
    rng = np.random.default_rng(1)
    a, b = (rng.uniform(-1, 1, (2, 3, 16, 16)).astype(np.float32) for _ in range(2))
    dist = PerceptualDistance(vgg)
    ours = dist(ms.Tensor(a), *dist.features(ms.Tensor(b))).asnumpy()

    def feats(x):
        conv4_4, taps = vgg(ms.Tensor(x))
        out = []
        for f in [t.asnumpy() for t in taps] + [conv4_4.asnumpy()]:
            out.append(f / (np.sqrt(np.square(f).sum(axis=1, keepdims=True)) + 1e-10))
        return out

    ref = sum(np.square(fa - fb).sum(axis=1).mean(axis=(1, 2)) for fa, fb in zip(feats(a), feats(b)))
    assert ours.shape == (2,) and np.all(ref > 0.1)
    np.testing.assert_allclose(ours, ref, rtol=1e-4)
    big = rng.standard_normal((1, 3, 512, 512)).astype(np.float32)
    down = area_downsample(ms.Tensor(big), 256).asnumpy()
    np.testing.assert_allclose(down, big.reshape(1, 3, 256, 2, 256, 2).mean(axis=(3, 5)), atol=1e-6)


def test_host_adam_matches_torch_adam_and_schedule_matches_nvlabs():
    from mindspore_impl.projection import HostAdam, ProjectionSettings, schedule

    s = ProjectionSettings(steps=100)
    lr0, jitter0 = schedule(0, 100, s)
    assert lr0 == 0.0 and jitter0 == pytest.approx(0.05)  # rampup from 0; full jitter at the start
    assert schedule(50, 100, s)[0] == pytest.approx(0.1)  # the plateau
    assert schedule(90, 100, s)[0] == pytest.approx(0.1 * (0.5 - 0.5 * np.cos(0.4 * np.pi)))
    assert schedule(80, 100, s)[1] == 0.0  # the jitter ramp (0.75 of the run) is over
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    p0 = rng.standard_normal(7).astype(np.float32)
    ours, theirs = p0.copy(), torch.tensor(p0.copy(), requires_grad=True)
    adam, topt = HostAdam([p0.shape]), torch.optim.Adam([theirs], betas=(0.9, 0.999), lr=0.1)
    for step in range(30):
        g = rng.standard_normal(7).astype(np.float32)
        lr = schedule(step, 30, s)[0] + 1e-3
        adam.step([ours], [g], lr)
        for group in topt.param_groups:
            group["lr"] = lr
        theirs.grad = torch.from_numpy(g)
        topt.step()
    np.testing.assert_allclose(ours, theirs.detach().numpy(), atol=1e-6)
    assert np.abs(ours - p0).max() > 0.1


# ------------------------------------------------------------------------------------------------ projection

def test_projection_recovers_the_w_of_its_target(nets):
    from mindspore_impl.projection import Projector, ProjectionSettings, load_projection_vgg

    G = nets["G"]
    projector = Projector(G, load_projection_vgg(), ProjectionSettings(steps=60, w_avg_samples=2000))
    w_true, w_random = mapped(G, 5), mapped(G, 9)
    target = render(G, w_true)
    result = projector.project(target, np.random.default_rng(0))

    def image_error(image):
        return float(np.abs(image.astype(np.float64) - target).mean())

    errors = {"projection": image_error(result.image), "w_avg": image_error(render(G, projector.w_avg)),
              "random w": image_error(render(G, w_random))}
    w_errors = {"projection": float(np.linalg.norm(result.w - w_true)),
                "w_avg": float(np.linalg.norm(projector.w_avg - w_true)),
                "random w": float(np.linalg.norm(w_random - w_true))}
    print(f"mean |pixel error| (0..255): {errors}; |w - w_true|: {w_errors}")
    # measured: 60 steps bring the image error from ~46 grey levels (w_avg, random w) to ~3, the w error ~5x down
    assert errors["projection"] < 0.2 * min(errors["w_avg"], errors["random w"])
    assert w_errors["projection"] < 0.4 * min(w_errors["w_avg"], w_errors["random w"])
    # the projection renders what it reports: the image is G's with the optimised w and noise
    np.testing.assert_array_equal(result.image, projector.render(result.w, result.noise))


@pytest.fixture(scope="module")
def video(nets, tmp_path_factory):
    """A 3-frame synthetic 16×16 video: G's images along a short path in W, and the path."""
    from runtime.video import write_frames

    G = nets["G"]
    w0, w1 = mapped(G, 5), mapped(G, 6)
    ws = [w0 + t * (w1 - w0) for t in (0.0, 0.2, 0.4)]
    path = tmp_path_factory.mktemp("projection_video") / "clip.mp4"
    assert write_frames(path, [render(G, w) for w in ws], 8, crf=0) == 3
    return path, ws


VIDEO_STEPS = ["--steps", "40", "--warm-steps", "15"]


def test_video_projection_outputs_warm_start_and_resume(nets, video, tmp_path, capsys):
    clip, ws = video
    full, part = tmp_path / "full", tmp_path / "part"
    code, out, err = run_cli(["project", *net_args(nets), "--target", clip, "--outdir", full, *VIDEO_STEPS, *FAST],
                             capsys)
    assert code == 0, err
    with np.load(full / "latents.npz") as data:
        w_full, frames, dist = data["w"], data["frame"], data["dist"]
        assert data["num_ws"] == nets["G"].num_ws and "steps" in str(data["settings"])
    assert w_full.shape == (3, nets["G"].w_dim) and list(frames) == [0, 1, 2] and np.all(np.isfinite(dist))
    for i in range(3):
        assert Image.open(full / "frames" / f"proj_{i:05d}.png").size == (16, 16)
        assert Image.open(full / "frames" / f"target_{i:05d}.png").size == (16, 16)
    side = read_video(full / "side_by_side.mp4")
    assert len(side) == 3 and side[0].shape == (16, 32, 3)
    # warm start: frames 1 and 2 (15 steps each, started from the previous frame) land near their own w
    base = render(nets["G"], np.load(full / "latents.npz")["w_avg"])
    for i in (1, 2):
        target = np.asarray(Image.open(full / "frames" / f"target_{i:05d}.png"), np.float64)
        proj = np.asarray(Image.open(full / "frames" / f"proj_{i:05d}.png"), np.float64)
        with capsys.disabled():
            print(f"frame {i}: |proj - target| {np.abs(proj - target).mean():.2f}, "
                  f"|G(w_avg) - target| {np.abs(base - target).mean():.2f}")
        assert np.abs(proj - target).mean() < 0.3 * np.abs(base - target).mean()

    code, _, err = run_cli(["project", *net_args(nets), "--target", clip, "--outdir", part, *VIDEO_STEPS, *FAST,
                            "--max-frames", "2"], capsys)
    assert code == 0, err
    assert np.load(part / "latents.npz")["w"].shape[0] == 2 and len(read_video(part / "side_by_side.mp4")) == 2
    # a resume with other settings is refused, naming the setting, and changes nothing
    before = (part / "latents.npz").read_bytes()
    code, _, err = run_cli(["project", *net_args(nets), "--target", clip, "--outdir", part, "--steps", "41",
                            "--warm-steps", "15", *FAST, "--resume"], capsys)
    assert code == 2 and "projection.steps=40" in err and len(err.strip().splitlines()) == 1
    assert (part / "latents.npz").read_bytes() == before
    # without --resume the existing outputs are refused
    code, _, err = run_cli(["project", *net_args(nets), "--target", clip, "--outdir", part, *VIDEO_STEPS, *FAST],
                           capsys)
    assert code == 2 and "exists" in err
    code, _, err = run_cli(["project", *net_args(nets), "--target", clip, "--outdir", part, *VIDEO_STEPS, *FAST,
                            "--resume"], capsys)
    assert code == 0, err
    with np.load(part / "latents.npz") as data:
        np.testing.assert_array_equal(data["w"], w_full)  # bit-identical to the uninterrupted run
        np.testing.assert_array_equal(data["frame"], [0, 1, 2])
    assert len(read_video(part / "side_by_side.mp4")) == 3
    for i in range(3):
        assert (part / "frames" / f"proj_{i:05d}.png").read_bytes() == \
            (full / "frames" / f"proj_{i:05d}.png").read_bytes()


def test_lerp_frame_count_and_summarize_grid(nets, tmp_path, capsys):
    from runtime.imaging import save_image

    G = nets["G"]
    a, b = save_image(tmp_path / "a.png", render(G, mapped(G, 5))), save_image(tmp_path / "b.png",
                                                                                render(G, mapped(G, 7)))
    out = tmp_path / "lerp"
    code, _, err = run_cli(["lerp", *net_args(nets), "--start", a, "--end", b, "--frames", "10", "--steps", "10",
                            "--outdir", out, *FAST[:2]], capsys)
    assert code == 0, err
    frames = read_video(out / "lerp.mp4")
    assert len(frames) == 10 and frames[0].shape == (16, 16, 3)
    assert np.load(out / "lerp.npz")["w"].shape == (10, G.w_dim)
    assert Image.open(out / "endpoints.png").size == (64, 16)
    code, _, err = run_cli(["summarize", "--input", out / "lerp.mp4", "--output", tmp_path / "sum.png"], capsys)
    assert code == 0, err
    grid = np.asarray(Image.open(tmp_path / "sum.png"))
    cell, gutter = cli.GRID_MIN_SIDE, 2
    assert grid.shape[1] == 8 * (cell + gutter) + gutter  # 8 columns of enlarged 16-px frames
    assert cell < grid.shape[0] < 2 * cell  # one row (plus the label margin)
    code, _, err = run_cli(["summarize", "--input", out / "lerp.mp4", "--output", tmp_path / "s2.png", "--count",
                            "11"], capsys)
    assert code == 2 and "fewer than --count 11" in err and not (tmp_path / "s2.png").exists()


# ------------------------------------------------------------------------------------------------ ascent

@pytest.mark.parametrize("space, extra", [("image", ["--lr", "0.01"]), ("w", ["--lr", "0.1"])])
def test_ascent_raises_the_discriminators_probability(nets, tmp_path, capsys, space, extra):
    out = tmp_path / space
    gen = ["--generator", nets["G_ckpt"]] if space == "w" else []
    code, stdout, err = run_cli(["ascent", *net_args(nets, "D"), "--space", space, *gen, "--steps", "60",
                                 "--every", "20", "--outdir", out, "--quiet", *extra], capsys)
    assert code == 0, err
    with open(out / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [0, 20, 40, 60]
    p = [float(r["p"]) for r in rows]
    with capsys.disabled():
        print(f"ascent {space}: p {p}")
    assert p[-1] > p[0] + 0.1  # measured: image 0.47 -> 0.67, w 0.38 -> 0.59
    assert all(b > a for a, b in zip(p, p[1:]))
    report = (out / "report.md").read_text()
    assert f"first probability sigma(D(x)): {p[0]:.4f}" in report and f"last probability: {p[-1]:.4f}" in report
    for step in (0, 20, 40, 60):
        assert Image.open(out / f"step_{step:05d}.png").size == (16, 16)
    grid = Image.open(out / "grid.png")
    assert grid.size[0] == 4 * (cli.GRID_MIN_SIDE + 2) + 2


# ------------------------------------------------------------------------------------------------ bad input

def test_bad_inputs_give_one_line_errors_and_write_nothing(nets, tmp_path, capsys):
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    bad_video = tmp_path / "corrupt.mp4"
    bad_video.write_bytes(b"\x00" * 64)
    target = tmp_path / "ok.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(target)
    cases = [
        (["project", *net_args(nets), "--target", tmp_path / "missing.png"], "not found"),
        (["project", *net_args(nets), "--target", corrupt], "cannot read image"),
        (["project", *net_args(nets), "--target", bad_video], "cannot read video"),
        (["project", *net_args(nets, "D"), "--target", target], "holds network 'D'"),
        (["ascent", *net_args(nets, "G")], "holds network 'G_ema', not 'D'"),
        (["project", *net_args(nets), "--target", target, "--resume"], "nothing to resume"),
    ]
    for i, (argv, message) in enumerate(cases):
        out = tmp_path / f"out{i}"
        code, stdout, err = run_cli([*argv, "--outdir", out], capsys)
        assert code == 2, (argv, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], (argv, err)
        assert not out.exists(), argv
