"""The moving-shapes synthetic project (datasets/manganime/moving_shapes.py) through the real dataset tooling, and
the frame predictor's loader (datasets/manganime/triples.py): the page of every triple follows the tags by the
monotonicity rule, pages determine the motion, held-out episodes stay out of training, the stride flag chains
pairs, earlier frames are found (or repeated at a shot start), and batches are a pure function of
(seed, epoch, step, shard)."""
import bisect
import csv
import json

import numpy as np
import pytest
from PIL import Image

from datasets.manganime.dataset_export import export_dataset
from datasets.manganime.errors import ManganimeError
from datasets.manganime.moving_shapes import (TITLE_FRAMES, ProjectSpec, build, draw_page, load_ground_truth,
                                              velocity_of)
from datasets.manganime.triples import PredictionTriples
from runtime.predictor import page_input

SPEC = ProjectSpec(episodes=4, val_episodes=1, shots=3, shot_frames=6, size=32, page_side=48, seed=3)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    summary = build(root, SPEC)
    with open(root / "dataset" / "triples.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return root, summary, rows, load_ground_truth(root)


def test_export_summary_counts_cuts_and_splits(project):
    root, summary, rows, truth = project
    # per episode: 3 labelled shots of 6 frames → 18 labelled frames, 17 pairs, of which 3 cross a shot change
    # (two between labelled shots, one into the unlabelled tail) and are dropped as scene cuts
    for name, counts in summary["episodes"].items():
        assert counts["labelled_frames"] == 18 and counts["skipped_at_cuts"] == 3 and counts["triples"] == 15
    assert summary["triples"] == {"train": 45, "val": 15}
    assert {r["episode"] for r in rows if r["split"] == "val"} == {"3"}


def test_page_lookup_agrees_with_the_tags(project):
    """Every triple's page is bisect_left over the tagged pages' last frames (the study's rule), untagged pages
    (the dialogue page, the tail's page) never get a frame, and the page file is the one drawn for that shot."""
    root, _, rows, truth = project
    for row in rows:
        episode = truth[row["episode"]]
        tags = json.loads((root / "anime" / f"{row['episode']}.json").read_text())
        kept_frames = len(episode.frame_page)
        tagged = [p for p, t in enumerate(tags) if t < kept_frames]
        frame = int(row["frame"])
        i = bisect.bisect_left([tags[p] for p in tagged], frame)
        assert int(row["page"]) == tagged[i] == episode.frame_page[frame]
        assert int(row["raw_frame"]) == frame + TITLE_FRAMES  # the excluded title card shifts raw numbers
        assert int(row["page"]) in episode.page_velocity  # an arrow page, never the untagged dialogue page
        stored = np.asarray(Image.open(root / "dataset" / row["page_path"]))
        drawn = np.asarray(Image.open(root / "manga" / f"shapes/ep{row['episode']}" / f"{row['page']}.png"))
        assert np.array_equal(stored, drawn)
        # both frames of a triple belong to one shot: pairs across a shot change were dropped as cuts
        assert episode.frame_shot[frame] == episode.frame_shot[int(row["next_frame"])]
    tags = json.loads((root / "anime" / "0.json").read_text())
    untagged = [p for p, t in enumerate(tags) if t == len(truth["0"].frame_page)]
    assert len(untagged) == 2  # the dialogue page and the tail shot's page
    assert not {int(r["page"]) for r in rows if r["episode"] == "0"} & set(untagged)


def test_pages_determine_the_motion(project):
    """Moving the frame by the page's velocity predicts the next frame far better than copying it: the page is
    the information a predictor needs."""
    root, _, rows, truth = project
    shifted_err = copy_err = 0.0
    for row in rows:
        vx, vy = truth[row["episode"]].page_velocity[int(row["page"])]
        a = np.asarray(Image.open(root / "dataset" / row["frame_path"])).astype(np.float64)
        b = np.asarray(Image.open(root / "dataset" / row["next_path"])).astype(np.float64)
        shifted_err += np.mean((np.roll(a, (vy, vx), axis=(0, 1)) - b)[4:-4, 4:-4] ** 2)
        copy_err += np.mean((a - b)[4:-4, 4:-4] ** 2)
    assert shifted_err < 0.2 * copy_err


def test_page_arrows_differ_by_direction_and_speed():
    rng = np.random.default_rng(0)
    pages = [draw_page(d, s, 48, np.random.default_rng(0)) for d in range(8) for s in (1, 2)]
    assert len({p.tobytes() for p in pages}) == 16
    assert velocity_of(1, 2, unit=2) == (4, 4) and velocity_of(6, 1) == (0, -1)
    assert draw_page(0, 1, 48, rng).dtype == np.uint8


def test_loader_samples_pages_and_held_out_split(project):
    root = project[0] / "dataset"
    train = PredictionTriples(root, "train", page_size=(32, 32))
    val = PredictionTriples(root, "val", page_size=(32, 32))
    assert len(train) == 45 and len(val) == 15
    assert train.episodes == ["0", "1", "2"] and val.episodes == ["3"]
    batch = train.arrays([0, 7])
    assert set(batch) == {"frame", "page", "target"}
    assert batch["frame"].shape == (2, 3, 32, 32) and batch["page"].shape == (2, 1, 32, 32)
    sample = train.samples[7]
    np.testing.assert_array_equal(batch["page"][1:], page_input(train.page_image(sample), 32, 32))
    truth = project[3][sample.episode]
    assert sample.page == truth.frame_page[sample.raw_frame - TITLE_FRAMES]
    # a network whose page port takes 3 channels gets the grey page replicated, exactly as the runtime feeds it
    rgb = PredictionTriples(root, "train", page_size=(32, 32), page_channels=3).arrays([0, 7])["page"]
    assert rgb.shape == (2, 3, 32, 32)
    np.testing.assert_array_equal(rgb[1:], page_input(train.page_image(sample), 32, 32, channels=3))
    np.testing.assert_array_equal(rgb[:, 1], batch["page"][:, 0])


def test_stride_chains_consecutive_pairs(project):
    root = project[0]
    loader = PredictionTriples(root / "dataset", "train", stride=2, page_size=(32, 32))
    truth = project[3]
    raw_of = {s.target: int(s.target.rsplit("/", 1)[1].split(".")[0]) for s in loader.samples}
    for s in loader.samples:
        assert raw_of[s.target] == s.raw_frame + 2  # two raw frames on
        shots = truth[s.episode].frame_shot
        assert shots[s.raw_frame - TITLE_FRAMES] == shots[s.raw_frame + 2 - TITLE_FRAMES]
    # the export's own stride 2 gives a subset of these pairs (it starts from every second kept frame only)
    export_dataset(root / "anime", root / "manga", root / "stride2", stride=2, val_episodes=["3"],
                   stylegan="none", skip_cuts=True)
    with open(root / "stride2" / "triples.csv", newline="") as fh:
        exported = {(r["episode"], int(r["raw_frame"])) for r in csv.DictReader(fh) if r["split"] == "train"}
    assert exported and exported <= {(s.episode, s.raw_frame) for s in loader.samples}
    assert len(loader) == 3 * 3 * 4  # per labelled shot of 6 frames: 4 pairs two apart
    with pytest.raises(ManganimeError, match="not a multiple of the export's stride 2"):
        PredictionTriples(root / "stride2", "train", stride=3)


def test_unroll_carries_the_later_frames_of_one_shot(project):
    loader = PredictionTriples(project[0] / "dataset", "train", unroll=3, page_size=(32, 32))
    assert len(loader) == 3 * 3 * 3  # per labelled shot of 6 frames, 3 have 3 successors in the shot
    for s in loader.samples:
        raws = [int(p.rsplit("/", 1)[1].split(".")[0]) for p in (s.target, *s.later)]
        assert raws == [s.raw_frame + 1, s.raw_frame + 2, s.raw_frame + 3]
        shots = project[3][s.episode].frame_shot
        assert len({shots[r - TITLE_FRAMES] for r in [s.raw_frame, *raws]}) == 1
    batch = loader.batch(0, 0, 2)
    assert set(batch) == {"frame", "page", "target", "target_2", "target_3"}


def test_earlier_frames_are_found_or_repeated_at_a_shot_start(project):
    loader = PredictionTriples(project[0] / "dataset", "train", context=2, page_size=(32, 32))
    by_raw = {(s.episode, s.raw_frame): s for s in loader.samples}
    first = by_raw[("0", TITLE_FRAMES)]  # the first frame of the first shot: no history
    assert first.previous == (first.frame, first.frame)
    second = by_raw[("0", TITLE_FRAMES + 1)]
    assert second.previous == (first.frame, first.frame)  # one step back exists, the second repeats it
    later = by_raw[("0", TITLE_FRAMES + 4)]
    assert later.previous == (by_raw[("0", TITLE_FRAMES + 3)].frame, by_raw[("0", TITLE_FRAMES + 2)].frame)
    assert set(loader.batch(0, 0, 4)) == {"frame", "page", "target", "previous_1", "previous_2"}


def test_batches_are_a_pure_function_of_seed_epoch_step_and_shard(project):
    root = project[0] / "dataset"
    a = PredictionTriples(root, seed=5, page_size=(32, 32))
    b = PredictionTriples(root, seed=5, page_size=(32, 32))
    for key in ("frame", "page", "target"):
        np.testing.assert_array_equal(a.batch(2, 1, 4)[key], b.batch(2, 1, 4)[key])
    assert not np.array_equal(a.batch(2, 1, 4)["frame"], a.batch(3, 1, 4)["frame"])
    shards = [PredictionTriples(root, seed=5, shard=i, shards=2, page_size=(32, 32)) for i in range(2)]
    whole = a.batch(1, 2, 4)["target"]
    parts = [s.batch(1, 2, 2)["target"] for s in shards]
    np.testing.assert_array_equal(np.stack(parts, 1).reshape(whole.shape), whole)  # interleaved slices
    assert a.steps_per_epoch(8) == 45 // 8
    with pytest.raises(ManganimeError, match="fewer than one global batch"):
        a.steps_per_epoch(64)


def test_loader_errors_name_the_problem(tmp_path, project):
    with pytest.raises(ManganimeError, match="no triples.csv"):
        PredictionTriples(tmp_path)
    with pytest.raises(ManganimeError, match="split must be one of"):
        PredictionTriples(project[0] / "dataset", "test")
    with pytest.raises(ManganimeError, match="page_channels must be 1 or 3"):
        PredictionTriples(project[0] / "dataset", page_channels=2)
    with pytest.raises(ManganimeError, match="size multiple 64"):
        PredictionTriples(project[0] / "dataset", size_multiple=64)
