"""datasets/style_images.py: the style-image source of the autoencoder family (sizes, samples, shards, errors)."""
import numpy as np
import pytest

from datasets.animegan_data import DatasetError, to_model_input
from datasets.image_io import write_image_atomic
from datasets.style_images import StyleImages


def write_images(folder, count, seed, size=(12, 20)):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        write_image_atomic(folder / f"{i:02d}.png", rng.integers(0, 256, (*size, 3), dtype=np.uint8))


@pytest.fixture
def root(tmp_path):
    write_images(tmp_path / "Toy" / "style", 6, seed=0)
    write_images(tmp_path / "train_photo", 3, seed=1)
    return tmp_path


def test_images_are_resized_and_samples_come_from_the_first_photo_folder(root):
    data = StyleImages(root, "Toy", 16, sample_count=2)
    assert data.images.shape == (6, 16, 16, 3) and data.images.dtype == np.uint8
    assert data.samples.shape == (2, 16, 16, 3) and not data.problems
    write_images(root / "val", 1, seed=2)
    with_val = StyleImages(root, "Toy", (8, 16), sample_count=4)
    assert with_val.images.shape[1:3] == (8, 16) and with_val.samples.shape[0] == 1  # val/ wins over train_photo/


def test_without_photos_the_samples_are_style_images_and_that_is_reported(tmp_path):
    write_images(tmp_path / "Toy" / "style", 3, seed=0)
    (tmp_path / "Toy" / "style" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    lines = []
    data = StyleImages(tmp_path, "Toy", 16, sample_count=2, report=lines.append)
    np.testing.assert_array_equal(data.samples, data.images[:2])
    assert len(lines) == 2 and "broken.png" in lines[0] and "sample grid shows style images" in lines[1]


def test_batches_are_a_function_of_epoch_and_step_and_shards_partition_them(root):
    single = StyleImages(root, "Toy", 16, seed=5)
    assert single.steps_per_epoch(2) == 3
    a = single.batch(1, 2, 2)["anime"]
    np.testing.assert_array_equal(a, StyleImages(root, "Toy", 16, seed=5).batch(1, 2, 2)["anime"])  # resumable
    assert a.shape == (2, 3, 16, 16) and a.min() >= -1 and a.max() <= 1
    assert not np.array_equal(single.batch(0, 0, 6)["anime"], single.batch(1, 0, 6)["anime"])  # reshuffled
    np.testing.assert_array_equal(np.sort(single.batch(0, 0, 6)["anime"].reshape(6, -1), axis=0),
                                  np.sort(to_model_input(single.images).reshape(6, -1), axis=0))  # a permutation
    shards = [StyleImages(root, "Toy", 16, seed=5, shard_id=r, num_shards=2).batch(1, 1, 1)["anime"] for r in (0, 1)]
    whole = single.batch(1, 1, 2)["anime"]
    assert sorted(row.tobytes() for shard in shards for row in shard) == sorted(row.tobytes() for row in whole)


@pytest.mark.parametrize("kwargs, message", [
    (dict(style="Nope"), "no such folder"),
    (dict(image_size=20, size_multiple=8), "multiple of 8"),
    (dict(image_size=0), "positive"),
])
def test_bad_requests_are_dataset_errors(root, kwargs, message):
    with pytest.raises(DatasetError, match=message):
        StyleImages(**{"root": root, "style": "Toy", "image_size": 16, **kwargs})


def test_unreadable_style_folder_and_too_large_batch(tmp_path, root):
    (tmp_path / "Empty" / "style").mkdir(parents=True)
    (tmp_path / "Empty" / "style" / "x.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="no readable images"):
        StyleImages(tmp_path, "Empty", 16)
    with pytest.raises(DatasetError, match="fewer than one global batch of 7"):
        StyleImages(root, "Toy", 16).steps_per_epoch(7)
