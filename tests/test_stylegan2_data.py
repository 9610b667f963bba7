"""StyleGAN2 training images (datasets/stylegan_data.py): folder, zip and manGANime export sources give the same
images; NVlabs' x-flip doubling; dataset.json class labels; batches as a pure function of (seed, epoch, step,
shard); clear errors. And the procedural demo frames (datasets/demo_frames.py) are reproducible."""
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from datasets.demo_frames import render, write_frames
from datasets.stylegan_data import StyleGANDataError, StyleGANImages, resolve_source


@pytest.fixture
def frames(tmp_path):
    """Six 8×8 frames as a folder (nested, like an export's episodes) and as a zip."""
    rng = np.random.default_rng(0)
    images = {f"ep{i % 2}/{i:03d}.png": rng.integers(0, 256, (8, 8, 3), dtype=np.uint8) for i in range(6)}
    folder = tmp_path / "folder"
    with zipfile.ZipFile(tmp_path / "frames.zip", "w") as archive:
        for name, img in images.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(folder / name)
            archive.write(folder / name, name)
    return images, folder, tmp_path / "frames.zip"


def test_folder_zip_and_export_give_the_same_images(frames, tmp_path):
    images, folder, archive = frames
    export = tmp_path / "export"
    export.mkdir()
    (export / "triples.csv").write_text("split\n")
    (export / "stylegan.zip").write_bytes(archive.read_bytes())
    (export / "frames").mkdir()  # an export's other folders must not be read as training images
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(export / "frames" / "x.png")
    assert resolve_source(export) == export / "stylegan.zip"
    for source in (folder, archive, export):
        data = StyleGANImages(source, 8)
        assert data.names == sorted(images) and len(data) == 6
        got = data.images([0, 5])
        want = np.stack([images[sorted(images)[i]] for i in (0, 5)]).transpose(0, 3, 1, 2) / 127.5 - 1
        np.testing.assert_allclose(got, want, atol=1e-6)
    assert StyleGANImages(folder, 4).images([0]).shape == (1, 3, 4, 4)  # resized to the resolution


def test_xflip_doubles_the_set_with_mirrored_copies(frames):
    _, folder, _ = frames
    data = StyleGANImages(folder, 8, xflip=True)
    assert len(data) == 12
    np.testing.assert_array_equal(data.image(7), data.image(1)[:, ::-1])


def test_batches_are_pure_functions_of_the_position_and_shard(frames):
    _, _, archive = frames
    one = StyleGANImages(archive, 8, xflip=True, seed=3)
    assert one.steps_per_epoch(4) == 3
    a, b = one.batch(1, 2, 4), StyleGANImages(archive, 8, xflip=True, seed=3).batch(1, 2, 4)
    np.testing.assert_array_equal(a["real"], b["real"])
    halves = [StyleGANImages(archive, 8, xflip=True, seed=3, shard_id=r, num_shards=2).batch(1, 2, 2)["real"]
              for r in (0, 1)]
    np.testing.assert_array_equal(np.stack(halves, 1).reshape(a["real"].shape), a["real"])
    assert not np.array_equal(one.batch(0, 2, 4)["real"], a["real"])
    assert a["real_c"].shape == (4, 1) and not a["real_c"].any()


def test_nvlabs_labels_become_one_hot(frames):
    images, folder, _ = frames
    (folder / "dataset.json").write_text(json.dumps({"labels": [[n, i % 3] for i, n in enumerate(sorted(images))]}))
    data = StyleGANImages(folder, 8, use_labels=True)
    assert data.c_dim == 3
    np.testing.assert_array_equal(data.labels_for([0, 1, 2, 3]), np.eye(3)[[0, 1, 2, 0]])
    assert data.random_labels(np.random.default_rng(0), 5).sum(axis=1).tolist() == [1] * 5


@pytest.mark.parametrize("setup, message", [
    (lambda p: p / "missing", "no such folder or zip"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "no images found"),
    (lambda p: [(p / "bad.zip").write_text("x"), p / "bad.zip"][1], "neither a folder nor a zip"),
])
def test_bad_sources_are_named(tmp_path, setup, message):
    with pytest.raises(StyleGANDataError, match=message):
        StyleGANImages(setup(tmp_path), 8)


def test_labels_required_and_corrupt_images_named(frames):
    images, folder, _ = frames
    with pytest.raises(StyleGANDataError, match="use_labels needs a dataset.json"):
        StyleGANImages(folder, 8, use_labels=True)
    (folder / "ep0" / "000.png").write_bytes(b"not a png")
    with pytest.raises(StyleGANDataError, match="ep0/000.png: cannot decode image"):
        StyleGANImages(folder, 8).images([0])


def test_demo_frames_are_reproducible(tmp_path):
    a, b = write_frames(tmp_path / "a.zip", count=6, size=8), write_frames(tmp_path / "b.zip", count=6, size=8)
    assert a.read_bytes() == b.read_bytes()
    frame = render(3, 6, 8)
    assert frame.shape == (8, 8, 3) and frame.dtype == np.uint8 and len(np.unique(frame.reshape(-1, 3), axis=0)) > 3
    assert StyleGANImages(a, 8).names == ["scene0/00000.png", "scene0/00001.png", "scene1/00002.png",
                                          "scene1/00003.png", "scene2/00004.png", "scene2/00005.png"]
