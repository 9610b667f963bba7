"""mindspore_impl/build_demo.py's bookkeeping: which steps it redoes and which run folders it refuses (the steps
themselves, dataset, training and export, are tested where they live)."""
import json
from pathlib import Path

import pytest

from mindspore_impl import build_demo


@pytest.fixture
def commands(monkeypatch):
    """The commands build_demo would run, recorded instead of run; the dataset command leaves a complete folder,
    and the random VGG19 file is not made (a --force rebuild would make one)."""
    from mindspore_impl.models import vgg19

    seen = []
    monkeypatch.setattr(vgg19, "random_vgg19_checkpoint", lambda path, seed: seen.append(["vgg19", str(path)]))

    def fake_run(*cmd):
        seen.append([str(c) for c in cmd])
        if "datasets/demo_style.py" in seen[-1]:
            root = Path(seen[-1][seen[-1].index("--output") + 1])
            for folder in ("train_photo", "demo/style", "demo/smooth", "demo/paired"):
                (root / folder).mkdir(parents=True, exist_ok=True)
            for i in range(build_demo.ANIMEGANV2_PHOTOS):
                (root / "demo/paired" / f"{i:04d}.png").touch()

    monkeypatch.setattr(build_demo, "run", fake_run)
    return seen


def animeganv2_cfg(tmp_path):
    vgg = tmp_path / "vgg.ckpt"
    vgg.touch()  # present, so only a forced rebuild makes one
    return {"data": {"root": str(tmp_path / "dataset"), "style": "demo", "image_size": 64},
            "loss": {"vgg_ckpt": str(vgg)}}


def test_animeganv2_dataset_is_rebuilt_unless_it_was_built_with_these_settings(tmp_path, commands):
    cfg = animeganv2_cfg(tmp_path)

    def builds():
        return [c for c in commands if "datasets/demo_style.py" in c]

    build_demo.prepare_animeganv2(cfg, force=False)
    assert len(builds()) == 1 and builds()[0][builds()[0].index("--size") + 1] == "64"
    assert commands == builds()  # the VGG file exists: not remade
    record = tmp_path / "dataset/build_settings.json"
    assert json.loads(record.read_text()) == {"size": 64, "count": build_demo.ANIMEGANV2_PHOTOS}
    build_demo.prepare_animeganv2(cfg, force=False)  # complete, same settings: kept
    assert len(builds()) == 1
    build_demo.prepare_animeganv2(cfg, force=True)
    assert len(builds()) == 2 and commands[-1][0] == "vgg19"  # --force redoes both
    # an earlier build's data (other settings, or none recorded, or an unreadable record) is redone
    for content in (json.dumps({"size": 128, "count": build_demo.ANIMEGANV2_PHOTOS}), "{", None):
        if content is None:
            record.unlink()
        else:
            record.write_text(content)
        build_demo.prepare_animeganv2(cfg, force=False)
        assert json.loads(record.read_text())["size"] == 64
    assert len(builds()) == 5


def test_a_run_folder_of_other_settings_is_refused(tmp_path, commands):
    config = tmp_path / "demo.yaml"
    config.write_text(f"family: animeganv2\ntrain: {{run_dir: {tmp_path / 'run'}}}\n")
    (tmp_path / "run").mkdir()
    (tmp_path / "run/config.yaml").write_text(f"family: animeganv2\ntrain: {{run_dir: {tmp_path / 'other'}}}\n")
    demo = build_demo.Demo(config, tmp_path / "out.onnx", prepare=lambda cfg, force: None)
    with pytest.raises(build_demo.DemoError, match="holds a run with other settings"):
        build_demo.build(demo)
    assert commands == []  # nothing trained or exported
