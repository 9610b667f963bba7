"""Video steps of the manga → anime tooling: reformat, anime resize, intro/outro search, scene chunks."""
import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from _manganime_helpers import FPS, SIZE, episode_frames, write_json, write_video
from datasets.manganime import preprocess
from datasets.manganime.scene_cuts import SceneCuts
from datasets.manganime.video_io import VideoFrames
from runtime.errors import run_main

ROOT = Path(__file__).resolve().parents[1]


def run_cli(args, capsys):
    """Run preprocess.main in-process; returns (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exc:
        run_main(preprocess.main, [str(a) for a in args])
    captured = capsys.readouterr()
    return exc.value.code, captured.out, captured.err


def streams(path):
    with av.open(str(path)) as container:
        return {s.type: s.codec_context.name for s in container.streams}


# ---------------------------------------------------------------------------------------------------------
# reformat / anime

@pytest.fixture(scope="module")
def mkv_with_audio(tmp_path_factory):
    frames, _, _ = episode_frames([12, 12])
    return write_video(tmp_path_factory.mktemp("raw") / "ep.mkv", frames, audio=True), len(frames)


def test_reformat_remuxes_video_and_keeps_audio(mkv_with_audio, tmp_path, capsys):
    src, n = mkv_with_audio
    code, out, err = run_cli(["reformat", "--format", "mp4", "--out", tmp_path, "--path", src], capsys)
    assert code == 0, err
    dst = tmp_path / "ep.mp4"
    # PCM cannot live in mp4, so the audio is re-encoded; the h264 video is copied untouched.
    assert streams(dst) == {"video": "h264", "audio": "aac"}
    original, converted = VideoFrames(src), VideoFrames(dst)
    assert len(converted) == n
    assert np.array_equal(original[n - 1], converted[n - 1])  # a copy is bit-exact
    code, _, err = run_cli(["reformat", "--format", "mp4", "--out", tmp_path, "--path", src], capsys)
    assert code == 2 and "exists; pass --overwrite" in err
    code, _, err = run_cli(["reformat", "--format", "mp4", "--out", tmp_path, "--path", src, "--force"], capsys)
    assert code == 0, err  # the tool's older name for --overwrite


def test_anime_resizes_every_episode_and_keeps_audio(mkv_with_audio, tmp_path, capsys):
    src, n = mkv_with_audio
    data = tmp_path / "data" / "anime" / "show"
    data.mkdir(parents=True)
    (data / "0.mkv").write_bytes(src.read_bytes())
    code, out, err = run_cli(["anime", "--path", data, "--size", "32"], capsys)
    assert code == 0, err
    dst = tmp_path / "preprocess" / "anime" / "show" / "0.mp4"  # the study's data/ → preprocess/ layout
    video = VideoFrames(dst)
    assert video.frame_shape == (32, 32, 3) and len(video) == n and video.fps == pytest.approx(FPS, rel=1e-3)
    assert streams(dst)["audio"] == "aac"
    original = np.asarray(Image.fromarray(VideoFrames(src)[5]).resize((32, 32), Image.BICUBIC), np.float64)
    assert np.abs(video[5].astype(np.float64) - original).mean() < 6  # same picture, only smaller


def test_bad_video_inputs_give_one_line_errors(tmp_path, capsys):
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x01not a video" * 50)
    frames, _, _ = episode_frames([10])
    whole = write_video(tmp_path / "whole.mp4", frames).read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(whole[: len(whole) // 3])
    for path in (corrupt, truncated, tmp_path / "missing.mp4"):
        code, _, err = run_cli(["chunks", "--path", path], capsys)
        assert code == 2 and err.startswith("error: ") and str(path.name) in err and err.count("\n") == 1


def test_cli_runs_from_repo_root_and_exits_2_on_bad_input(tmp_path):
    result = subprocess.run([sys.executable, "datasets/manganime/preprocess.py", "chunks", "--path",
                             str(tmp_path / "nope.mp4")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: ") and "video file not found" in result.stderr


# ---------------------------------------------------------------------------------------------------------
# search

INTRO_AT, INTRO_LEN, INTRO_PICK = 30, 8, 5  # the reference still is intro frame 5 → video frame 35


def make_search_folder(root: Path, extra_config=None):
    """Two episodes with the same intro at different places and an outro at the end of episode 0."""
    folder = root / "anime"
    folder.mkdir()
    ep0, _, intro = episode_frames([40, 40], insert_at=INTRO_AT, marker_count=INTRO_LEN, seed=0)
    _, _, outro = episode_frames([1], insert_at=0, marker_count=6, seed=3)
    ep0 = ep0 + outro  # outro frames end the episode
    ep1, _, _ = episode_frames([30, 30], insert_at=3, marker_count=INTRO_LEN, seed=0)
    write_video(folder / "0.mp4", ep0)
    write_video(folder / "1.mp4", ep1)
    Image.fromarray(intro[INTRO_PICK]).save(folder / "intro.png")
    Image.fromarray(outro[2]).save(folder / "outro.png")
    config = {"intro": {"image": "intro.png", "left": 10, "right": 20},
              "outro": {"image": "outro.png", "left": 2, "right": 50},
              "stride": 2, "0": {"manga": "show/vol1", "pages": [0, 3]}}
    config.update(extra_config or {})
    write_json(folder / "config.json", config)
    return folder, len(ep0), len(ep1)


def test_search_finds_intro_within_a_frame_and_stores_clamped_ranges(tmp_path, capsys):
    folder, n0, n1 = make_search_folder(tmp_path)
    code, out, err = run_cli(["search", "--path", folder, "--type", "intro", "--yes"], capsys)
    assert code == 0, err
    config = json.loads((folder / "config.json").read_text())
    (first0, last0), = config["0"]["exclude"]
    (first1, last1), = config["1"]["exclude"]
    best0, best1 = first0 + 10, 3 + INTRO_PICK
    assert abs(best0 - (INTRO_AT + INTRO_PICK)) <= 1 and last0 == best0 + 20
    assert first1 == 0 and last1 - 20 in (best1 - 1, best1, best1 + 1)  # best−10 < 0 is clamped to 0
    # Other keys survive the atomic rewrite.
    assert config["stride"] == 2 and config["0"]["manga"] == "show/vol1" and config["0"]["pages"] == [0, 3]
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temp files left behind
    # A second run finds the same ranges and does not duplicate them.
    code, out, _ = run_cli(["search", "--path", folder, "--type", "intro", "--yes"], capsys)
    assert code == 0 and out.count("already stored") == 2
    assert json.loads((folder / "config.json").read_text()) == config


def test_search_outro_clamps_to_the_last_frame(tmp_path, capsys):
    folder, n0, _ = make_search_folder(tmp_path)
    code, out, err = run_cli(["search", "--path", folder, "--type", "outro", "--yes", "--minutes", "0.05"], capsys)
    assert code == 0, err
    config = json.loads((folder / "config.json").read_text())
    (first, last), = config["0"]["exclude"]
    outro_frame = n0 - 6 + 2
    assert abs(first + 2 - outro_frame) <= 1 and last == n0 - 1  # right=50 runs past the end: clamped
    # Episode 1 has no outro: its best frame is a weak match and is not stored.
    assert "exclude" not in config.get("1", {}) and "not stored: cosine below" in out


def test_search_without_yes_asks_and_respects_no(tmp_path, capsys, monkeypatch):
    folder, _, _ = make_search_folder(tmp_path)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    code, _, _ = run_cli(["search", "--path", folder, "--type", "intro"], capsys)
    assert code == 0 and "exclude" not in json.loads((folder / "config.json").read_text())["0"]

    def no_stdin(prompt):
        raise EOFError
    monkeypatch.setattr("builtins.input", no_stdin)
    code, _, err = run_cli(["search", "--path", folder, "--type", "intro"], capsys)
    assert code == 2 and "--yes" in err


@pytest.mark.parametrize("change, message", [
    ({"intro": {"image": "intro.png", "left": -1, "right": 3}}, "'left' must be >= 0"),
    ({"intro": {"image": "intro.png", "right": 3}}, "missing 'left'"),
    ({"0": {"exlude": [[1, 2]]}}, "unknown key(s) exlude"),
    ({"0": {"exclude": [[5, 2]]}}, "first > last"),
])
def test_search_rejects_bad_config_values(tmp_path, capsys, change, message):
    folder, _, _ = make_search_folder(tmp_path, change)
    code, _, err = run_cli(["search", "--path", folder, "--type", "intro", "--yes"], capsys)
    assert code == 2 and message in err


def test_search_accepts_a_full_size_screenshot_and_rejects_a_corrupt_one(tmp_path, capsys):
    folder, _, _ = make_search_folder(tmp_path)
    # A screenshot of the raw episode is larger than the preprocessed frames; it is squashed like them.
    Image.open(folder / "intro.png").resize((SIZE * 3, SIZE * 2), Image.NEAREST).save(folder / "intro.png")
    code, out, err = run_cli(["search", "--path", folder, "--type", "intro", "--yes"], capsys)
    assert code == 0, err
    (first, last), = json.loads((folder / "config.json").read_text())["0"]["exclude"]
    assert abs(first + 10 - (INTRO_AT + INTRO_PICK)) <= 1
    (folder / "intro.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    code, _, err = run_cli(["search", "--path", folder, "--type", "intro", "--yes"], capsys)
    assert code == 2 and "intro.png" in err and err.startswith("error: ")


# ---------------------------------------------------------------------------------------------------------
# chunks

def test_chunks_finds_the_inserted_cuts(tmp_path, capsys):
    frames, cuts, _ = episode_frames([17, 9, 25, 12])
    path = write_video(tmp_path / "ep.mp4", frames)
    code, out, err = run_cli(["chunks", "--path", path, "--out", tmp_path / "chunks.json"], capsys)
    assert code == 0, err
    saved = json.loads((tmp_path / "chunks.json").read_text())
    assert saved["cuts"] == cuts == [17, 26, 51]
    assert saved["chunks"] == [[0, 16], [17, 25], [26, 50], [51, 62]]


def test_centered_measure_sees_a_cut_the_raw_cosine_misses(tmp_path, capsys):
    # Two shots with the same colours, swapped halves: raw cosine 2·220·120/(220²+120²) ≈ 0.84, centred −1.
    first, second = np.full((SIZE, SIZE, 3), 120, np.uint8), np.full((SIZE, SIZE, 3), 120, np.uint8)
    first[:, : SIZE // 2], second[:, SIZE // 2:] = 220, 220
    path = write_video(tmp_path / "ep.mp4", [first] * 10 + [second] * 10)
    code, out, _ = run_cli(["chunks", "--path", path], capsys)
    assert code == 0 and "0 cut(s)" in out
    code, out, _ = run_cli(["chunks", "--path", path, "--measure", "centered"], capsys)
    assert code == 0 and "1 cut(s) at frames [10]" in out
    code, _, err = run_cli(["chunks", "--path", path, "--threshold", "1.5"], capsys)
    assert code == 2 and "cut threshold must be in (0, 1]" in err


def test_scene_walk_matches_full_scan_and_never_wraps(tmp_path):
    frames, cuts, _ = episode_frames([60, 5, 70])
    video = VideoFrames(write_video(tmp_path / "ep.mp4", frames))
    walker = SceneCuts(video)
    assert walker.next_cut(0) == 60 and walker.next_cut(60) == 65 and walker.next_cut(65) is None
    assert walker.previous_cut(100) == 65 and walker.previous_cut(65) == 60 and walker.previous_cut(60) is None
    assert walker.previous_cut(0) is None  # the study's walk wrapped around to the end here
    assert SceneCuts(video).all_cuts() == cuts
