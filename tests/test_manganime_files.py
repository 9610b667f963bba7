"""File-level steps of the manga → anime tooling: safe renumbering, manga page preprocessing, tag files."""
import json

import numpy as np
import pytest
from PIL import Image

from _manganime_helpers import write_json, write_page
from datasets.manganime import preprocess
from datasets.manganime.files import natural_key
from datasets.manganime.tags import TagError, TagFile
from runtime.errors import run_main


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as exc:
        run_main(preprocess.main, [str(a) for a in args])
    captured = capsys.readouterr()
    return exc.value.code, captured.out, captured.err


def contents(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


# ---------------------------------------------------------------------------------------------------------
# index

def test_index_renumbers_in_natural_order_through_name_collisions(tmp_path, capsys):
    # "1.mkv" must become 0, and "ep2" must become 1 while "1.mkv" is still in the way.
    for name in ("ep10.mkv", "ep2.mp4", "1.mkv", "intro.png"):
        (tmp_path / name).write_bytes(name.encode())
    code, out, err = run_cli(["index", "--path", tmp_path], capsys)
    assert code == 0, err
    assert contents(tmp_path) == {"0.mkv": b"1.mkv", "1.mp4": b"ep2.mp4", "2.mkv": b"ep10.mkv",
                                  "intro.png": b"intro.png"}  # own extensions kept; the still untouched
    code, out, _ = run_cli(["index", "--path", tmp_path], capsys)
    assert code == 0 and "already indexed" in out


def test_index_dry_run_and_refusals_leave_files_untouched(tmp_path, capsys):
    for name in ("b.png", "a.png", "1.png"):
        (tmp_path / name).write_bytes(name.encode())
    before = contents(tmp_path)
    code, out, _ = run_cli(["index", "--path", tmp_path, "--dry-run"], capsys)
    assert code == 0 and "1.png → 0.png" in out and "a.png → 1.png" in out and contents(tmp_path) == before
    # Only a.png and b.png are selected: b.png's target 1.png belongs to a file outside the selection.
    code, _, err = run_cli(["index", "--path", tmp_path, "--pattern", "[ab].png"], capsys)
    assert code == 2 and "1.png: already exists" in err and contents(tmp_path) == before


def test_index_refuses_once_episodes_are_labelled(tmp_path, capsys):
    (tmp_path / "ep1.mp4").write_bytes(b"x")
    (tmp_path / "ep1.json").write_text("[3]")
    code, _, err = run_cli(["index", "--path", tmp_path], capsys)
    assert code == 2 and "ep1.json" in err and (tmp_path / "ep1.mp4").exists()


def test_natural_key_orders_numbers_numerically():
    assert sorted(["10.png", "2.png", "1.png"], key=natural_key) == ["1.png", "2.png", "10.png"]


# ---------------------------------------------------------------------------------------------------------
# manga

@pytest.fixture
def manga_scans(tmp_path):
    """Eight pages named so that only natural sorting gets the order right; page i has grey level 20 + 25 i
    inside a black border that the config's crop removes exactly."""
    folder = tmp_path / "data" / "manga" / "show" / "vol1"
    folder.mkdir(parents=True)
    border = (4, 2, 3, 1)
    for i in range(8):
        write_page(folder / f"p{i + 1}.png", 20 + 25 * i, size=(60 + 2 * i, 80), border=border)
    write_json(folder / "config.json", {"start": 1, "end": 1, "exclude": [3], "crop": list(border)})
    return folder


def test_manga_keeps_the_configured_pages_cropped_grey_and_resized(manga_scans, tmp_path, capsys):
    code, out, err = run_cli(["manga", "--path", manga_scans, "--size", "32"], capsys)
    assert code == 0, err
    out_dir = tmp_path / "preprocess" / "manga" / "show" / "vol1"
    kept = [1, 2, 4, 5, 6]  # start=1, end=1 and exclude=[3] of source pages 0..7
    assert sorted(p.name for p in out_dir.glob("*.png")) == [f"{k}.png" for k in range(len(kept))]
    for k, source in enumerate(kept):
        page = np.asarray(Image.open(out_dir / f"{k}.png"))
        assert page.shape == (32, 32) and page.dtype == np.uint8
        # A correct crop leaves no black border: the page is flat at its source level.
        assert page.min() == page.max() == 20 + 25 * source
    assert json.loads((out_dir / "sources.json").read_text()) == [f"p{i + 1}.png" for i in kept]


def test_manga_greyscale_uses_the_study_weights_and_drops_stale_pages(manga_scans, tmp_path, capsys):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "9.png").write_bytes(b"stale page from an earlier run")
    write_page(manga_scans / "p3.png", 0, size=(60, 80), border=(4, 2, 3, 1), colour=(200, 100, 40))
    code, _, err = run_cli(["manga", "--path", manga_scans, "--out", out_dir, "--size", "16"], capsys)
    assert code == 2 and "9.png exists; pass --overwrite" in err  # an earlier run's pages are kept by default
    code, _, err = run_cli(["manga", "--path", manga_scans, "--out", out_dir, "--size", "16", "--overwrite"], capsys)
    assert code == 0, err
    expected = round(0.2125 * 200 + 0.7154 * 100 + 0.0721 * 40)  # pims.as_grey, as in the study
    assert abs(int(np.asarray(Image.open(out_dir / "1.png")).mean()) - expected) <= 1
    assert not (out_dir / "9.png").exists()


@pytest.mark.parametrize("config, message", [
    ({"start": -1}, "'start' must be >= 0"),
    ({"start": 4, "end": 4}, "leave no pages"),
    ({"exclude": [8]}, "exclude lists page(s) [8]"),
    ({"crop": [1, 2, 3]}, "'crop' must be a list [top, bottom, left, right]"),
    ({"crop": [30, 30, 0, 0]}, "removes the whole"),
    ({"start": "1"}, "'start' must be an integer"),
    ({"exlude": [1]}, "unknown key(s) exlude"),
])
def test_manga_rejects_bad_config_values(manga_scans, capsys, config, message):
    write_json(manga_scans / "config.json", config)
    code, _, err = run_cli(["manga", "--path", manga_scans, "--size", "16"], capsys)
    assert code == 2 and message in err and err.count("\n") == 1


def test_manga_names_a_corrupt_page_and_handles_odd_modes(manga_scans, tmp_path, capsys):
    write_page(manga_scans / "p2.png", 90, size=(60, 80), border=(4, 2, 3, 1), mode="LA")
    write_page(manga_scans / "p4.png", 140, size=(60, 80), border=(4, 2, 3, 1), mode="L")
    code, _, err = run_cli(["manga", "--path", manga_scans, "--out", tmp_path / "ok", "--size", "16"], capsys)
    assert code == 0, err
    assert np.asarray(Image.open(tmp_path / "ok" / "0.png")).max() == 90  # 2-channel grey+alpha page
    data = (manga_scans / "p5.png").read_bytes()
    (manga_scans / "p5.png").write_bytes(data[: len(data) // 2])  # truncated scan
    code, _, err = run_cli(["manga", "--path", manga_scans, "--out", tmp_path / "bad", "--size", "16"], capsys)
    assert code == 2 and "p5.png" in err


# ---------------------------------------------------------------------------------------------------------
# tags

def test_tags_label_every_frame_since_the_previous_tag(tmp_path):
    tags = TagFile(tmp_path / "0.json", n_frames=100, n_pages=5)
    assert tags.page_of(0) is None and tags.labelled_frames() == 0
    tags.tag(0, 9)
    tags.tag(2, 40)  # page 1 is skipped: it gets no frames
    assert [tags.page_of(f) for f in (0, 9, 10, 40, 41)] == [0, 0, 2, 2, None]
    assert json.loads((tmp_path / "0.json").read_text()) == [9, 100, 40, 100, 100]  # study format + sentinel
    assert tags.labelled_frames() == 41


def test_tags_refuse_monotonicity_breaks_and_undo_restores(tmp_path):
    tags = TagFile(tmp_path / "0.json", n_frames=50, n_pages=4)
    tags.tag(1, 20)
    with pytest.raises(TagError, match="must come after frame 20"):
        tags.tag(2, 20)
    with pytest.raises(TagError, match="must come before frame 20"):
        tags.tag(0, 25)
    with pytest.raises(TagError, match="outside"):
        tags.tag(3, 50)
    assert json.loads((tmp_path / "0.json").read_text()) == [50, 20, 50, 50]  # refusals saved nothing
    tags.tag(1, 30)  # re-tagging a page is fine while the order holds
    assert tags.undo() == 1 and tags.tags == [50, 20, 50, 50]
    assert tags.undo() == 1 and json.loads((tmp_path / "0.json").read_text()) == [50] * 4
    with pytest.raises(TagError, match="nothing to undo"):
        tags.undo()


def test_tag_file_matches_the_study_bisect_and_is_validated_on_load(tmp_path):
    path = write_json(tmp_path / "0.json", [3, 3, 10, 30])  # a study file with an empty page
    tags = TagFile.open(path, n_frames=40, n_pages=4)
    import bisect
    assert all(tags.page_of(f) == bisect.bisect_left([3, 3, 10, 30], f) for f in range(31))
    with pytest.raises(TagError, match="4 entries but the episode has 5 pages"):
        TagFile.open(path, n_frames=40, n_pages=5)
    with pytest.raises(TagError, match="outside the episode's 20 kept frames"):
        TagFile.open(path, n_frames=20, n_pages=4)
    write_json(path, [10, 3, 40, 40])
    with pytest.raises(TagError, match="decrease"):
        TagFile.open(path, n_frames=40, n_pages=4)


def test_a_failed_save_leaves_memory_matching_the_file(tmp_path, monkeypatch):
    tags = TagFile(tmp_path / "0.json", n_frames=10, n_pages=2)
    tags.tag(0, 3)

    def disk_full(path, data):
        raise OSError("No space left on device")
    monkeypatch.setattr("datasets.manganime.tags.write_json_atomic", disk_full)
    with pytest.raises(OSError):
        tags.tag(1, 5)
    assert tags.tags == [3, 10] and tags.page_of(5) is None
    assert json.loads((tmp_path / "0.json").read_text()) == [3, 10]
