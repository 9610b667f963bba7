"""video2anime under a full disk and with audio the output container cannot take: it fails at the first write
error (not after converting every frame), as one line, leaving nothing; PCM audio bound for .mp4 is transcoded
to AAC, decided by probing the container before any frame is decoded."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runtime.session import Generator
from runtime.stylize import Stylizer
from runtime.video import VideoConverter, VideoOptions
from tests._runtime_helpers import build_toy_generator, read_video, write_test_video

ROOT = Path(__file__).resolve().parents[1]
FRAMES = 240

# video2anime in a process whose files may not grow past `limit` bytes (RLIMIT_FSIZE: writes beyond it fail with
# EFBIG, as they would with ENOSPC on a full disk, without needing a tiny file system). It reports how many frames
# went through the model before the command stopped.
LIMITED = """
    import atexit, resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing the process
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    from runtime import video2anime
    from runtime.errors import run_main
    from runtime.stylize import Stylizer

    frames = []
    original = Stylizer.stylize_batch

    def counting(self, images):
        frames.extend(images)
        return original(self, images)

    Stylizer.stylize_batch = counting
    atexit.register(lambda: print(f"frames: {len(frames)}", file=sys.stderr))
    run_main(video2anime.main, sys.argv[2:])
"""


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("robust_video")
    write_test_video(d / "long.mp4", n_frames=FRAMES, size=(128, 96))
    write_test_video(d / "pcm.mkv", n_frames=12, size=(48, 32), audio_codec="pcm_s16le", container_format="matroska")
    return {"model": build_toy_generator(d / "toy.onnx", seed=4), "long": d / "long.mp4", "pcm": d / "pcm.mkv"}


def test_a_full_disk_stops_the_conversion_at_the_first_failed_write(inputs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(LIMITED), "20000", "--model", inputs["model"],
                           "--input", inputs["long"], "--output", out / "x.mp4", "--no-progress"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "File too large" in errors[0] and "Traceback" not in done.stderr, done.stderr
    converted = int(done.stderr.rsplit("frames: ", 1)[1])
    assert converted < FRAMES // 2, f"{converted} of {FRAMES} frames were converted before the write error surfaced"
    assert os.listdir(out) == []


def test_a_full_tmpfs_fails_early_too(inputs, tmp_path):
    """The same on a real 64 KiB file system, where mounting one is allowed (root); skipped elsewhere."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        converter = VideoConverter(Stylizer(Generator(inputs["model"], spin=False)), inputs["long"],
                                   mount / "x.mp4", VideoOptions(progress=False), log=lambda m: None)
        frames = []
        original = converter.stylizer.stylize_batch
        converter.stylizer.stylize_batch = lambda images: (frames.extend(images), original(images))[1]
        from runtime.errors import ConversionError
        with pytest.raises(ConversionError, match="No space left on device"):
            converter.run()
        assert len(frames) < FRAMES // 2 and os.listdir(mount) == []
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_pcm_audio_from_mkv_into_mp4_is_transcoded_before_any_frame_is_decoded(inputs, tmp_path):
    notes = []
    converter = VideoConverter(Stylizer(Generator(inputs["model"], spin=False)), inputs["pcm"], tmp_path / "o.mp4",
                               VideoOptions(progress=False), log=notes.append)
    result = converter.run()
    assert result.audio == "re-encoded pcm_s16le to aac"
    assert any("pcm_s16le audio cannot be copied into .mp4" in note for note in notes), notes
    out = read_video(tmp_path / "o.mp4")
    assert out["audio_codec"] == "aac" and len(out["frames"]) == 12
    assert out["audio"].shape[1] / out["sample_rate"] == pytest.approx(0.5, abs=0.06)
