"""Stop signals and full disks: SIGTERM and SIGHUP are handled like Ctrl-C by the one CLI boundary (run_main), so
every atomic writer's cleanup runs; a stopped command prints one `error:` line, exits 128 + signal and leaves no
temp file (ours, or MindSpore's own `.tmp`); a write error stops at once with one line."""
import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tests._runtime_helpers import build_toy_generator, write_test_video

ROOT = Path(__file__).resolve().parents[1]
STOPS = {"SIGTERM": signal.SIGTERM, "SIGHUP": signal.SIGHUP, "SIGINT": signal.SIGINT}


def run_script(code: str, *args, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def leftovers(folder: Path) -> list[str]:
    """Every file under `folder` whose name marks it as a temp file (ours are hidden; MindSpore's end in .tmp)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.name.startswith(".") or ".tmp" in p.name)


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_run_main_turns_stop_signals_into_one_line_and_cleans_up(tmp_path, name):
    """A signal that arrives inside an atomic write: the temp file is removed, the old file is kept."""
    (tmp_path / "out.bin").write_bytes(b"old")
    done = run_script(f"""
        import os, signal, sys, time
        from runtime.atomic import atomic_path
        from runtime.errors import run_main

        def main(argv):
            with atomic_path(sys.argv[1]) as tmp:
                tmp.write_bytes(b"half")
                os.kill(os.getpid(), signal.{name})
                time.sleep(30)  # the signal must interrupt this
            return 0

        run_main(main)
        """, tmp_path / "out.bin")
    assert done.returncode == 128 + STOPS[name], done.stderr
    assert error_lines(done.stderr) == [done.stderr.strip()] and "interrupted" in done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(os.listdir(tmp_path)) == ["out.bin"] and (tmp_path / "out.bin").read_bytes() == b"old"


def test_video_conversion_stopped_by_sigterm_leaves_nothing(tmp_path):
    model = build_toy_generator(tmp_path / "toy.onnx", seed=1)
    write_test_video(tmp_path / "clip.mp4", n_frames=48, size=(48, 32))
    out = tmp_path / "out"
    out.mkdir()
    done = run_script("""
        import os, signal, sys
        from runtime import video2anime
        from runtime.errors import run_main
        from runtime.stylize import Stylizer

        calls = []
        original = Stylizer.stylize_batch

        def stylize_batch(self, images):  # a signal from outside, mid-conversion (after 5 frames)
            calls.append(1)
            if len(calls) == 5:
                os.kill(os.getpid(), signal.SIGTERM)
            return original(self, images)

        Stylizer.stylize_batch = stylize_batch
        run_main(video2anime.main, sys.argv[1:])
        """, "--model", model, "--input", tmp_path / "clip.mp4", "--output", out / "x.mp4", "--no-progress")
    assert done.returncode == 128 + signal.SIGTERM, done.stderr
    assert len(error_lines(done.stderr)) == 1 and "Traceback" not in done.stderr, done.stderr
    assert os.listdir(out) == []


TRAIN_UNDER_SIGNAL = """
    import errno, os, signal, sys
    import tests._toy_family  # registers the toy family
    import mindspore.train.serialization as serialization
    from mindspore_impl import train
    from runtime.errors import run_main

    write = serialization._write_parameter_bytes_data
    calls = []

    def failing_write(*args, **kwargs):  # inside ms.save_checkpoint, after it opened its own .tmp file
        calls.append(1)
        if len(calls) == 3:
            if sys.argv[1] == "SIGTERM":
                os.kill(os.getpid(), signal.SIGTERM)
            else:
                raise OSError(errno.ENOSPC, "No space left on device")
        return write(*args, **kwargs)

    serialization._write_parameter_bytes_data = failing_write
    run_main(train.main, sys.argv[2:])
"""


def toy_config_file(tmp_path: Path, run: Path) -> Path:
    from tests._toy_family import toy_config

    cfg = toy_config(run, train={"jit": False, "max_steps": 3, "ckpt_every": 3})
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.parametrize("event", ["SIGTERM", "ENOSPC"])
def test_training_stopped_in_a_checkpoint_write_prints_one_line_and_leaves_no_temp(tmp_path, event):
    run = tmp_path / "run"
    done = run_script(TRAIN_UNDER_SIGNAL, event, "--config", toy_config_file(tmp_path, run), "--no-progress",
                      timeout=240)
    expected = 128 + signal.SIGTERM if event == "SIGTERM" else 2
    assert done.returncode == expected, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.strip() and "WARNING" not in line]
    assert lines == error_lines(done.stderr) and len(lines) == 1, done.stderr[-3000:]
    if event == "ENOSPC":
        assert "No space left on device" in lines[0]
    assert leftovers(run) == []
    assert not (run / "checkpoints" / "latest.json").exists()


def test_checkpoint_writer_removes_mindspores_own_temp_file_on_a_write_error(tmp_path, monkeypatch):
    import mindspore.train.serialization as serialization
    from mindspore import nn

    from mindspore_impl.checkpoint_io import CheckpointError, save_checkpoint_atomic

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(serialization, "_write_parameter_bytes_data", no_space)
    with pytest.raises(CheckpointError, match="No space left on device"):
        save_checkpoint_atomic(nn.Dense(2, 2), tmp_path / "net.ckpt")
    assert os.listdir(tmp_path) == []
