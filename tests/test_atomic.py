"""runtime/atomic.py, the one atomic-write mechanism: umask-respecting modes, suffix-keeping hidden temp files,
nothing left behind and the old file intact on failure, plain OSErrors."""
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from runtime.atomic import atomic_path, current_umask, write_bytes_atomic, write_text_atomic

ROOT = Path(__file__).resolve().parents[1]


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture
def umask():
    """Set a umask for one test and restore the previous one afterwards."""
    saved = os.umask(0o022)
    os.umask(saved)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(saved)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_final_mode_follows_the_umask(tmp_path, umask, mask):
    umask(mask)
    assert current_umask() == mask
    path = write_bytes_atomic(tmp_path / "out.bin", b"data")
    assert path.read_bytes() == b"data"
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_mode_follows_the_umask_of_a_fresh_process(tmp_path):
    """Another process, another umask (set before the module is imported)."""
    target = tmp_path / "out.txt"
    code = ("import os, sys; os.umask(0o027); from runtime.atomic import write_text_atomic; "
            "write_text_atomic(sys.argv[1], 'hi')")
    subprocess.run([sys.executable, "-c", code, str(target)], cwd=ROOT, check=True, timeout=60)
    assert target.read_text() == "hi" and target.stat().st_mode & 0o777 == 0o640


def test_mode_is_reset_even_when_the_writer_leaves_a_private_file(tmp_path, umask):
    umask(0o022)
    with atomic_path(tmp_path / "w.dat") as tmp:
        tmp.write_bytes(b"x")
        os.chmod(tmp, 0o400)  # e.g. ms.save_checkpoint leaves its files read-only for the owner
    assert (tmp_path / "w.dat").stat().st_mode & 0o777 == 0o644


def test_temp_is_hidden_beside_the_target_and_keeps_the_suffix(tmp_path):
    target = tmp_path / "archive.zip"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".") and tmp.suffix == ".zip"
        assert tmp.exists() and not target.exists()
        # a format-by-extension writer works on the temp path itself
        with zipfile.ZipFile(tmp, "w") as archive:
            archive.writestr("a.txt", "hello")
    with zipfile.ZipFile(target) as archive:
        assert archive.read("a.txt") == b"hello"
    assert hidden(tmp_path) == []


def test_long_target_names_still_get_a_temp_file(tmp_path):
    target = tmp_path / ("n" * 240 + ".png")
    write_bytes_atomic(target, b"png")
    assert target.read_bytes() == b"png" and hidden(tmp_path) == []


def test_failure_removes_the_temp_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "state.json"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError, match="writer failed"):
        with atomic_path(target) as tmp:
            tmp.write_text("half a fi")
            raise RuntimeError("writer failed")
    assert target.read_text() == "old" and hidden(tmp_path) == []


def test_interrupt_also_removes_the_temp(tmp_path):
    target = tmp_path / "v.mp4"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"frames")
            raise KeyboardInterrupt
    assert not target.exists() and hidden(tmp_path) == []


def test_success_replaces_the_old_file(tmp_path):
    target = tmp_path / "t.txt"
    write_text_atomic(target, "one")
    write_text_atomic(target, "two")
    assert target.read_text() == "two" and sorted(os.listdir(tmp_path)) == ["t.txt"]


def test_missing_folder_is_an_oserror_unless_parents_are_made(tmp_path):
    with pytest.raises(FileNotFoundError, match="output folder does not exist"):
        write_bytes_atomic(tmp_path / "no" / "x.bin", b"1")
    assert not (tmp_path / "no").exists()
    path = write_bytes_atomic(tmp_path / "no" / "deeper" / "x.bin", b"1", make_parents=True)
    assert path.read_bytes() == b"1"


def test_failed_rename_is_an_oserror_and_leaves_nothing(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep").write_text("k")  # a non-empty folder where the file should go
    with pytest.raises(OSError):
        write_bytes_atomic(tmp_path / "taken", b"data")
    assert (tmp_path / "taken" / "keep").read_text() == "k" and hidden(tmp_path) == []


def test_unwritable_folder_is_an_oserror(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root ignores folder permissions")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(PermissionError):
            write_bytes_atomic(locked / "x.bin", b"1")
    finally:
        locked.chmod(0o700)
    assert list(locked.iterdir()) == []
