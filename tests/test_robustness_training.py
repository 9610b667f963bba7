"""Run folders are not lost: a fresh run into a folder holding a run is refused unless --resume or --overwrite
(which deletes the old run so that nothing half-deleted resumes); a resume compares its config with the saved one
first, refusing changes to the data order or the networks and reporting the accepted ones; corrupt loop-position
files are one-line errors. On the toy family (tests/_toy_family.py), PyNative, 8 px."""
import json
import shutil

import pytest
import yaml

from mindspore_impl.trainer import TrainingError, build_trainer
from tests._toy_family import toy_config


def cfg_for(run, **train):
    return toy_config(run, train={"jit": False, "max_steps": 3, **train})


def snapshot(run):
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def old_run(tmp_path_factory):
    """A finished 3-step run, copied afresh for each test that changes it."""
    run = tmp_path_factory.mktemp("old") / "run"
    build_trainer(cfg_for(run)).fit(progress=False)
    return run


@pytest.fixture
def run(old_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(old_run, copy)
    return copy


def test_a_fresh_run_into_an_existing_run_is_refused_and_changes_nothing(run):
    before = snapshot(run)
    with pytest.raises(TrainingError, match=r"already holds a run \(config\.yaml, losses\.csv.*--resume.*--overwrite"):
        build_trainer(cfg_for(run, max_steps=1))
    assert snapshot(run) == before


def test_overwrite_deletes_the_old_run_before_training(run, tmp_path):
    (run / "notes.txt").write_text("mine")  # not the trainer's: kept
    trainer = build_trainer(cfg_for(run, max_steps=1), overwrite=True)
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt"]
    trainer.fit(progress=False)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == \
        ["latest.json", "step_00000001.ckpt", "step_00000001.json", "step_00000001.state.npz"]
    rows = (run / "losses.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].startswith("1,")  # the new run's one step, not appended to the old log
    resumed = build_trainer(cfg_for(run, max_steps=2), resume_latest=True)
    assert resumed.state["global_step"] == 1


def test_an_interrupted_overwrite_leaves_nothing_that_resumes(run, monkeypatch):
    import mindspore_impl.run_folder as run_folder

    def interrupted(path, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_folder.shutil, "rmtree", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_trainer(cfg_for(run, max_steps=1), overwrite=True)
    monkeypatch.undo()
    assert [p.name for p in run.iterdir()] == [p.name for p in run.iterdir() if p.name.startswith(".")]
    with pytest.raises(TrainingError, match="no checkpoint"):
        build_trainer(cfg_for(run), resume_latest=True)
    build_trainer(cfg_for(run, max_steps=1)).fit(progress=False)  # the hidden leftover is no run
    build_trainer(cfg_for(run, max_steps=1), overwrite=True)  # and the next --overwrite clears it
    assert [p.name for p in run.iterdir()] == []


@pytest.mark.parametrize("override,needle", [
    ({"train": {"batch_size": 4}}, "train.batch_size: 2 → 4"),
    ({"train": {"seed": 5}}, "train.seed: 0 → 5"),
    ({"data": {"size": 16}}, "data.size: 8 → 16"),
    ({"generator": {"width": 8}}, "generator.width: 4 → 8"),
    ({"optim": {"betas": [0.0, 0.99]}}, "optim.betas"),
])
def test_resume_refuses_changes_to_the_data_order_or_the_networks_before_rewriting_anything(run, override, needle):
    cfg = cfg_for(run, max_steps=6)
    for name, values in override.items():
        cfg[name] = {**cfg[name], **values}
    saved = (run / "config.yaml").read_bytes()
    with pytest.raises(TrainingError, match="cannot resume with changed") as info:
        build_trainer(cfg, resume_latest=True)
    assert needle in str(info.value)
    assert (run / "config.yaml").read_bytes() == saved


def test_resume_reports_the_changes_it_accepts(run):
    cfg = cfg_for(run, max_steps=5, log_every=2)
    cfg["optim"] = {**cfg["optim"], "lr": 5e-4}
    cfg["loss"] = {**cfg["loss"], "reg_weight": 1}
    cfg["discriminator"] = {**cfg["discriminator"], "batch_norm": False}  # the default, spelled out: no change
    lines = []
    trainer = build_trainer(cfg, resume_latest=True, report=lines.append)
    assert [c for c in trainer.resume_changes if not c.startswith("train.run_dir")] == [
        "loss.reg_weight: 0.5 → 1.0", "optim.lr: 0.001 → 0.0005", "train.log_every: 1 → 2", "train.max_steps: 3 → 5"]
    assert lines == ["resume: accepted changed settings: " + "; ".join(trainer.resume_changes)]
    trainer.fit(progress=False)
    assert yaml.safe_load((run / "config.yaml").read_text())["optim"]["lr"] == 5e-4


@pytest.mark.parametrize("damage,needle", [
    ("latest: {", "latest.json (the latest checkpoint's name) is corrupt"),
    ("latest: []", "expected a JSON object"),
    ("latest: {\"checkpoint\": \"../../config.yaml\"}", "not a step_N.ckpt file"),
    ("latest: {\"checkpoint\": \"step_00000099.ckpt\"}", "names step_00000099.ckpt, which is missing"),
    ("position: {\"epoch\": 1}", "'step' is None"),
    ("position: {\"epoch\": 1, \"step\": \"x\", \"global_step\": 3}", "'step' is 'x'"),
    ("position: {\"epoch\": 1, \"step\": 0, \"global_step\": 7}", "global_step 7 but the checkpoint is"),
    ("position: \x00\xff", "corrupt or unreadable"),
    ("state: not a zip", "cannot read host state"),
])
def test_corrupt_loop_position_files_are_one_line_errors(run, damage, needle):
    kind, text = damage.split(": ", 1)
    target = {"latest": run / "checkpoints/latest.json", "position": run / "checkpoints/step_00000003.json",
              "state": run / "checkpoints/step_00000003.state.npz"}[kind]
    target.write_bytes(text.encode("latin1"))
    with pytest.raises(TrainingError) as info:
        build_trainer(cfg_for(run, max_steps=6), resume_latest=True)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_train_cli_refuses_the_existing_run_in_one_line(run, tmp_path, capsys):
    from mindspore_impl import train
    from runtime.errors import run_main

    config = tmp_path / "toy.yaml"
    config.write_text(yaml.safe_dump(cfg_for(run)))
    with pytest.raises(SystemExit) as exit_info:
        run_main(train.main, ["--config", str(config), "--no-progress", "--set", "train.max_steps=1"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith("error: ") and "--overwrite" in err
    assert err.count("\n") == 1
    with pytest.raises(SystemExit):
        train.parse_args(["--config", str(config), "--resume", "--overwrite"])  # one or the other
    assert json.loads((run / "checkpoints/latest.json").read_text())["global_step"] == 3


def test_a_write_error_during_training_is_one_line_and_leaves_no_half_row(run, tmp_path, capsys, monkeypatch):
    """A full disk while the loop writes its position (step json) and while it appends to losses.csv."""
    import csv
    import errno

    from mindspore_impl import train, trainer as trainer_module
    from runtime.errors import run_main

    config = tmp_path / "toy.yaml"
    config.write_text(yaml.safe_dump(cfg_for(run, max_steps=6)))

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(args[0]))

    monkeypatch.setattr(trainer_module, "write_text_atomic", full)
    with pytest.raises(SystemExit) as exit_info:
        run_main(train.main, ["--config", str(config), "--no-progress", "--resume"])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert exit_info.value.code == 2 and len(errors) == 1 and "No space left on device" in errors[0]
    assert "Traceback" not in err
    monkeypatch.undo()

    before = (run / "losses.csv").read_bytes()
    write_row = csv.DictWriter.writerow

    def half_row(self, row):
        self.writer.writerow(["4", "partial"])  # part of the line reached the file
        raise OSError(errno.ENOSPC, "No space left on device", "losses.csv")

    monkeypatch.setattr(csv.DictWriter, "writerow", half_row)
    trainer = build_trainer(cfg_for(run, max_steps=6), resume_latest=True)
    with pytest.raises(OSError):
        trainer._log({"global_step": 4, "epoch": 1, "phase": "gan", "seconds": 0.1})
    monkeypatch.setattr(csv.DictWriter, "writerow", write_row)
    assert (run / "losses.csv").read_bytes() == before
    assert [p.name for p in run.rglob("*") if p.name.startswith(".")] == []
