"""What every `python mindspore_impl/<tool>.py` shares: repo-root import path and one-line error exits."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ensure_repo_on_path() -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def run_main(main, user_errors=()) -> None:
    """Run `main()`; expected user errors become `error: <one line>` and exit status 2."""
    from mindspore_impl.checkpoint_io import CheckpointError
    from mindspore_impl.config import ConfigError
    from mindspore_impl.registry import RegistryError

    try:
        sys.exit(main() or 0)
    except (ConfigError, RegistryError, CheckpointError, *user_errors) as e:
        print(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
