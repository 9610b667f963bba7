"""Nobody let in. Every loader of outside files is tried with a crafted file whose unpickling would run a command:
each refuses it with one line and nothing runs (the same file is shown to run code where pickles are trusted).
The labeling server answers only its own loopback origin: foreign Host (DNS rebinding) and Origin headers are
refused, writes need a JSON body, malformed bodies get a 400 instead of a dropped connection, and a page served
from a second origin cannot write tags from a real browser."""
import http.client
import json
import os
import pickle
import threading
from pathlib import Path

import numpy as np
import pytest

from _manganime_helpers import episode_frames, write_json, write_page, write_video

ROOT = Path(__file__).resolve().parents[1]


class RunsShell:
    """Unpickling this calls os.system(command)."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "code-ran"
    yield path
    assert not path.exists(), "the crafted file ran a command"


def test_torch_loader_refuses_a_pickle_that_runs_code(tmp_path, marker):
    torch = pytest.importorskip("torch")
    from mindspore_impl.weights import WeightImportError
    from mindspore_impl.weights.torch_io import read_torch_state_dict

    path = tmp_path / "weights.pt"
    torch.save({"block_a.0.weight": torch.zeros(2), "evil": RunsShell(f"touch {marker}")}, path)
    with pytest.raises(WeightImportError, match="not a readable PyTorch state dict") as info:
        read_torch_state_dict(path)
    assert "\n" not in str(info.value)


def test_the_crafted_torch_file_does_run_code_when_trusted(tmp_path):
    torch = pytest.importorskip("torch")
    ran = tmp_path / "ran"
    torch.save({"evil": RunsShell(f"touch {ran}")}, tmp_path / "w.pt")
    torch.load(tmp_path / "w.pt", weights_only=False)  # what weights_only=True prevents
    assert ran.exists()


def test_host_state_loader_refuses_pickled_objects(tmp_path, marker):
    from mindspore_impl import host_state

    path = tmp_path / "step_00000001.state.npz"
    np.savez(path, __tree__=np.array("{}"), a0=np.array([RunsShell(f"touch {marker}")], dtype=object))
    with pytest.raises(host_state.HostStateError, match="cannot read host state"):
        host_state.load(path)


def test_config_loader_refuses_python_tags(tmp_path, marker):
    from mindspore_impl.config import ConfigError, load_config

    path = tmp_path / "evil.yaml"
    path.write_text(f"family: animeganv2\ntrain: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def test_checkpoint_loader_refuses_a_pickle_named_ckpt(tmp_path, marker):
    from mindspore_impl.checkpoint_io import CheckpointError, read_checkpoint

    path = tmp_path / "generator.ckpt"
    path.write_bytes(pickle.dumps({"w": RunsShell(f"touch {marker}")}))
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        read_checkpoint(path)


def test_onnx_loader_refuses_a_pickle_named_onnx(tmp_path, marker):
    from runtime.errors import ConversionError
    from runtime.session import Generator

    path = tmp_path / "model.onnx"
    path.write_bytes(pickle.dumps(RunsShell(f"touch {marker}")))
    with pytest.raises(ConversionError, match="cannot load model"):
        Generator(path)


# ---------------------------------------------------------------------------------------------------- labeling
@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("label_security")
    anime, volume = root / "anime", root / "manga" / "show" / "vol1"
    anime.mkdir()
    volume.mkdir(parents=True)
    write_video(anime / "0.mp4", episode_frames([10, 10])[0])
    for i in range(3):
        write_page(volume / f"{i}.png", 40 * i + 20, size=(32, 32), mode="L")
    write_json(anime / "config.json", {"0": {"manga": "show/vol1"}})
    return root


@pytest.fixture
def server(project):
    from datasets.manganime.labeling_server import LabelingApp, make_server

    app = LabelingApp(project / "anime", project / "manga")
    httpd = make_server(app, 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()
    (project / "anime" / "0.json").unlink(missing_ok=True)


def request(port, method, path, body=None, headers=None):
    """(status, parsed JSON) of a raw request; raises if the server drops the connection instead of answering."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest(method, path, skip_host="Host" in (headers or {}))
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
            if value is not None:
                connection.putheader(key, value)
        if data is not None and "Content-Length" not in (headers or {}):
            connection.putheader("Content-Length", str(len(data)))
        connection.endheaders(data)
        response = connection.getresponse()
        payload = response.read()
        return response.status, json.loads(payload) if response.getheader("Content-Type") == "application/json" \
            else payload
    finally:
        connection.close()


TAG = {"episode": "0", "page": 0, "frame": 5}


def test_same_origin_and_plain_clients_may_write(server, project):
    assert request(server, "POST", "/api/tag", TAG)[0] == 200
    assert request(server, "POST", "/api/undo", {"episode": "0"},
                   {"Origin": f"http://127.0.0.1:{server}"})[0] == 200
    assert request(server, "GET", "/api/info", headers={"Host": f"localhost:{server}"})[0] == 200


@pytest.mark.parametrize("headers,status", [
    ({"Host": "evil.example"}, 403),                                # DNS rebinding: the name now points here
    ({"Host": "evil.example:{port}"}, 403),
    ({"Origin": "http://evil.example"}, 403),                       # a cross-site fetch or form
    ({"Origin": "http://127.0.0.1:1"}, 403),                        # another local service
    ({"Origin": "null"}, 403),                                      # a sandboxed page or file:// URL
    ({"Sec-Fetch-Site": "cross-site"}, 403),
    ({"Content-Type": "text/plain"}, 415),                          # what a no-cors fetch may send
    ({"Content-Type": "application/x-www-form-urlencoded"}, 415),   # what a form sends
    ({"Content-Type": None}, 415),
])
def test_foreign_requests_cannot_write(server, project, headers, status):
    headers = {k: v.format(port=server) if isinstance(v, str) else v for k, v in headers.items()}
    got, reply = request(server, "POST", "/api/tag", TAG, headers)
    assert got == status and "error" in reply
    assert not (project / "anime" / "0.json").exists()


def test_foreign_host_cannot_read_either(server):
    assert request(server, "GET", "/api/info", headers={"Host": "evil.example"})[0] == 403


@pytest.mark.parametrize("body,headers,status", [
    (b"{", {}, 400),
    (b"[1, 2]", {}, 400),
    (b"[" * 100_000 + b"]" * 100_000, {}, 400),                    # nesting deep enough to exhaust the parser
    (b"\xff\xfe", {}, 400),
    (json.dumps({"anime_path": 5, "manga_path": [1]}).encode(), {}, 400),
    (json.dumps({"episode": "0", "page": 0, "frame": 1e999}).encode(), {}, 400),
    (json.dumps({"episode": ["0"], "page": 0, "frame": 1}).encode(), {}, 400),
    (b"{}", {"Content-Length": "-1"}, 400),
    (b"{}", {"Content-Length": "abc"}, 400),
    (b"{}", {"Content-Length": str(10 ** 9)}, 413),
], ids=["unterminated", "not-an-object", "deep-nesting", "not-utf8", "paths-not-strings", "infinite-frame",
        "episode-list", "negative-length", "length-not-a-number", "huge-length"])
def test_malformed_bodies_get_a_400_not_a_dropped_connection(server, project, body, headers, status):
    path = "/api/paths" if b"anime_path" in body else "/api/tag"
    got, reply = request(server, "POST", path, body, headers)
    assert got == status and isinstance(reply, dict) and "error" in reply
    assert request(server, "GET", "/api/info")[0] == 200  # and the server still serves


FOREIGN_PAGE = """<!doctype html><html><body><form id="f" method="POST" enctype="text/plain"
action="{target}/api/tag"><input name='{{"episode": "0", "page": 0, "frame": 5, "x": "' value='"}}'></form>
<script>
fetch("{target}/api/tag", {{method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}},
                           body: JSON.stringify({{episode: "0", page: 1, frame: 7}})}})
  .catch(() => null)
  .then(() => fetch("{target}/api/tag", {{method: "POST", headers: {{"Content-Type": "application/json"}},
                                          body: JSON.stringify({{episode: "0", page: 2, frame: 9}})}}))
  .catch(() => null)
  .then(() => document.getElementById("f").submit());
</script></body></html>"""


def test_a_page_from_a_second_origin_cannot_write_tags_in_a_real_browser(server, project, tmp_path):
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    from test_manganime_label import CHROMIUM, CHROMIUM_ARGS, _browser

    sync_playwright, _ = _browser()
    (tmp_path / "index.html").write_text(FOREIGN_PAGE.format(target=f"http://127.0.0.1:{server}"))
    handler = type("Quiet", (SimpleHTTPRequestHandler,), {"log_message": lambda *a: None})
    foreign = ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: handler(*a, directory=str(tmp_path)))
    threading.Thread(target=foreign.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                with page.expect_navigation(url=f"http://127.0.0.1:{server}/api/tag", timeout=20000):
                    page.goto(f"http://127.0.0.1:{foreign.server_address[1]}/index.html")  # fetches, then the form
                assert "not accepted" in page.content()  # the form post was answered with the refusal
            finally:
                browser.close()
    finally:
        foreign.shutdown()
        foreign.server_close()
    assert not (project / "anime" / "0.json").exists(), (project / "anime" / "0.json").read_text()
