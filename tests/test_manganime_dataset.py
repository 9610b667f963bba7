"""The `dataset` export: (frame, next frame, page) triples, held-out episodes and the StyleGAN archive."""
import csv
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from _manganime_helpers import episode_frames, write_json, write_page, write_video
from datasets.manganime import preprocess
from datasets.manganime.video_io import VideoFrames
from runtime.errors import run_main

EXCLUDE = (30, 35)  # raw frames of episode 0 cut out (an "intro")


def kept_to_raw(k):
    return k if k < EXCLUDE[0] else k + EXCLUDE[1] - EXCLUDE[0] + 1


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """Episode 0: 60 frames (cuts at raw 20 and 40), raw 30–35 excluded → 54 kept frames, pages 1–4 of the
    volume, tagged [9, untagged, 40, untagged]. Episode 1: 30 frames, pages 0–2, fully tagged. Episode 2 is
    switched off with include: false."""
    root = tmp_path_factory.mktemp("project")
    anime, manga = root / "anime", root / "manga"
    volume = manga / "show" / "vol1"
    anime.mkdir()
    volume.mkdir(parents=True)
    for i in range(6):
        write_page(volume / f"{i}.png", 30 * i + 10, size=(16, 16), mode="L")
    write_video(anime / "0.mp4", episode_frames([20, 20, 20])[0])
    write_video(anime / "1.mp4", episode_frames([15, 15], seed=2)[0])
    write_video(anime / "2.mp4", episode_frames([10], seed=4)[0])
    write_json(anime / "config.json", {
        "stride": 2,
        "0": {"manga": "show/vol1", "pages": [1, 4], "exclude": [list(EXCLUDE)]},
        "1": {"manga": "show/vol1", "pages": [0, 2]},
        "2": {"manga": "show/vol1", "include": False},
    })
    write_json(anime / "0.json", [9, 54, 40, 54])
    write_json(anime / "1.json", [5, 12, 29])
    return root, anime, manga


def export(project, tmp_path, capsys, *extra):
    root, anime, manga = project
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        run_main(preprocess.main, ["dataset", "--anime", str(anime), "--manga", str(manga), "--out", str(out),
                                   *map(str, extra)])
    captured = capsys.readouterr()
    return exc.value.code, out, captured.err


def read_rows(out):
    with open(out / "triples.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_triples_pair_each_frame_with_the_next_frame(project, tmp_path, capsys):
    code, out, err = export(project, tmp_path, capsys, "--val-episodes", "1")
    assert code == 0, err
    rows = [r for r in read_rows(out) if r["episode"] == "0"]
    # Stride 2 (from config.json); frames after the last tag (40) are unlabelled; the pair (28, 30) would
    # jump over the excluded raw frames 30–35, so it is not a frame and its successor.
    expected = [(a, a + 2, 0 if a <= 9 else 2) for a in range(0, 41, 2) if a != 28]
    assert [(int(r["frame"]), int(r["next_frame"]), int(r["page"])) for r in rows] == expected
    video = VideoFrames(project[1] / "0.mp4")
    for r in rows:
        a, b = int(r["frame"]), int(r["next_frame"])
        assert (int(r["raw_frame"]), int(r["raw_next_frame"])) == (kept_to_raw(a), kept_to_raw(b))
        frame = np.asarray(Image.open(out / r["frame_path"]))
        following = np.asarray(Image.open(out / r["next_path"]))
        assert np.array_equal(frame, video[kept_to_raw(a)])
        assert np.array_equal(following, video[kept_to_raw(b)])
        assert not np.array_equal(frame, following)  # the study's data.py returned the same frame here
        page_file = project[2] / "show" / "vol1" / f"{1 + int(r['page'])}.png"  # episode pages start at file 1
        assert (out / r["page_path"]).read_bytes() == page_file.read_bytes()


def test_splits_include_flag_and_stylegan_zip(project, tmp_path, capsys):
    code, out, err = export(project, tmp_path, capsys, "--val-episodes", "1")
    assert code == 0, err
    rows = read_rows(out)
    assert {r["episode"]: r["split"] for r in rows} == {"0": "train", "1": "val"}  # episode 2 switched off
    assert sum(r["episode"] == "1" for r in rows) == 14  # 15 strided frames, all labelled → 14 pairs
    summary = json.loads((out / "dataset.json").read_text())
    assert summary["triples"] == {"train": 20, "val": 14} and set(summary["episodes"]) == {"0", "1"}
    with zipfile.ZipFile(out / "stylegan.zip") as archive:
        names = archive.namelist()
        assert len(names) == 27 + 15  # every strided kept frame: ceil(54 / 2) + ceil(30 / 2)
        assert "0/000036.png" in names and "0/000032.png" not in names  # kept 30 is raw 36; 30–35 excluded
        image = np.asarray(Image.open(archive.open("0/000036.png")))
    assert np.array_equal(image, VideoFrames(project[1] / "0.mp4")[36])


def test_skip_cuts_and_labelled_stylegan_folder(project, tmp_path, capsys):
    code, out, err = export(project, tmp_path, capsys, "--skip-cuts", "--stylegan", "folder",
                            "--stylegan-frames", "labelled")
    assert code == 0, err
    frames = [int(r["frame"]) for r in read_rows(out) if r["episode"] == "0"]
    # Scene cuts at raw 20 and 40 (kept 20 and 34): the pairs (18, 20) and (32, 34) straddle them.
    assert 18 not in frames and 32 not in frames and len(frames) == 18
    assert len(list((out / "stylegan").glob("0_*.png"))) == 21  # strided frames 0..40 are labelled


@pytest.mark.parametrize("args, setup, message", [
    (["--val-episodes", "7"], None, "validation episode(s) 7 not found"),
    ([], "nonempty", "output folder is not empty"),
    (["--stride", "0"], None, "stride must be >= 1"),
])
def test_dataset_rejects_bad_requests(project, tmp_path, capsys, args, setup, message):
    if setup == "nonempty":
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "x").write_text("x")
    code, _, err = export(project, tmp_path, capsys, *args)
    assert code == 2 and message in err


def test_dataset_rejects_tags_that_no_longer_fit(project, tmp_path, capsys):
    root, anime, manga = project
    config = json.loads((anime / "config.json").read_text())
    config["1"]["pages"] = [0, 3]  # the tag file has 3 entries; the episode now has 4 pages
    bad = tmp_path / "anime"
    bad.mkdir()
    for name in ("0.mp4", "1.mp4", "0.json", "1.json"):
        (bad / name).write_bytes((anime / name).read_bytes())
    write_json(bad / "config.json", config)
    with pytest.raises(SystemExit) as exc:
        run_main(preprocess.main, ["dataset", "--anime", str(bad), "--manga", str(manga), "--out", str(tmp_path / "o")])
    assert exc.value.code == 2 and "3 entries but the episode has 4 pages" in capsys.readouterr().err
