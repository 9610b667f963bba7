"""The labeling tool's local web server: JSON endpoints plus one HTML page (labeling_page.html).

ThreadingHTTPServer accepts the browser's parallel requests (frame, page, position) at once; one lock then
serialises the work on episodes, because the pims/PyAV readers keep decoder state (and the tool has a single user).

Security: the server writes tag files and reads any folder it is pointed at, so it answers only its own page.
- It listens on 127.0.0.1 only (loopback: no other machine can connect).
- The Host header must name the server itself (127.0.0.1, localhost or [::1] with its port): a page on another
  site whose DNS name is re-pointed at 127.0.0.1 (DNS rebinding) sends its own name and gets 403.
- An Origin header, when a browser sends one, must be the server's own origin, and `Sec-Fetch-Site` must not say
  cross-site: other sites' fetches and form posts get 403.
- Writes (POST) must carry `Content-Type: application/json`, which a browser cannot send cross-origin without a
  CORS preflight that this server never grants (415 otherwise); bodies are limited to MAX_BODY bytes (413).
- A malformed request (bad length, bad JSON, parameters of the wrong type) gets a 400 with a JSON error; no
  request makes the handler fail without an answer.
"""
from __future__ import annotations

import io
import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from PIL import Image

from datasets.image_io import ImageReadError
from datasets.manganime.episode import Episode, episode_names, load_episode
from datasets.manganime.errors import ManganimeError
from datasets.manganime.files import require_dir
from datasets.manganime.scene_cuts import CUT_MEASURE, CUT_THRESHOLD, SceneCuts, check_cut_settings
from datasets.manganime.tags import TagError

PAGE_HTML = Path(__file__).with_name("labeling_page.html")
LOOPBACK = "127.0.0.1"
LOCAL_NAMES = ("127.0.0.1", "localhost", "[::1]")  # what the Host header may say, with the server's port
MAX_BODY = 1 << 20  # bytes: the tool's requests are a few hundred
_IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}


class EpisodeSession:
    """An open episode plus its lazily computed scene cuts."""

    def __init__(self, episode: Episode, cut_threshold: float, cut_measure: str):
        self.episode = episode
        self.cuts = SceneCuts(episode.frames, cut_threshold, cut_measure)

    def describe(self) -> dict:
        e = self.episode
        return {"name": e.name, "frames": len(e.frames), "pages": len(e.pages), "fps": e.fps,
                "manga": e.config.manga, "first_page": e.first_page, "page_files": [p.name for p in e.pages],
                "tags": e.tags.tags, "tagged_pages": len(e.tags.tagged_pages()),
                "labelled_frames": e.tags.labelled_frames(), "tag_file": str(e.tags.path)}

    def check_frame(self, frame: int) -> int:
        if not 0 <= frame < len(self.episode.frames):
            raise ManganimeError(f"frame {frame} is outside 0..{len(self.episode.frames) - 1}")
        return frame

    def check_page(self, page: int) -> int:
        if not 0 <= page < len(self.episode.pages):
            raise ManganimeError(f"page {page} is outside 0..{len(self.episode.pages) - 1}")
        return page

    def position(self, frame: int) -> dict:
        """Where kept frame `frame` is: its video frame number, time, and the page it is labelled with."""
        self.check_frame(frame)
        raw = self.episode.frames.raw_index(frame)
        return {"frame": frame, "raw_frame": raw, "seconds": raw / self.episode.fps,
                "page": self.episode.tags.page_of(frame)}

    def chunk(self, frame: int, direction: str) -> dict:
        """The start of the next chunk, or of the current/previous one; stays put at either end."""
        self.check_frame(frame)
        walks = {"next": self.cuts.next_cut, "previous": self.cuts.previous_cut}
        if direction not in walks:
            raise ManganimeError(f"direction must be 'next' or 'previous', got {direction!r}")
        target = walks[direction](frame)
        fallback = {"next": frame, "previous": 0}[direction]
        return {"frame": fallback if target is None else target, "found": target is not None}

    def frame_png(self, frame: int) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(self.episode.frames[self.check_frame(frame)]).save(buffer, format="PNG")
        return buffer.getvalue()

    def page_file(self, page: int) -> Path:
        return self.episode.pages[self.check_page(page)]


class LabelingApp:
    """The server's state: the two data folders and the episodes opened so far."""

    def __init__(self, anime_path=None, manga_path=None, cut_threshold: float = CUT_THRESHOLD,
                 cut_measure: str = CUT_MEASURE):
        check_cut_settings(cut_threshold, cut_measure)
        self.cut_threshold, self.cut_measure = cut_threshold, cut_measure
        self.lock = threading.RLock()
        self.anime_path: Path | None = None
        self.manga_path: Path | None = None
        self.sessions: dict[str, EpisodeSession] = {}
        if anime_path is not None or manga_path is not None:
            self.set_paths(anime_path, manga_path)

    def set_paths(self, anime_path, manga_path) -> dict:
        """Point the tool at other folders (checked to exist); open episodes are dropped."""
        with self.lock:
            self.anime_path = require_dir(anime_path) if anime_path else None
            self.manga_path = require_dir(manga_path) if manga_path else None
            self.sessions.clear()
            return self.info()

    def info(self) -> dict:
        with self.lock:
            episodes = episode_names(self.anime_path) if self.anime_path else []
            return {"anime_path": str(self.anime_path or ""), "manga_path": str(self.manga_path or ""),
                    "episodes": episodes}

    def session(self, name: str) -> EpisodeSession:
        with self.lock:
            if not self.anime_path or not self.manga_path:
                raise ManganimeError("choose the anime and manga folders first")
            if name not in self.sessions:
                episode = load_episode(self.anime_path, self.manga_path, name)
                self.sessions[name] = EpisodeSession(episode, self.cut_threshold, self.cut_measure)
            return self.sessions[name]


# ---------------------------------------------------------------------------------------------------------
# HTTP

class _Reply(Exception):
    """Raised by a route to answer with an error status."""

    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status


def _int_arg(params: dict, key: str) -> int:
    try:
        value = params[key]
    except KeyError:
        raise _Reply(HTTPStatus.BAD_REQUEST, f"missing parameter {key!r}") from None
    if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
        raise _Reply(HTTPStatus.BAD_REQUEST, f"parameter {key!r} must be an integer")
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise _Reply(HTTPStatus.BAD_REQUEST, f"parameter {key!r} must be an integer") from None


def _str_arg(params: dict, key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value:
        raise _Reply(HTTPStatus.BAD_REQUEST, f"missing parameter {key!r}")
    return value


def _path_arg(params: dict, key: str) -> str | None:
    value = params.get(key)
    if value is not None and not isinstance(value, str):
        raise _Reply(HTTPStatus.BAD_REQUEST, f"parameter {key!r} must be a folder path (a string)")
    return value


# Each route: (method, path) -> function(app, params) returning a dict (JSON), or (bytes, content type).
def _route_page(app, params):
    return PAGE_HTML.read_bytes(), "text/html; charset=utf-8"


def _route_frame(app, params):
    session = app.session(_str_arg(params, "episode"))
    return session.frame_png(_int_arg(params, "index")), "image/png"


def _route_page_image(app, params):
    path = app.session(_str_arg(params, "episode")).page_file(_int_arg(params, "index"))
    return path.read_bytes(), _IMAGE_TYPES.get(path.suffix.lower(), "application/octet-stream")


def _route_tag(app, params):
    session = app.session(_str_arg(params, "episode"))
    frame, page = _int_arg(params, "frame"), _int_arg(params, "page")
    session.episode.tags.tag(page, frame)
    return {"episode": session.describe(), "message": f"page {page} ends at frame {frame}"}


def _route_undo(app, params):
    session = app.session(_str_arg(params, "episode"))
    page = session.episode.tags.undo()
    return {"episode": session.describe(), "message": f"undid the tag of page {page}", "page": page}


ROUTES = {
    ("GET", "/"): _route_page,
    ("GET", "/api/info"): lambda app, params: app.info(),
    ("POST", "/api/paths"): lambda app, params: app.set_paths(_path_arg(params, "anime_path"),
                                                              _path_arg(params, "manga_path")),
    ("GET", "/api/episode"): lambda app, params: app.session(_str_arg(params, "episode")).describe(),
    ("GET", "/api/position"): lambda app, params: app.session(_str_arg(params, "episode")).position(
        _int_arg(params, "frame")),
    ("GET", "/api/chunk"): lambda app, params: app.session(_str_arg(params, "episode")).chunk(
        _int_arg(params, "frame"), _str_arg(params, "direction")),
    ("GET", "/frame.png"): _route_frame,
    ("GET", "/page-image"): _route_page_image,
    ("POST", "/api/tag"): _route_tag,
    ("POST", "/api/undo"): _route_undo,
}


class LabelingHandler(BaseHTTPRequestHandler):
    """Dispatches requests through ROUTES; errors come back as JSON {"error": "..."}."""

    app: LabelingApp  # set on the subclass made by make_server
    server_version = "manganime-label/1"

    def do_GET(self):
        if not self._allowed():
            return
        url = urlparse(self.path)
        self._dispatch("GET", url.path, {k: v[-1] for k, v in parse_qs(url.query).items()})

    def do_POST(self):
        if not self._allowed():
            return
        url = urlparse(self.path)
        try:
            body = self._json_body()
        except _Reply as exc:
            self.close_connection = True  # the unread body (if any) must not be taken for the next request
            self._send_json(exc.status, {"error": str(exc)})
            return
        self._dispatch("POST", url.path, body)

    def _own_origins(self) -> set[str]:
        port = self.server.server_address[1]
        return {f"http://{name}:{port}" for name in LOCAL_NAMES}

    def _allowed(self) -> bool:
        """Host, Origin and Sec-Fetch-Site checks (module docstring); answers 403 and returns False if refused."""
        port = self.server.server_address[1]
        host = self.headers.get("Host")
        origin = self.headers.get("Origin")
        if host is not None and host.lower() not in {f"{name}:{port}" for name in LOCAL_NAMES}:
            reason = f"Host {host!r} is not this server (open http://{LOOPBACK}:{port}/)"
        elif origin is not None and origin.lower() not in self._own_origins():
            reason = f"requests from {origin!r} are not accepted"
        elif self.headers.get("Sec-Fetch-Site", "same-origin").lower() not in ("same-origin", "none"):
            reason = "cross-site requests are not accepted"
        else:
            return True
        self.close_connection = True
        self._send_json(HTTPStatus.FORBIDDEN, {"error": reason})
        return False

    def _json_body(self) -> dict:
        """The request's JSON object; _Reply (400/411/413/415) for anything else."""
        kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise _Reply(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"writes need Content-Type application/json, got "
                                                            f"{kind or 'none'}")
        text = self.headers.get("Content-Length")
        if text is None:
            raise _Reply(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required")
        try:
            length = int(text)
        except ValueError:
            raise _Reply(HTTPStatus.BAD_REQUEST, f"Content-Length {text!r} is not a number") from None
        if length < 0:
            raise _Reply(HTTPStatus.BAD_REQUEST, f"Content-Length {length} is negative")
        if length > MAX_BODY:
            raise _Reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"request body of {length} bytes exceeds {MAX_BODY}")
        raw = self.rfile.read(length)
        if len(raw) != length:
            raise _Reply(HTTPStatus.BAD_REQUEST, f"request body ended after {len(raw)} of {length} bytes")
        try:
            body = json.loads(raw or b"{}")
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise _Reply(HTTPStatus.BAD_REQUEST, f"bad request body ({type(exc).__name__}: "
                                                 f"{str(exc)[:100]})") from None
        if not isinstance(body, dict):
            raise _Reply(HTTPStatus.BAD_REQUEST, "bad request body (expected a JSON object)")
        return body

    def _dispatch(self, method: str, path: str, params: dict) -> None:
        route = ROUTES.get((method, path))
        if route is None:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint: {method} {path}"})
            return
        try:
            with self.app.lock:
                result = route(self.app, params)
        except _Reply as exc:
            self._send_json(exc.status, {"error": str(exc)})
        except TagError as exc:
            self._send_json(HTTPStatus.CONFLICT, {"error": str(exc)})
        except (ManganimeError, ImageReadError, OSError) as exc:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        except (TypeError, ValueError, OverflowError) as exc:  # parameters of the wrong type or size
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": f"bad parameter ({type(exc).__name__}: {exc})"})
        else:
            if isinstance(result, tuple):
                self._send(HTTPStatus.OK, *result)
            else:
                self._send_json(HTTPStatus.OK, result)

    def _send_json(self, status: HTTPStatus, data: dict) -> None:
        self._send(status, json.dumps(data).encode("utf-8"), "application/json")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")  # frames change meaning when exclude ranges change
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 (the base class's signature)
        pass  # one line per image request would drown the URL and the errors


def make_server(app: LabelingApp, port: int = 0) -> ThreadingHTTPServer:
    """A server for `app` on 127.0.0.1:`port` (0 picks a free port; read it from server.server_address). Loopback
    only, on purpose: see the module docstring."""
    handler = type("BoundLabelingHandler", (LabelingHandler,), {"app": app})
    try:
        server = ThreadingHTTPServer((LOOPBACK, port), handler)
    except OSError as exc:
        raise ManganimeError(f"cannot listen on {LOOPBACK}:{port} ({exc.strerror or exc})") from None
    server.daemon_threads = True
    return server
