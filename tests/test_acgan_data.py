"""ACGAN data: tag encoding, the torch-free tags.pickle reader (real torch files, a crafted malicious pickle), the
study's layout and the CSV reader with their errors, prior estimation, host-side batches, procedural faces."""
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datasets import acgan_tags as T
from datasets.procedural_faces import EYE_RGB, HAIR_RGB, draw_face, make_faces, write_study_layout
from datasets.torch_pickle import TorchPickleError, dumps_torch_pickle, load_torch_pickle

ROOT = Path(__file__).resolve().parents[1]


def test_tags_are_hair_one_hot_then_eye_one_hot():
    assert len(T.HAIR) == 12 and len(T.EYES) == 10 and T.NUM_TAGS == 22
    assert T.HAIR[:3] == ("orange", "white", "aqua") and T.EYES[-1] == "blue"  # the study's utils.py order
    row = T.encode_tags("aqua", "blue")
    assert row.dtype == np.float32 and np.flatnonzero(row).tolist() == [2, 21]
    np.testing.assert_array_equal(T.encode_tags("Blonde hair", "red eyes"), T.one_hot([11], [8])[0])
    assert T.decode_tags(row, "x") == (2, 9)
    assert T.decode_tags((row[:12], row[12:]), "x") == (2, 9)  # the (hair, eye) pair the study's loader unpacks


@pytest.mark.parametrize("vector, message", [
    (np.zeros(22), "exactly one hair and one eye tag, got 0 hair and 0 eye"),
    (T.one_hot([1], [1])[0] + T.one_hot([2], [1])[0] * np.r_[np.ones(12), np.zeros(10)],
     "exactly one hair and one eye tag, got 2 hair and 1 eye"),
    (np.full(22, 0.5), "must be 0 or 1"), (np.zeros(21), "has 22 values"),
    ((np.zeros(12), np.zeros(11)), "needs 12 and 10 values"), ("aqua", "expected a tag vector, got a str"),
])
def test_bad_tag_vectors_name_the_entry(vector, message):
    with pytest.raises(T.TagError, match="tags.pickle \\[3\\]: .*" + message.replace("(", r"\(").replace(")", r"\)")):
        T.decode_tags(vector, "tags.pickle [3]")


def test_unknown_colour_names_list_the_valid_ones():
    with pytest.raises(T.TagError) as info:
        T.encode_tags("teal", "blue", "row 5")
    assert str(info.value) == ("row 5: unknown hair colour 'teal'; one of orange, white, aqua, gray, green, red, "
                               "purple, pink, blue, black, brown, blonde")
    with pytest.raises(T.TagError, match="unknown eye colour 'white'; one of black, orange, pink, yellow"):
        T.encode_tags("white", "white")


# -- the pickle reader ---------------------------------------------------------------------------------------------
def test_reads_tags_pickled_by_real_torch_in_every_format(tmp_path):
    torch = pytest.importorskip("torch")
    tags = {i: torch.tensor(T.one_hot([i % 12], [i % 10])[0]) for i in range(5)}
    tags[5] = (torch.eye(12)[3], torch.eye(10)[7])  # the pair form
    tags[6] = torch.tensor(T.one_hot([4], [2])[0], dtype=torch.float64)
    with open(tmp_path / "plain.pickle", "wb") as f:
        pickle.dump(tags, f)  # how the study's tags.pickle was made: storages as torch.storage._load_from_bytes
    torch.save(tags, tmp_path / "zip.pickle")
    torch.save(tags, tmp_path / "legacy.pickle", _use_new_zipfile_serialization=False)
    view = torch.arange(40.0).reshape(4, 10)[:, 2:5].t()  # a non-contiguous view of a larger storage
    with open(tmp_path / "view.pickle", "wb") as f:
        pickle.dump({"v": view}, f)
    for name in ("plain", "zip", "legacy"):
        assert T.read_tags_pickle(tmp_path / f"{name}.pickle") == {**{i: (i % 12, i % 10) for i in range(5)},
                                                                    5: (3, 7), 6: (4, 2)}, name
    np.testing.assert_array_equal(load_torch_pickle(tmp_path / "view.pickle")["v"], view.numpy())
    assert load_torch_pickle(tmp_path / "legacy.pickle")[6].dtype == np.float64


def test_tags_written_without_torch_read_back_with_torch_and_without(tmp_path):
    rows = {i: T.one_hot([i], [9 - i])[0] for i in range(10)}
    (tmp_path / "tags.pickle").write_bytes(dumps_torch_pickle(rows))
    assert T.read_tags_pickle(tmp_path / "tags.pickle") == {i: (i, 9 - i) for i in range(10)}
    torch = pytest.importorskip("torch")
    with open(tmp_path / "tags.pickle", "rb") as f:
        loaded = pickle.load(f)  # what the study's datasets.py does
    assert all(isinstance(v, torch.Tensor) and v.dtype == torch.float32 for v in loaded.values())
    np.testing.assert_array_equal(loaded[3].numpy(), rows[3])


class _RunsCommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_that_would_run_a_command_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"
    evil = tmp_path / "tags.pickle"
    evil.write_bytes(pickle.dumps({0: _RunsCommand(marker)}))
    with pytest.raises(TorchPickleError, match=r"refusing to load: the pickle asks for (posix|os)\.system"):
        load_torch_pickle(evil)
    with pytest.raises(T.TagError, match="refusing to load"):
        T.read_tags_pickle(evil)
    assert not marker.exists()
    pickle.loads(evil.read_bytes())  # the file really is armed: plain pickle runs the command
    assert marker.exists()


def test_damaged_or_foreign_pickles_fail_in_one_line(tmp_path):
    good = dumps_torch_pickle({0: T.one_hot([0], [0])[0]})
    (tmp_path / "cut.pickle").write_bytes(good[:len(good) // 2])
    (tmp_path / "list.pickle").write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(T.TagError, match="cut.pickle: not a readable pickle of tensors"):
        T.read_tags_pickle(tmp_path / "cut.pickle")
    with pytest.raises(T.TagError, match="expected a dict"):
        T.read_tags_pickle(tmp_path / "list.pickle")
    with pytest.raises(T.TagError, match="file not found"):
        T.read_tags_pickle(tmp_path / "none.pickle")


# -- layouts, priors ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    root = tmp_path_factory.mktemp("faces")
    data = make_faces(24, 16, seed=3)
    write_study_layout(root, data)
    return root, data


def test_study_layout_round_trip_and_priors(faces, tmp_path):
    root, data = faces
    read = T.read_study_layout(root, 16)
    np.testing.assert_array_equal(read.images, data.images)
    np.testing.assert_array_equal(read.hair, data.hair)
    np.testing.assert_array_equal(read.eye, data.eye)
    hair_prior, eye_prior = T.study_priors(root, read)
    np.testing.assert_allclose(hair_prior, np.bincount(data.hair, minlength=12) / 24)
    np.testing.assert_allclose(eye_prior, np.bincount(data.eye, minlength=10) / 24)
    csv_data = T.read_csv_layout(root / "tags.csv", 16)  # the same faces through the CSV alternative
    np.testing.assert_array_equal(csv_data.images, data.images)
    np.testing.assert_array_equal(csv_data.hair, data.hair)


def test_priors_are_estimated_when_the_npy_files_are_absent(faces, tmp_path):
    root, data = faces
    data = T.TaggedImages(data.images[:4], np.array([0, 0, 0, 5]), np.array([9, 9, 1, 1]), data.names[:4])
    hair, eye = T.estimate_priors(data)
    np.testing.assert_allclose(hair, np.r_[0.75, 0, 0, 0, 0, 0.25, np.zeros(6)])
    np.testing.assert_allclose(eye, np.r_[0, 0.5, np.zeros(7), 0.5])
    copy = tmp_path / "copy"
    write_study_layout(copy, data)
    (copy / "eye_prob.npy").unlink()
    notes = []
    got = T.study_priors(copy, T.read_study_layout(copy, 16), report=notes.append)
    np.testing.assert_allclose(got[0], hair)
    np.testing.assert_allclose(got[1], eye)
    assert notes == [f"{copy}: no hair_prob.npy / eye_prob.npy; tag priors estimated from the tags"]
    np.save(copy / "eye_prob.npy", np.ones(9))
    with pytest.raises(T.TagError, match="eye_prob.npy: expected 10 probabilities"):
        T.study_priors(copy, data)
    np.save(copy / "eye_prob.npy", np.r_[2.0, -1.0, np.zeros(8)])
    with pytest.raises(T.TagError, match="non-negative"):
        T.study_priors(copy, data)


def test_layout_errors_name_the_file(faces, tmp_path):
    root, data = faces
    bad = tmp_path / "bad"
    write_study_layout(bad, T.TaggedImages(data.images[:3], data.hair[:3], data.eye[:3], data.names[:3]))
    Image.fromarray(data.images[0]).save(bad / "images" / "7.png")
    with pytest.raises(T.TagError) as info:
        T.read_study_layout(bad, 16)
    assert str(info.value) == f"{bad / 'images' / '7.png'}: image without tags (no entry 7 in {bad / 'tags.pickle'})"
    (bad / "images" / "7.png").unlink()
    (bad / "tags.pickle").write_bytes(dumps_torch_pickle({0: np.zeros(22, np.float32), 1: T.encode_tags("red", "red"),
                                                          2: T.encode_tags("red", "red")}))
    with pytest.raises(T.TagError, match=r"tags.pickle \[0\]: needs exactly one hair and one eye tag"):
        T.read_study_layout(bad, 16)


@pytest.mark.parametrize("line, message", [
    ("images/0.png,teal,blue", r"tags.csv:2: unknown hair colour 'teal'; one of orange, white"),
    ("images/0.png,red,white", r"tags.csv:2: unknown eye colour 'white'; one of black, orange"),
    ("images/99.png,red,blue", r"tags.csv:2: image .*99.png not found"),
    ("images/0.png,red", r"tags.csv:2: expected 3 fields"),
])
def test_csv_errors_name_file_and_line(faces, tmp_path, line, message):
    root, _ = faces
    (root / "bad.csv").write_text(f"file,hair,eye\n{line}\n")
    with pytest.raises(T.TagError, match=message.replace("tags.csv", "bad.csv")):
        T.read_csv_layout(root / "bad.csv", 16)


# -- batches --------------------------------------------------------------------------------------------------------
def test_batches_are_a_pure_function_of_the_step_and_shards_cut_one_global_batch(faces):
    _, data = faces
    priors = (np.r_[np.ones(6), np.zeros(6)] / 6, np.r_[np.zeros(9), 1.0])
    one = T.ACGANBatches(data, priors, z_dim=7, steps_per_epoch=5, seed=2)
    a, b = one.batch(0, 3, 8), one.batch(0, 3, 8)
    assert {k: v.shape for k, v in a.items()} == {"real": (8, 3, 16, 16), "real_tags": (8, 22), "z_d": (8, 7),
                                                 "fake_tags_d": (8, 22), "z_g": (8, 7), "fake_tags_g": (8, 22)}
    assert all(v.dtype == np.float32 for v in a.values()) and all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["z_d"], one.batch(0, 4, 8)["z_d"]) and not np.array_equal(a["z_d"], a["z_g"])
    for key in ("fake_tags_d", "fake_tags_g"):  # drawn from the priors: hair among the first six, eye always blue
        assert a[key][:, :12].argmax(1).max() < 6 and (a[key][:, 21] == 1).all()
    assert a["real"].min() >= -1 and a["real"].max() <= 1
    shards = [T.ACGANBatches(data, priors, 7, 5, seed=2, shard=r, shards=2).batch(0, 3, 4) for r in range(2)]
    for key in a:
        np.testing.assert_array_equal(np.concatenate([s[key] for s in shards]), a[key])
    assert one.steps_per_epoch(999) == 5


# -- procedural faces -------------------------------------------------------------------------------------------
def test_procedural_faces_are_deterministic_and_their_colours_follow_the_tags():
    first = make_faces(6, 32, seed=1)
    np.testing.assert_array_equal(make_faces(2, 32, seed=1, first=4).images, first.images[4:])
    assert not np.array_equal(make_faces(6, 32, seed=2).images, first.images)
    rng = np.random.default_rng
    for hair in range(12):  # the hair colour is the most frequent non-skin colour near the top of the head
        image = draw_face(hair, 9, 64, rng([0, hair])).astype(float)
        top = image[4:20, 16:48].reshape(-1, 3)
        nearest = np.argmin([np.abs(top - c).sum(1).mean() for c in HAIR_RGB.values()])
        assert list(HAIR_RGB)[nearest] == T.HAIR[hair]
    a = draw_face(0, 0, 64, rng([5, 5])).astype(int)
    b = draw_face(0, 3, 64, rng([5, 5])).astype(int)
    changed = np.abs(a - b).sum(2) > 30
    assert 0.005 < changed.mean() < 0.08  # only the irises change with the eye tag (same rng, other eye colour)
    assert np.abs(b[changed].mean(0) - EYE_RGB["yellow"]).max() < 80


def test_procedural_faces_cli_writes_the_layout_and_refuses_to_overwrite(tmp_path):
    cmd = [sys.executable, "datasets/procedural_faces.py", "--output", str(tmp_path / "d"), "--count", "5",
           "--size", "16"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["eye_prob.npy", "hair_prob.npy", "images",
                                                                "tags.csv", "tags.pickle"]
    data = T.read_study_layout(tmp_path / "d", 16)
    np.testing.assert_array_equal(data.images, make_faces(5, 16).images)
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and again.stderr.strip().startswith("error: ") and "--overwrite" in again.stderr
    assert subprocess.run(cmd + ["--overwrite"], cwd=ROOT, capture_output=True, timeout=120).returncode == 0
