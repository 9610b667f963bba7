"""The labeling tool: `python datasets/manganime/label.py [--port 0]`, then open the printed URL.

It shows an anime frame beside a manga page; Tag pairs them (the page ends at that frame), which by the
monotonicity assumption labels every frame since the previous tag. Tags are saved to `<episode>.json` in
the anime folder after every change.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from datasets.manganime.config import resolve_data_paths  # noqa: E402
from datasets.manganime.errors import ManganimeError  # noqa: E402
from datasets.manganime.labeling_server import LabelingApp, make_server  # noqa: E402
from datasets.manganime.scene_cuts import CUT_MEASURE, CUT_THRESHOLD  # noqa: E402
from datasets.manganime.similarity import SIMILARITY_MEASURES  # noqa: E402
from runtime.argtypes import finite_float  # noqa: E402
from runtime.errors import run_main  # noqa: E402

DEFAULT_PORT = 8765


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="root config.json with anime_path and manga_path (default ./config.json)")
    parser.add_argument("--anime-path", help="preprocessed episode folder (overrides the config)")
    parser.add_argument("--manga-path", help="preprocessed manga root (overrides the config)")
    parser.add_argument("--cut-threshold", type=finite_float, default=CUT_THRESHOLD,
                        help=f"similarity below which a scene change is found (default {CUT_THRESHOLD})")
    parser.add_argument("--cut-measure", default=CUT_MEASURE, choices=sorted(SIMILARITY_MEASURES),
                        help="cosine (the study's, default) or centered (also sees cuts between similar colours)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0 picks a free one)")
    return parser


def main(argv=None) -> int:
    """Serve until Ctrl+C (a clean stop, status 0); bad paths or ports raise ManganimeError (through
    runtime.errors.run_main: one `error: ...` line, status 2)."""
    args = build_parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        raise ManganimeError(f"--port must be in 0..65535, got {args.port}")
    anime, manga = resolve_data_paths(args.anime_path, args.manga_path, args.config)
    server = make_server(LabelingApp(anime, manga, args.cut_threshold, args.cut_measure), args.port)
    host, port = server.server_address[:2]
    print(f"labeling tool at http://{host}:{port}/ (Ctrl+C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    run_main(main)
