"""The labeling tool: its JSON API, its CLI, and a tagging session clicked through in headless Chromium."""
import io
import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from _manganime_helpers import episode_frames, write_json, write_page, write_video
from datasets.manganime.labeling_server import LabelingApp, make_server
from datasets.manganime.video_io import VideoFrames

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
N_KEPT = 56  # 60 video frames minus the excluded raw frames 0–3
CUTS = (16, 32)  # scene changes at raw 20 and 36, in kept-frame numbers


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """One episode (scenes of 20, 16 and 24 frames, raw 0–3 excluded) and a volume of 5 pages of which the
    episode uses pages 1–4; a root config.json points at both folders with relative paths."""
    root = tmp_path_factory.mktemp("label")
    anime, volume = root / "anime", root / "manga" / "show" / "vol1"
    anime.mkdir()
    volume.mkdir(parents=True)
    write_video(anime / "0.mp4", episode_frames([20, 16, 24])[0])
    for i in range(5):
        write_page(volume / f"{i}.png", 40 * i + 20, size=(32, 32), mode="L")
    write_json(anime / "config.json", {"0": {"manga": "show/vol1", "pages": [1, 4], "exclude": [[0, 3]]}})
    write_json(root / "config.json", {"anime_path": "anime", "manga_path": "manga"})
    return root


@pytest.fixture
def server(project):
    """The tool's server on a free port, with no folders chosen yet; tag files are removed afterwards."""
    app = LabelingApp()
    httpd = make_server(app, 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    (project / "anime" / "0.json").unlink(missing_ok=True)


def call(url, body=None):
    """(status, parsed JSON or raw bytes) of a GET, or of a POST when `body` is given."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, payload, kind = response.status, response.read(), response.headers["Content-Type"]
    except urllib.error.HTTPError as exc:
        status, payload, kind = exc.code, exc.read(), exc.headers["Content-Type"]
    return status, json.loads(payload) if kind == "application/json" else payload


def saved_tags(project):
    return json.loads((project / "anime" / "0.json").read_text())


def test_api_serves_frames_pages_chunks_and_guards_tags(project, server):
    app, base = server
    assert call(base + "/api/episode?episode=0")[1]["error"] == "choose the anime and manga folders first"
    status, info = call(base + "/api/paths", {"anime_path": str(project / "anime"),
                                              "manga_path": str(project / "manga")})
    assert status == 200 and info["episodes"] == ["0"]
    episode = call(base + "/api/episode?episode=0")[1]
    assert (episode["frames"], episode["pages"], episode["tags"]) == (N_KEPT, 4, [N_KEPT] * 4)

    status, png = call(base + "/frame.png?episode=0&index=0")
    frame = np.asarray(Image.open(io.BytesIO(png)))
    assert status == 200 and np.array_equal(frame, VideoFrames(project / "anime" / "0.mp4")[4])  # raw 0–3 cut
    status, page = call(base + "/page-image?episode=0&index=0")
    assert page == (project / "manga" / "show" / "vol1" / "1.png").read_bytes()  # the episode starts at page 1

    assert call(base + "/api/chunk?episode=0&frame=0&direction=next")[1] == {"frame": CUTS[0], "found": True}
    assert call(base + "/api/chunk?episode=0&frame=40&direction=previous")[1]["frame"] == CUTS[1]
    assert call(base + "/api/chunk?episode=0&frame=50&direction=next")[1] == {"frame": 50, "found": False}

    assert call(base + "/api/tag", {"episode": "0", "page": 1, "frame": 20})[0] == 200
    status, reply = call(base + "/api/tag", {"episode": "0", "page": 0, "frame": 25})
    assert status == 409 and "must come before frame 20" in reply["error"]
    assert saved_tags(project) == [N_KEPT, 20, N_KEPT, N_KEPT]
    assert call(base + "/api/position?episode=0&frame=7")[1]["page"] == 1  # labelled by the one tag
    assert call(base + "/api/undo", {"episode": "0"})[0] == 200 and saved_tags(project) == [N_KEPT] * 4

    assert call(base + "/frame.png?episode=0&index=56")[0] == 400
    assert call(base + "/api/position?episode=0&frame=x")[0] == 400
    assert call(base + "/nope")[0] == 404
    assert call(base + "/api/paths", {"anime_path": str(project / "missing")})[0] == 400


def test_cli_picks_a_free_port_and_reads_the_root_config(project):
    process = subprocess.Popen([sys.executable, "datasets/manganime/label.py", "--port", "0", "--config",
                                str(project / "config.json")], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("labeling tool at http://127.0.0.1:")
        url = line.split()[3]
        assert call(url + "api/info")[1]["episodes"] == ["0"]
    finally:
        process.terminate()
        process.wait(timeout=10)
    bad = subprocess.run([sys.executable, "datasets/manganime/label.py", "--port", "0", "--anime-path",
                          str(project / "missing")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "not a directory" in bad.stderr


def _browser():
    """(sync_playwright, expect), or a pytest skip when Playwright or Debian's chromium is missing."""
    playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no browser at {CHROMIUM} (apt-get install chromium)")
    return playwright_api.sync_playwright, playwright_api.expect


def test_tagging_session_in_a_real_browser(project, server, tmp_path):
    sync_playwright, expect = _browser()
    app, base = server
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.goto(base + "/")
            # Folders chosen in the page (the server started without any).
            page.fill("#anime-path", str(project / "anime"))
            page.fill("#manga-path", str(project / "manga"))
            page.click("#load-paths")
            expect(page.locator("#frame-count")).to_have_text(str(N_KEPT))
            expect(page.locator("#page-count")).to_have_text("4")
            page.wait_for_function("document.getElementById('frame-img').naturalWidth === 64")

            # Next chunk, one frame back, Tag: page 0 ends at the last frame of the first scene.
            page.click("#next-chunk")
            expect(page.locator("#frame-input")).to_have_value(str(CUTS[0]))
            page.click("#back-one")
            page.click("#tag")
            expect(page.locator("#status")).to_have_text(f"page 0 ends at frame {CUTS[0] - 1}")
            assert saved_tags(project) == [CUTS[0] - 1, N_KEPT, N_KEPT, N_KEPT]
            expect(page.locator("#page-input")).to_have_value("1")  # moved on to the next page

            # Type a frame number, then tag with the keyboard shortcut.
            page.fill("#frame-input", "31")
            page.press("#frame-input", "Enter")
            page.click("h1")  # leave the number box so the shortcut reaches the page
            page.keyboard.press("t")
            expect(page.locator("#status")).to_have_text("page 1 ends at frame 31")
            assert saved_tags(project) == [CUTS[0] - 1, 31, N_KEPT, N_KEPT]

            # A tag that breaks the order is refused with a message, and nothing is saved.
            page.fill("#frame-input", "10")
            page.press("#frame-input", "Enter")
            page.click("#tag")
            expect(page.locator("#status")).to_contain_text("must come after frame 31")
            expect(page.locator("#status")).to_have_class("error")
            assert saved_tags(project) == [CUTS[0] - 1, 31, N_KEPT, N_KEPT]

            # Step with the arrow key (step 12), jump to the next scene change with "]", tag, undo.
            page.click("h1")
            page.keyboard.press("ArrowRight")
            expect(page.locator("#frame-input")).to_have_value("22")
            expect(page.locator("#frame-page")).to_have_text("1")  # frame 22 is labelled with page 1
            page.keyboard.press("]")
            expect(page.locator("#frame-input")).to_have_value(str(CUTS[1]))
            page.keyboard.press("t")
            expect(page.locator("#status")).to_have_text(f"page 2 ends at frame {CUTS[1]}")
            assert saved_tags(project) == [CUTS[0] - 1, 31, CUTS[1], N_KEPT]
            expect(page.locator("#tagged-count")).to_have_text("3 / 4")
            page.click("#undo")
            expect(page.locator("#status")).to_have_text("undid the tag of page 2")
            expect(page.locator("#frame-page")).to_have_text("untagged")
            assert saved_tags(project) == [CUTS[0] - 1, 31, N_KEPT, N_KEPT]
            page.screenshot(path=str(tmp_path / "labeling.png"))
        finally:
            browser.close()
    assert (tmp_path / "labeling.png").stat().st_size > 10_000
